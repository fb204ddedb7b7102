package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubaccess"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// failoverFleet is two stages of two members: an after-stage wait between
// them, and a member health check that takes a while.
const failoverFleet = `
hub: {kubernetesVersion: "1.37"}
members:
- {name: m-1, kubernetesVersion: "1.36", updateGroup: a}
- {name: m-2, kubernetesVersion: "1.36", updateGroup: a}
- {name: m-3, kubernetesVersion: "1.36", updateGroup: b}
- {name: m-4, kubernetesVersion: "1.36", updateGroup: b}
`

var failoverMembers = []string{"m-1", "m-2", "m-3", "m-4"}

const (
	failoverRun = "failover"
	// afterStageWait is stage one's wait, shorter than any lease so that it
	// runs out while no hub leads.
	afterStageWait = 4 * time.Second
	// inFlightGrace: a status change seen this soon after the leader's
	// SIGKILL is a request of the dead leader's still in flight; no replica
	// can hold the lease so soon after (the shortest lease here is 6 s).
	inFlightGrace = time.Second
)

// failoverPoint is where in a run the hub leader is killed.
type failoverPoint struct {
	name string
	// lease, renew and retry tune leader election; zero keeps the hub's
	// defaults (15 s, 10 s, 2 s).
	lease, renew, retry time.Duration
	// reached reports whether the run is at the point to kill the leader.
	reached func(p pointState) bool
	// hold is how long to wait there before the kill.
	hold time.Duration
}

// pointState is what a failoverPoint looks at.
type pointState struct {
	run       fleetv1.UpdateRun
	leader    *hubReplica
	checksLog string
}

// failoverPoints: the headline figure (leader killed → run moving again)
// is measured with the hub's default leader-election timings while a member
// upgrades. The other points use a 6 s lease (renew deadline 4 s, retry
// 1 s: the defaults' proportions) so that the whole test stays near four
// minutes; what they test does not depend on the lease's length.
var failoverPoints = []failoverPoint{
	{
		name: "member upgrading",
		reached: func(p pointState) bool {
			m := p.run.Status.MemberProgress("m-2")
			// Killed once the upgrade command has begun changing the member.
			return m.State == fleetv1.StateRunning && m.HealthChecks == nil && m.Operation != nil &&
				upgradeOutputStarted(p.leader.stateDir, "m-2")
		},
	},
	{
		name:  "during a health check",
		lease: 6 * time.Second, renew: 4 * time.Second, retry: time.Second,
		reached: func(p pointState) bool {
			m := p.run.Status.MemberProgress("m-2")
			return m.HealthChecks != nil && m.HealthChecks.State == fleetv1.StateRunning &&
				slices.Contains(checkRuns(p.checksLog)["m-2"], p.leader.pid())
		},
	},
	{
		name:  "during an after-stage wait",
		lease: 6 * time.Second, renew: 4 * time.Second, retry: time.Second,
		reached: func(p pointState) bool {
			w := stageProgress(p.run, "one").AfterStageWait
			return w != nil && w.State == fleetv1.StateRunning
		},
		hold: time.Second,
	},
	{
		name:  "right after a status write",
		lease: 6 * time.Second, renew: 4 * time.Second, retry: time.Second,
		// Killed as soon as the status says m-3 is Running: the leader wrote
		// it and is about to start, or has just started, its upgrade.
		reached: func(p pointState) bool {
			m := p.run.Status.MemberProgress("m-3")
			return m.State == fleetv1.StateRunning
		},
	},
}

// failoverFigures is one line of the test's table.
type failoverFigures struct {
	point    string
	lease    string
	acquired time.Duration // kill → the survivor holds the lease
	moved    time.Duration // kill → the run's status changes again
	what     string        // what changed first
	attempts string
	total    time.Duration // kill → run Completed
}

