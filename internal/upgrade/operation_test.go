package upgrade

import (
	"os"
	"strings"
	"testing"
	"time"
)

func waitDone(t *testing.T, ops Operations, id string) OperationState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := ops.State(id)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("operation %s still running after 10s", id)
	return OperationState{}
}

func TestOperationRecordsOutcome(t *testing.T) {
	ops := Operations{Dir: t.TempDir()}
	if st, _ := ops.State("never"); st.Started {
		t.Fatal("an operation that was never started reports Started")
	}
	if err := ops.Start("ok", "", []string{"sh", "-c", `echo "upgrading $MEMBER"`}, []string{"MEMBER=dev-1"}); err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, ops, "ok")
	if !st.Succeeded() || !strings.Contains(st.Output, "upgrading dev-1") {
		t.Fatalf("state = %+v, want success with the command's output", st)
	}

	if err := ops.Start("fail", "", []string{"sh", "-c", "echo boom; exit 3"}, nil); err != nil {
		t.Fatal(err)
	}
	st = waitDone(t, ops, "fail")
	if st.Succeeded() || st.ExitCode != 3 || st.Output != "boom" {
		t.Fatalf("state = %+v, want exit 3 with output boom", st)
	}
}

func TestOperationStartsOnce(t *testing.T) {
	dir := t.TempDir()
	ops := Operations{Dir: dir}
	counter := dir + "/count"
	cmd := []string{"sh", "-c", "echo x >> " + counter + "; sleep 0.3"}
	if err := ops.Start("op", "", cmd, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := ops.State("op"); !st.Running {
		t.Fatalf("state = %+v, want running", st)
	}
	// A second Start, as after a hub restart, must not run the command again.
	if err := (Operations{Dir: dir}).Start("op", "", cmd, nil); err != nil {
		t.Fatal(err)
	}
	waitDone(t, ops, "op")
	if err := ops.Start("op", "", cmd, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(readFile(t, counter), "x"); got != 1 {
		t.Fatalf("command ran %d times, want once", got)
	}
	if err := ops.Forget("op"); err != nil {
		t.Fatal(err)
	}
	if st, _ := ops.State("op"); st.Started {
		t.Fatal("a forgotten operation still reports Started")
	}
}

func TestOperationCancel(t *testing.T) {
	ops := Operations{Dir: t.TempDir()}
	if err := ops.Start("slow", "", []string{"sleep", "30"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ops.Cancel("slow"); err != nil {
		t.Fatal(err)
	}
	if st := waitDone(t, ops, "slow"); st.Succeeded() {
		t.Fatalf("cancelled operation reports success: %+v", st)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOperationOutputIsCappedOnDisk(t *testing.T) {
	ops := Operations{Dir: t.TempDir()}
	// 2 MiB of output, then a last line that says why.
	if err := ops.Start("loud", "", []string{"sh", "-c", "head -c 2097152 /dev/zero | tr '\\0' x; echo; echo the reason"}, nil); err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, ops, "loud")
	if !strings.HasSuffix(st.Output, "the reason") {
		t.Fatalf("output tail %q, want the last line", st.Output[max(0, len(st.Output)-40):])
	}
	info, err := os.Stat(ops.dir("loud") + "/output")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > maxOutputFile {
		t.Errorf("output file is %d bytes after State, want at most %d", info.Size(), maxOutputFile)
	}
}
