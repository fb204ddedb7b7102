// Package process starts long-running programs detached from the caller (so
// they outlive a CLI invocation) and stops them later from a recorded PID,
// checking first that the PID still belongs to the program that was started:
// PIDs are reused. It reads /proc, so it works on Linux only.
package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Record is what is kept about a started process to find it again.
type Record struct {
	PID int `json:"pid"`
	// Path is the program's executable, argv[0] of its command line.
	Path string `json:"path"`
	// Owner is a path that appears in the process's arguments: the directory
	// it works in. A PID whose command line lacks it is someone else's.
	Owner string `json:"owner"`
	// Log receives the process's stdout and stderr.
	Log     string    `json:"log"`
	Started time.Time `json:"started"`
}

// Spec describes a process to start.
type Spec struct {
	Path string
	Args []string
	// Owner must appear in Args (see Record.Owner).
	Owner string
	// Log is appended to, so that restarts keep the earlier output.
	Log string
	// Env is added to the caller's environment.
	Env []string
}

// children maps the PIDs this process started to a channel closed when the
// child has exited and been reaped. A child that is never waited for stays a
// zombie, and a zombie looks alive to kill(pid, 0).
var (
	childrenMu sync.Mutex
	children   = map[int]chan struct{}{}
)

// Start runs spec in a new session, so that it survives the caller and a
// Ctrl-C in the caller's terminal, with stdin from /dev/null and output to
// spec.Log.
func Start(spec Spec) (Record, error) {
	if !argsMention(spec.Args, spec.Owner) {
		return Record{}, fmt.Errorf("process %s: owner %q does not appear in its arguments", filepath.Base(spec.Path), spec.Owner)
	}
	logFile, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Record{}, err
	}
	defer logFile.Close() // the child has its own copy

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Record{}, fmt.Errorf("starting %s: %w", spec.Path, err)
	}
	done := make(chan struct{})
	childrenMu.Lock()
	children[cmd.Process.Pid] = done
	childrenMu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	rec := Record{
		PID:     cmd.Process.Pid,
		Path:    spec.Path,
		Owner:   spec.Owner,
		Log:     spec.Log,
		Started: time.Now(),
	}
	rec.awaitExec(done)
	return rec, nil
}

// execSettleTimeout bounds how long Start waits for the child's /proc entry
// to show the program it exec'd.
const execSettleTimeout = 2 * time.Second

// awaitExec waits until /proc shows the recorded program, or the child
// exits. cmd.Start returns once the kernel has closed the child's
// close-on-exec descriptors, which happens before the new program's
// arguments are in place: read at once, /proc/PID/cmdline can still be
// empty, and Alive would call a process that is starting dead.
func (r Record) awaitExec(done <-chan struct{}) {
	deadline := time.Now().Add(execSettleTimeout)
	for !r.owned() && time.Now().Before(deadline) {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// Alive reports whether the recorded process is still running, and still is
// the process that was recorded.
func (r Record) Alive() bool {
	if r.PID <= 0 {
		return false
	}
	if done, ok := childDone(r.PID); ok {
		select {
		case <-done:
			return false
		default:
		}
	}
	return r.owned()
}

// Exited returns a channel closed when a process started by this process
// exits, or nil for a process started by another one.
func (r Record) Exited() <-chan struct{} {
	if done, ok := childDone(r.PID); ok {
		return done
	}
	return nil
}

// Stop ends the process: SIGTERM, then SIGKILL if it is still running after
// grace. It does nothing if the process is gone or the PID now belongs to
// another program.
func (r Record) Stop(grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	// Setsid made the process a group leader: signal the group so that
	// anything it started goes too.
	if err := syscall.Kill(-r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", filepath.Base(r.Path), r.PID, err)
	}
	if r.wait(grace) {
		return nil
	}
	if err := syscall.Kill(-r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", filepath.Base(r.Path), r.PID, err)
	}
	if r.wait(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) still running after SIGKILL", filepath.Base(r.Path), r.PID)
}

// LogTail returns the last lines of the process's log, for error messages.
func (r Record) LogTail(lines int) string {
	data, err := os.ReadFile(r.Log)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// wait waits until the process and everything else in its group is gone.
func (r Record) wait(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !r.Alive() && groupGone(r.PID) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// owned reads /proc to check that PID runs Path with Owner in its arguments
// and is not a zombie.
func (r Record) owned() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.PID))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID))
	if err != nil || len(cmdline) == 0 {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	return args[0] == r.Path && argsMention(args[1:], r.Owner)
}

// groupGone reports whether no process is left in process group pgid.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// Find lists the running processes whose arguments mention owner and whose
// command line match accepts, as Records that Stop can end: a sweep for
// processes a crash left unrecorded.
func Find(owner string, match func(argv []string) bool) []Record {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []Record
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if !argsMention(argv[1:], owner) || !match(argv) {
			continue
		}
		r := Record{PID: pid, Path: argv[0], Owner: owner}
		if r.owned() {
			found = append(found, r)
		}
	}
	return found
}

func argsMention(args []string, owner string) bool {
	if owner == "" {
		return false
	}
	owner = filepath.Clean(owner)
	for _, a := range args {
		if a == owner || strings.Contains(a, owner+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func childDone(pid int) (chan struct{}, bool) {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	done, ok := children[pid]
	return done, ok
}