// TestHubFailover runs two `flotilla hub` replicas with leader election
// against one local hub, each with its own empty state directory, and kills
// the leader as a node failure kills a pod (SIGKILL of the hub, its health
// checks and the upgrade commands it started) at several points of a run.
// The other replica must take over, finish the run, never upgrade a member
// twice at once nor a completed member again, and leave a status that tells
// what happened.
func TestHubFailover(t *testing.T) {
	start := time.Now()
	var figures []failoverFigures
	for _, point := range failoverPoints {
		t.Run(strings.ReplaceAll(point.name, " ", "_"), func(t *testing.T) {
			figures = append(figures, failOverAt(t, point))
		})
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-28s %-14s %9s %9s %9s  %-40s %s\n", "injection point", "lease", "acquired", "moved", "done", "first change after the kill", "attempts")
	for _, f := range figures {
		fmt.Fprintf(&table, "%-28s %-14s %8.1fs %8.1fs %8.1fs  %-40s %s\n", f.point, f.lease,
			f.acquired.Seconds(), f.moved.Seconds(), f.total.Seconds(), f.what, f.attempts)
	}
	t.Logf("hub failover, times from the leader's SIGKILL:\n%s", table.String())
	t.Logf("wall time: %s", time.Since(start).Round(time.Second))
}

func failOverAt(t *testing.T, point failoverPoint) failoverFigures {
	f := upFleet(t, failoverFleet)
	f.waitHealthy(failoverMembers...)
	// The fleet's own manager runs without leader election; the replicas
	// below replace it.
	if err := syscall.Kill(f.localStatus().HubManager.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checksLog := filepath.Join(t.TempDir(), "checks.log")
	replicas := []*hubReplica{startReplica(t, f, "hub-a", point), startReplica(t, f, "hub-b", point)}
	leader, survivor := waitLeader(t, replicas)

	hub, err := hubClient(f)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordRun(t, hub, failoverRun)
	stages := writeFile(t, "stages.json", fmt.Sprintf(`{"stages": [
	  {"name": "one", "groups": [{"name": "a"}], "afterStageWaitInSeconds": %d},
	  {"name": "two", "groups": [{"name": "b"}]}
	], "healthChecks": [{"name": "settle", "type": "Command", "timeoutSeconds": 60,
	  "command": ["sh", "-c", "echo \"$PPID $FLOTILLA_MEMBER\" >> %s; sleep 2"]}]}`, int(afterStageWait.Seconds()), checksLog))
	f.must("updaterun", "create", "-n", failoverRun, "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--stages", "@"+stages, "--start")

	rec.waitFor(t, 2*time.Minute, point.name, func(run fleetv1.UpdateRun) bool {
		return point.reached(pointState{run: run, leader: leader, checksLog: checksLog})
	})
	time.Sleep(point.hold)
	if !leader.running() {
		t.Fatalf("leader %s exited before the kill", leader.instance)
	}
	// The lease holder's identity is the host name and a random UUID, not
	// the instance name; the log told which process leads, and the status
	// confirms it: the leader started the first member.
	first := rec.latest().run
	if m := first.Status.MemberProgress("m-1"); m.Operation == nil || m.Operation.HubInstance != leader.instance {
		t.Fatalf("the log says %s leads, but m-1's upgrade is %+v", leader.instance, m.Operation)
	}

	kill := leader.killPod(t)
	acquired := survivor.waitLog(t, time.Minute, leaseAcquired).Sub(kill.at)
	time.Sleep(time.Until(kill.at.Add(inFlightGrace)))
	atKill := rec.lastBefore(kill.at.Add(inFlightGrace))
	moved := rec.nextAfter(t, time.Minute, "the run moving again after the kill", atKill)
	done := rec.waitFor(t, 3*time.Minute, "the run finished after the failover", func(run fleetv1.UpdateRun) bool {
		s := run.Status.State
		return s == fleetv1.StateCompleted || s == fleetv1.StateFailed || s == fleetv1.StateStopped
	})
	if done.run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("run %s after the failover: %s", done.run.Status.State, done.run.Status.Message)
	}

	attempts := checkFailover(t, f, atKill.run, done.run, leader, survivor, kill, checksLog)
	if point.name == "during an after-stage wait" {
		checkWaitHonoured(t, atKill.run, done.run)
	}
	lease := point.lease
	if lease == 0 {
		lease = 15 * time.Second
	}
	// A standby takes the lease once it has seen no renewal for a lease
	// duration; it polls every retry period.
	if limit := lease + 5*time.Second; acquired > limit {
		t.Errorf("the survivor took the lease %s after the kill, want within %s", acquired.Round(100*time.Millisecond), limit)
	}
	// Once it leads, the survivor resumes at once, not at a resync: within
	// the 2 s health check a resumed check takes, and some slack.
	if resumed := moved.at.Sub(kill.at) - acquired; resumed > 5*time.Second {
		t.Errorf("the run moved %s after the survivor took the lease, want within 5s", resumed.Round(100*time.Millisecond))
	}
	leaseText := "default 15s"
	if point.lease != 0 {
		leaseText = point.lease.String()
	}
	return failoverFigures{
		point: point.name, lease: leaseText,
		acquired: acquired, moved: moved.at.Sub(kill.at), total: done.at.Sub(kill.at),
		what: firstChange(atKill.run, moved.run), attempts: attempts,
	}
}

// checkFailover checks the run's outcome against what the two replicas did:
// attempts counted from their operations, no overlap between attempts at a
// member, the status's record of each attempt, the health checks re-run,
// the members' versions. It returns the attempts per member.
func checkFailover(t *testing.T, f *fleet, atKill, done fleetv1.UpdateRun, leader, survivor *hubReplica, kill podKill, checksLog string) string {
	t.Helper()
	ops := append(readUpgradeOps(t, leader), readUpgradeOps(t, survivor)...)
	byMember := map[string][]upgradeOp{}
	for _, op := range ops {
		byMember[op.member] = append(byMember[op.member], op)
	}
	checks := checkRuns(checksLog)
	var counts []string
	for _, name := range failoverMembers {
		before := atKill.Status.MemberProgress(name)
		after := done.Status.MemberProgress(name)
		mine := byMember[name]
		counts = append(counts, fmt.Sprintf("%s:%d", name, len(mine)))
		if after.State != fleetv1.StateCompleted {
			t.Errorf("%s is %s: %s", name, after.State, after.Message)
			continue
		}
		if after.Operation == nil {
			t.Errorf("%s completed without a recorded operation", name)
			continue
		}
		// What the replicas must have done with the member.
		wantAttempt, wantBy, maxOps, wantChecks := int32(1), survivor, 1, 1
		switch {
		case before.State == fleetv1.StateCompleted:
			wantBy = leader // never upgraded again
		case before.State == fleetv1.StateRunning && before.HealthChecks != nil:
			// Upgraded; its checks died with the leader, whose result lived
			// only in its memory: the survivor must run them again, once.
			wantBy, wantChecks = leader, 2
			if !slices.Contains(checks[name], survivor.pid()) {
				t.Errorf("%s's health checks were running in the dead leader and were not run again by %s (runs by hub pid: %v)", name, survivor.instance, checks[name])
			}
		case before.State == fleetv1.StateRunning:
			// Interrupted: the Local provider is safe to re-run. The dead
			// leader may not have started its attempt at all.
			wantAttempt, maxOps = 2, 2
		}
		if after.Operation.Attempt != wantAttempt || after.Operation.HubInstance != wantBy.instance {
			t.Errorf("%s: the status records attempt %d by %s, want attempt %d by %s (at the kill: %s %+v)",
				name, after.Operation.Attempt, after.Operation.HubInstance, wantAttempt, wantBy.instance, before.State, before.Operation)
		}
		if len(mine) < 1 || len(mine) > maxOps {
			t.Errorf("%s: %d upgrade operations in the replicas' state dirs, want 1 to %d: %v", name, len(mine), maxOps, mine)
		}
		// The attempt the status names is the one that ran, where it says.
		id := failoverOperationID(name, after)
		found := false
		for _, op := range mine {
			if op.id == id && op.instance == after.Operation.HubInstance {
				found = true
				if op.exitCode != 0 {
					t.Errorf("%s: the recorded attempt %s exited %d", name, id, op.exitCode)
				}
			}
		}
		if !found {
			t.Errorf("%s: the status names operation %s by %s, which neither replica ran: %v", name, id, after.Operation.HubInstance, mine)
		}
		checkNoOverlap(t, name, mine, kill)
		if len(checks[name]) != wantChecks {
			t.Errorf("%s: its health check ran %d times (by hub pids %v), want %d", name, len(checks[name]), checks[name], wantChecks)
		}
	}
	f.eventually(30*time.Second, "every member on v1.37.2", func() (bool, string) {
		for _, name := range failoverMembers {
			if row := f.status()[name]; row.Version != "v1.37.2" {
				return false, fmt.Sprintf("%s on %s", name, row.Version)
			}
		}
		return true, ""
	})
	return strings.Join(counts, " ")
}

// checkNoOverlap fails if one of a member's upgrade operations started
// before the previous one ended. An operation of the dead leader's that
// recorded no exit ended when its process group was gone.
func checkNoOverlap(t *testing.T, member string, ops []upgradeOp, kill podKill) {
	t.Helper()
	sort.Slice(ops, func(i, j int) bool { return ops[i].started.Before(ops[j].started) })
	for i := 1; i < len(ops); i++ {
		prev, next := ops[i-1], ops[i]
		end := prev.ended
		if end.IsZero() {
			end = kill.gone
		}
		if next.started.Before(end) {
			t.Errorf("%s: %s by %s started at %s, before %s by %s ended at %s",
				member, next.id, next.instance, next.started.Format(time.StampMilli), prev.id, prev.instance, end.Format(time.StampMilli))
		}
	}
}

// checkWaitHonoured checks that the replica that took over kept the wait
// the dead leader began: the same start, and its full length.
func checkWaitHonoured(t *testing.T, atKill, done fleetv1.UpdateRun) {
	t.Helper()
	before, after := stageProgress(atKill, "one").AfterStageWait, stageProgress(done, "one").AfterStageWait
	if before == nil || after == nil || before.StartTime == nil || after.StartTime == nil || after.CompletedTime == nil {
		t.Fatalf("stage one's wait: %+v at the kill, %+v at the end", before, after)
	}
	if !after.StartTime.Equal(before.StartTime) {
		t.Errorf("the wait was restarted: it began at %s, then at %s", before.StartTime, after.StartTime)
	}
	if got := after.CompletedTime.Sub(after.StartTime.Time); got < afterStageWait {
		t.Errorf("the wait lasted %s, want at least %s", got, afterStageWait)
	}
	if two := stageProgress(done, "two"); two.StartTime == nil || two.StartTime.Before(after.CompletedTime) {
		t.Errorf("stage two started at %v, before the wait ended at %v", two.StartTime, after.CompletedTime)
	}
}

// failoverOperationID is the ID the hub gives a member's attempt (see
// operationID in the update-run controller): the run, the member, the
// attempt's start and, after the first, its number.
func failoverOperationID(member string, p fleetv1.MemberProgress) string {
	id := fmt.Sprintf("%s_%s-%d", failoverRun, member, p.StartTime.Unix())
	if p.Operation.Attempt > 1 {
		id += fmt.Sprintf("-a%d", p.Operation.Attempt)
	}
	return id
}

// firstChange names the first difference between two versions of a run.
func firstChange(before, after fleetv1.UpdateRun) string {
	b, a := progressSummary(before), progressSummary(after)
	for _, item := range a {
		if prev := lookupSummary(b, item.path); prev != item.summary {
			return fmt.Sprintf("%s: %s → %s", item.path, prev, item.summary)
		}
	}
	return "messages only"
}

type summaryItem struct{ path, summary string }

// progressSummary lists the run's parts with their state, the members'
// attempts and checks, in status order.
func progressSummary(run fleetv1.UpdateRun) []summaryItem {
	var out []summaryItem
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				s := string(orState(m.State))
				if m.Operation != nil {
					s += fmt.Sprintf(" #%d by %s", m.Operation.Attempt, m.Operation.HubInstance)
				}
				if m.HealthChecks != nil {
					s += ", checks " + string(orState(m.HealthChecks.State))
				}
				out = append(out, summaryItem{m.Name, s})
			}
		}
		if w := st.AfterStageWait; w != nil {
			out = append(out, summaryItem{st.Name + " wait", string(orState(w.State))})
		}
		out = append(out, summaryItem{"stage " + st.Name, string(orState(st.State))})
	}
	return out
}

