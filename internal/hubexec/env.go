package hubexec

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// defaultPath is PATH for a program when the hub has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// Env is the whole environment of a program the hub runs: the hub's PATH,
// HOME and TMPDIR in the program's own directory dir, then vars
// ("NAME=value"). Nothing else of the hub's environment is passed on: it
// may hold the hub's own credentials and settings.
func Env(dir string, vars ...string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	return append([]string{"PATH=" + path, "HOME=" + dir, "TMPDIR=" + dir}, vars...)
}

// OutputLimit is how many bytes of a program's output the hub keeps: the
// last ones, where a failing program says why.
const OutputLimit = 64 << 10

// Tail is an io.Writer that keeps the last Limit bytes written to it (all
// of them when Limit is 0 or less). It is safe for the concurrent writes of
// a program's stdout and stderr.
type Tail struct {
	Limit int

	mu      sync.Mutex
	buf     []byte
	dropped int64
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.Limit; t.Limit > 0 && over > 0 {
		t.dropped += int64(over)
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is what was kept, after a note of how much was dropped.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := string(bytes.TrimSpace(t.buf))
	if t.dropped > 0 {
		out = "(" + strconv.FormatInt(t.dropped, 10) + " earlier bytes of output dropped)\n" + out
	}
	return out
}
