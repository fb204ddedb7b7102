package process

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell starts a shell that ignores nothing and sleeps, owned by dir
// (its $0), like the servers local clusters run.
func startShell(t *testing.T, dir, script string) Record {
	t.Helper()
	rec, err := Start(Spec{
		Path:  "/bin/sh",
		Args:  []string{"-c", script, filepath.Join(dir, "marker")},
		Owner: dir,
		Log:   filepath.Join(dir, "out.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-rec.PID, syscall.SIGKILL) })
	return rec
}

func TestStartAndStop(t *testing.T) {
	dir := t.TempDir()
	rec := startShell(t, dir, "echo started; sleep 60; true")
	if !rec.Alive() {
		t.Fatal("process not alive right after start")
	}
	if pgid, _ := syscall.Getpgid(rec.PID); pgid != rec.PID {
		t.Errorf("process group %d, want its own (%d): not detached", pgid, rec.PID)
	}
	waitForLog(t, rec, "started")
	if err := rec.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rec.Alive() {
		t.Fatal("process alive after Stop")
	}
	if err := rec.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	rec := startShell(t, dir, `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	waitForLog(t, rec, "ready")
	start := time.Now()
	if err := rec.Stop(300 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if rec.Alive() {
		t.Fatal("process alive after Stop")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %s", took)
	}
}

func TestRecordOfAnotherProgramIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []Record{
		{PID: os.Getpid(), Path: "/bin/sh", Owner: dir}, // another program
		{PID: os.Getpid(), Path: self, Owner: dir},      // our program, not our directory
		{PID: 0, Path: "/bin/sh", Owner: dir},           // nothing recorded
		{PID: 1 << 30, Path: "/bin/sh", Owner: dir},     // no such PID
	} {
		if rec.Alive() {
			t.Errorf("%+v looks alive", rec)
		}
		if err := rec.Stop(time.Second); err != nil {
			t.Errorf("Stop(%+v): %v", rec, err)
		}
	}
}

func TestStartRefusesAnOwnerMissingFromArgs(t *testing.T) {
	_, err := Start(Spec{Path: "/bin/true", Owner: t.TempDir(), Log: filepath.Join(t.TempDir(), "log")})
	if err == nil {
		t.Fatal("Start succeeded, want an error")
	}
}

func TestAttachedRecordSeesExit(t *testing.T) {
	dir := t.TempDir()
	rec := startShell(t, dir, "exit 0")
	select {
	case <-rec.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("exit not seen")
	}
	if rec.Alive() {
		t.Error("exited process looks alive")
	}
}

func waitForLog(t *testing.T, rec Record, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(rec.LogTail(10), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not in log: %q", text, rec.LogTail(10))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFindSweepsUnrecordedProcesses(t *testing.T) {
	dir := t.TempDir()
	rec := startShell(t, dir, "sleep 60; true")
	isShell := func(argv []string) bool { return argv[0] == "/bin/sh" }
	// The shell may be caught between forking sleep and the child's exec,
	// when the child still runs /bin/sh with the same arguments: Find may
	// list it too, but must list the shell.
	found := Find(dir, isShell)
	i := slices.IndexFunc(found, func(r Record) bool { return r.PID == rec.PID })
	if i < 0 || len(found) > 2 {
		t.Fatalf("Find = %+v, want pid %d", found, rec.PID)
	}
	if got := Find(t.TempDir(), isShell); len(got) != 0 {
		t.Errorf("Find for another directory = %+v", got)
	}
	if err := found[i].Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rec.Alive() {
		t.Fatal("found process survived Stop")
	}
	// The shell's sleep went with its group.
	if !groupGone(rec.PID) {
		t.Error("process group not empty after Stop")
	}
}