func lookupSummary(items []summaryItem, path string) string {
	for _, it := range items {
		if it.path == path {
			return it.summary
		}
	}
	return "-"
}

func orState(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

// leaseAcquired is what controller-runtime logs when a replica becomes the
// leader; a standby logs only that it is attempting to.
const leaseAcquired = "Successfully acquired lease"

// hubReplica is one `flotilla hub` process, as one pod of a Deployment.
type hubReplica struct {
	instance string
	stateDir string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
}

func startReplica(t *testing.T, f *fleet, instance string, point failoverPoint) *hubReplica {
	t.Helper()
	r := &hubReplica{instance: instance, stateDir: t.TempDir(), logPath: filepath.Join(t.TempDir(), instance+".log"), exited: make(chan struct{})}
	args := []string{"hub", "--kubeconfig", f.dir("hub.kubeconfig"), "--state-dir", r.stateDir, "--instance", instance,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--leader-elect", "--allow-exec"}
	if point.lease != 0 {
		args = append(args, "--leader-elect-lease-duration", point.lease.String(),
			"--leader-elect-renew-deadline", point.renew.String(), "--leader-elect-retry-period", point.retry.String())
	}
	logFile, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	r.cmd = exec.Command(flotilla, args...)
	r.cmd.Env = f.env
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	// Its own process group, like a pod's processes: the kill takes the
	// health-check commands it runs along. (Its upgrade commands run in
	// sessions of their own; killPod finds them.)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			r.dumpLog(t)
		}
		_ = syscall.Kill(-r.pid(), syscall.SIGKILL)
		<-r.exited
		for _, g := range upgradeGroups(t, r.stateDir) {
			_ = syscall.Kill(-g, syscall.SIGKILL)
		}
	})
	return r
}

