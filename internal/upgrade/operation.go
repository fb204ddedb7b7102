package upgrade

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-dev/flotilla/internal/hubexec"
)

// Operations runs upgrade commands as detached processes whose outcome is
// kept on disk, so that a hub restart finds an operation it started still
// running (or finished) instead of starting it a second time.
type Operations struct {
	// Dir holds one sub-directory per operation.
	Dir string
}

// OperationState is what is known of an operation.
type OperationState struct {
	// Started is false when no operation with this ID was ever started.
	Started bool
	// Running is true while the command has not exited.
	Running bool
	// ExitCode is the command's exit code once it has exited.
	ExitCode int
	// StartedAt is when the operation was started.
	StartedAt time.Time
	// Output is the tail of the command's combined output.
	Output string
}

// Succeeded reports whether the command exited 0.
func (s OperationState) Succeeded() bool { return s.Started && !s.Running && s.ExitCode == 0 }

func (o Operations) dir(id string) string { return filepath.Join(o.Dir, id) }

// Start runs command under id, in the working directory workDir with env
// as its whole environment, unless an operation with that id was started
// before, in which case it does nothing.
func (o Operations) Start(id, workDir string, command []string, env []string) error {
	if len(command) == 0 {
		return errors.New("empty command")
	}
	dir := o.dir(id)
	if _, err := os.Stat(filepath.Join(dir, "pid")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The shell records the exit code after the command ends, even when the
	// hub that started it is gone by then.
	// Output is appended, so that State can cut the file short under it.
	script := `"$@" >>"$FLOTILLA_OP_DIR/output" 2>&1; echo $? >"$FLOTILLA_OP_DIR/exit.tmp"; mv "$FLOTILLA_OP_DIR/exit.tmp" "$FLOTILLA_OP_DIR/exit"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "flotilla-upgrade"}, command...)...)
	cmd.Env = append(slices.Clip(env), "FLOTILLA_OP_DIR="+dir)
	cmd.Dir = workDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", command[0], err)
	}
	pid := cmd.Process.Pid
	// Reap the child if this process outlives it; otherwise init does.
	go func() { _ = cmd.Wait() }()
	started := strconv.Itoa(pid) + " " + time.Now().UTC().Format(time.RFC3339Nano)
	return os.WriteFile(filepath.Join(dir, "pid"), []byte(started), 0o600)
}

// State reads an operation's state from disk and the process table.
func (o Operations) State(id string) (OperationState, error) {
	dir := o.dir(id)
	raw, err := os.ReadFile(filepath.Join(dir, "pid"))
	if errors.Is(err, os.ErrNotExist) {
		return OperationState{}, nil
	}
	if err != nil {
		return OperationState{}, err
	}
	st := OperationState{Started: true}
	pidText, startedText, _ := strings.Cut(strings.TrimSpace(string(raw)), " ")
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, startedText)
	capOutput(filepath.Join(dir, "output"), maxOutputFile, hubexec.OutputLimit)
	st.Output = tail(filepath.Join(dir, "output"), 2048)
	if exit, err := os.ReadFile(filepath.Join(dir, "exit")); err == nil {
		st.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(exit)))
		if err != nil {
			return st, fmt.Errorf("operation %s: bad exit code %q", id, exit)
		}
		return st, nil
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return st, fmt.Errorf("operation %s: bad pid %q", id, pidText)
	}
	if processAlive(pid) {
		st.Running = true
		return st, nil
	}
	// Gone without recording an exit code: killed, or the machine restarted.
	st.ExitCode = -1
	st.Output = strings.TrimSpace(st.Output + "\n(the upgrade process ended without reporting an exit code)")
	return st, nil
}

// Cancel stops a running operation's process group.
func (o Operations) Cancel(id string) error {
	raw, err := os.ReadFile(filepath.Join(o.dir(id), "pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // never started: nothing to stop
	}
	if err != nil {
		return err
	}
	pidText, _, _ := strings.Cut(string(raw), " ")
	if pid, err := strconv.Atoi(pidText); err == nil && processAlive(pid) {
		return syscall.Kill(-pid, syscall.SIGTERM)
	}
	return nil
}

// Forget removes an operation's record and working directory, so that the
// same id can run again.
func (o Operations) Forget(id string) error {
	return errors.Join(os.RemoveAll(o.dir(id)), os.RemoveAll(o.dir(id)+".env"))
}

func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie has exited; its parent just has not reaped it yet.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// maxOutputFile is how large an operation's output file may grow before
// State cuts it to its last bytes.
const maxOutputFile = 1 << 20

// capOutput cuts the file at path to its last keep bytes once it is larger
// than limit. The command appends, so it writes on at the new end; what it
// writes while the file is cut may be lost, which is what a cap is for.
func capOutput(path string, limit, keep int64) {
	info, err := os.Stat(path)
	if err != nil || info.Size() <= limit {
		return
	}
	last := tail(path, keep)
	_ = os.WriteFile(path, []byte("(earlier output dropped)\n"+last+"\n"), 0o600)
}

// tail is the last limit bytes of the file at path, or "" when it cannot be read.
func tail(path string, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(info.Size()-limit, 0)
	buf := make([]byte, info.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	return strings.TrimSpace(string(buf))
}