func (r *hubReplica) pid() int { return r.cmd.Process.Pid }

func (r *hubReplica) running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

func (r *hubReplica) leading() bool {
	data, _ := os.ReadFile(r.logPath)
	return bytes.Contains(data, []byte(leaseAcquired))
}

// waitLog waits until the replica's log says what, and returns when it saw it.
func (r *hubReplica) waitLog(t *testing.T, timeout time.Duration, what string) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(r.logPath)
		if bytes.Contains(data, []byte(what)) {
			return time.Now()
		}
		if !r.running() {
			t.Fatalf("%s exited before logging %q", r.instance, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s", r.instance, what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *hubReplica) dumpLog(t *testing.T) {
	data, err := os.ReadFile(r.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("last lines of %s's log (pid %d):\n%s", r.instance, r.pid(), strings.Join(lines, "\n"))
	ops, _ := filepath.Glob(filepath.Join(r.stateDir, "operations", "*"))
	t.Logf("%s's operations: %v", r.instance, ops)
}

// waitLeader waits until exactly one replica leads.
func waitLeader(t *testing.T, replicas []*hubReplica) (leader, standby *hubReplica) {
	t.Helper()
	check := func() error {
		var leading []*hubReplica
		for _, r := range replicas {
			if !r.running() {
				t.Fatalf("%s exited at start", r.instance)
			}
			if r.leading() {
				leading = append(leading, r)
			}
		}
		if len(leading) != 1 {
			return fmt.Errorf("%d replicas lead", len(leading))
		}
		leader = leading[0]
		return nil
	}
	testenv.Eventually(t, time.Minute, "one hub replica leading", check)
	for _, r := range replicas {
		if r != leader {
			standby = r
		}
	}
	return leader, standby
}

// podKill is when a replica was killed and when all it ran was gone.
type podKill struct {
	at, gone time.Time
}

// killPod kills the replica as a node failure kills its pod: SIGKILL to
// its process group (the hub and its health-check commands) and to the
// upgrade commands it started, which run detached in sessions of their own
// and would otherwise go on beside the new leader's re-run. It returns
// once every one of those processes is gone.
func (r *hubReplica) killPod(t *testing.T) podKill {
	t.Helper()
	k := podKill{at: time.Now()}
	if err := syscall.Kill(-r.pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", r.instance, err)
	}
	groups := append(upgradeGroups(t, r.stateDir), r.pid())
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	<-r.exited
	testenv.Eventually(t, 10*time.Second, "the killed replica's processes gone", func() error {
		for _, g := range groups {
			if processGroupAlive(g) {
				return fmt.Errorf("process group %d is still running", g)
			}
		}
		return nil
	})
	k.gone = time.Now()
	t.Logf("killed %s (pid %d) and the process groups of its %d upgrade command(s) at %s", r.instance, r.pid(), len(groups)-1, k.at.Format(time.StampMilli))
	return k
}

// upgradeGroups lists the process groups of the upgrade commands a replica
// started: those its operations' pid files name, and any wrapper shell it
// started but died before recording (found by its operation directory in
// its environment). Each wrapper leads a session, so its group is its PID.
func upgradeGroups(t *testing.T, stateDir string) []int {
	t.Helper()
	opsDir := filepath.Join(stateDir, "operations") + string(filepath.Separator)
	seen := map[int]bool{}
	pidFiles, _ := filepath.Glob(filepath.Join(opsDir, "*", "pid"))
	for _, path := range pidFiles {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(raw), &pid); err == nil && pid > 0 {
			seen[pid] = true
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		argv := strings.Split(string(cmdline), "\x00")
		if len(argv) < 4 || argv[0] != "/bin/sh" || argv[3] != "flotilla-upgrade" {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && bytes.Contains(env, []byte("FLOTILLA_OP_DIR="+opsDir)) {
			seen[pid] = true
		}
	}
	out := make([]int, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out
}

// processGroupAlive reports whether any process of group pgid runs (a
// zombie has exited).
func processGroupAlive(pgid int) bool {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		// After the command name: state, ppid, pgrp, ...
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" {
			return true
		}
	}
	return false
}

// upgradeOp is one upgrade operation found in a replica's state directory.
type upgradeOp struct {
	instance, member, id string
	started              time.Time
	// ended is when the command's exit code was recorded; zero if never.
	ended    time.Time
	exitCode int
}

func (o upgradeOp) String() string {
	return fmt.Sprintf("%s/%s(exit %d)", o.instance, o.id, o.exitCode)
}

func readUpgradeOps(t *testing.T, r *hubReplica) []upgradeOp {
	t.Helper()
	var out []upgradeOp
	for _, member := range failoverMembers {
		dirs, err := filepath.Glob(filepath.Join(r.stateDir, "operations", failoverRun+"_"+member+"-*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			if strings.HasSuffix(dir, ".env") {
				continue
			}
			op := upgradeOp{instance: r.instance, member: member, id: filepath.Base(dir), exitCode: -1}
			if info, err := os.Stat(dir); err == nil {
				op.started = info.ModTime()
			}
			if raw, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
				if _, at, ok := strings.Cut(strings.TrimSpace(string(raw)), " "); ok {
					if ts, err := time.Parse(time.RFC3339Nano, at); err == nil {
						op.started = ts
					}
				}
			}
			if info, err := os.Stat(filepath.Join(dir, "exit")); err == nil {
				op.ended = info.ModTime()
				raw, _ := os.ReadFile(filepath.Join(dir, "exit"))
				op.exitCode, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
			}
			out = append(out, op)
		}
	}
	return out
}

// upgradeOutputStarted reports whether a replica's upgrade command for the
// member has written output, i.e. has begun changing the member.
func upgradeOutputStarted(stateDir, member string) bool {
	outputs, _ := filepath.Glob(filepath.Join(stateDir, "operations", failoverRun+"_"+member+"-*", "output"))
	for _, o := range outputs {
		if info, err := os.Stat(o); err == nil && info.Size() > 0 {
			return true
		}
	}
	return false
}

// checkRuns maps each member to the PIDs of the hub processes that ran its
// health check, from the lines the check command appends to its log.
func checkRuns(path string) map[string][]int {
	out := map[string][]int{}
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(fields[0]); err == nil {
			out[fields[1]] = append(out[fields[1]], pid)
		}
	}
	return out
}

func hubClient(f *fleet) (client.Client, error) {
	// The client's own logging has nothing to tell this test.
	log.SetLogger(logr.Discard())
	cfg, err := hubaccess.RESTConfig(f.dir("hub.kubeconfig"))
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: fleetscheme.New()})
}

// seenRun is one version of a run and when the test first saw it.
type seenRun struct {
	at  time.Time
	run fleetv1.UpdateRun
}

// runRecorder reads a run every 50 ms and keeps each version it sees, so
// that the test can tell when the run changed, to a tenth of a second.
type runRecorder struct {
	mu       sync.Mutex
	versions []seenRun
}

func recordRun(t *testing.T, c client.Client, name string) *runRecorder {
	rec := &runRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var run fleetv1.UpdateRun
			err := c.Get(ctx, client.ObjectKey{Name: name}, &run)
			if err == nil {
				rec.mu.Lock()
				if n := len(rec.versions); n == 0 || rec.versions[n-1].run.ResourceVersion != run.ResourceVersion {
					rec.versions = append(rec.versions, seenRun{at: time.Now(), run: run})
				}
				rec.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
		if t.Failed() {
			rec.dump(t)
		}
	})
	return rec
}

func (rec *runRecorder) latest() seenRun {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.versions) == 0 {
		return seenRun{}
	}
	return rec.versions[len(rec.versions)-1]
}

// lastBefore is the newest version seen before t.
func (rec *runRecorder) lastBefore(t time.Time) seenRun {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out seenRun
	for _, v := range rec.versions {
		if v.at.Before(t) {
			out = v
		}
	}
	return out
}

// nextAfter waits for the first version seen after v and returns it.
func (rec *runRecorder) nextAfter(t *testing.T, timeout time.Duration, what string, v seenRun) seenRun {
	t.Helper()
	var next seenRun
	testenv.Eventually(t, timeout, what, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for i, seen := range rec.versions {
			if seen.run.ResourceVersion == v.run.ResourceVersion && i+1 < len(rec.versions) {
				next = rec.versions[i+1]
				return nil
			}
		}
		return errors.New("no change seen")
	})
	return next
}

// waitFor waits until the newest version satisfies cond and returns it.
func (rec *runRecorder) waitFor(t *testing.T, timeout time.Duration, what string, cond func(fleetv1.UpdateRun) bool) seenRun {
	t.Helper()
	var last seenRun
	testenv.Eventually(t, timeout, what, func() error {
		last = rec.latest()
		if last.run.Name != "" && cond(last.run) {
			return nil
		}
		return errors.New("last seen: " + summaryLine(last.run))
	})
	return last
}

func summaryLine(run fleetv1.UpdateRun) string {
	var parts []string
	for _, it := range progressSummary(run) {
		parts = append(parts, it.path+"="+it.summary)
	}
	return string(orState(run.Status.State)) + " " + strings.Join(parts, "; ")
}

func (rec *runRecorder) dump(t *testing.T) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var b strings.Builder
	for _, v := range rec.versions {
		fmt.Fprintf(&b, "%s %s\n", v.at.Format(time.StampMilli), summaryLine(v.run))
	}
	t.Logf("versions of the run the test saw:\n%s", b.String())
}
