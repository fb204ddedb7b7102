// Package faults injects faults into local fleets of real kube-apiserver and
// etcd processes (members' and the hub's API servers killed, etcd stopped,
// nodes NotReady, the hub controller SIGKILLed, agents killed while the hub
// is down, a member cut off from the hub) at several points of update runs
// and placements, asserts what the fleet does about each, and prints a
// table of what happened.
//
// `go test ./test/faults` runs a short form, one or two injection points per
// scenario; `make faults` (-faults.full, or FLOTILLA_FAULTS=full) runs every
// point and the long outages. -short skips it all, as it skips the e2e tests.
package faults

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubaccess"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

var (
	fullFlag  = flag.Bool("faults.full", false, "run every injection point and the full-length outages (also FLOTILLA_FAULTS=full)")
	tableFlag = flag.String("faults.table", "", "also write the results table to this file")
)

// full reports whether the suite runs in full (make faults) rather than short form.
func full() bool { return *fullFlag || os.Getenv("FLOTILLA_FAULTS") == "full" }

// pick returns the full-mode value or the short-mode one.
func pick[T any](fullValue, shortValue T) T {
	if full() {
		return fullValue
	}
	return shortValue
}

// concurrentInShortForm lets the short form's scenarios run three at a
// time (they mostly wait: about 40% of one CPU for all of them), so that it
// costs `make test` a few minutes; the full form runs them one after
// another, so that its times are not those of a machine shared with another
// scenario.
func concurrentInShortForm(t *testing.T) {
	if !full() {
		t.Parallel()
	}
}

// flotilla is the binary under test, built once by TestMain.
var flotilla string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("faults:", testenv.ShortSkipMessage)
		return 0
	}
	if err := testenv.ToolsError(toolchain.Default().Missing()); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	// The clients' own logging has nothing to tell these tests.
	log.SetLogger(logr.Discard())
	binary, remove, err := testenv.BuildFlotilla(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	flotilla = binary
	if !full() && !flagSet("test.parallel") {
		_ = flag.Set("test.parallel", "3")
	}
	start := time.Now()
	code := m.Run()
	table := resultsTable(time.Since(start))
	fmt.Print(table)
	if *tableFlag != "" {
		if err := os.WriteFile(*tableFlag, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// fleet is a local fleet started for one test.
type fleet struct {
	t      *testing.T
	layout localfleet.Layout
	hub    client.Client
	env    []string
}

// upFleet starts a local fleet (hub manager and, for a hubful config,
// agents, all run from the binary under test) and takes it down when the
// test ends, whatever happens.
func upFleet(t *testing.T, cfg localfleet.Config) *fleet {
	t.Helper()
	f := &fleet{t: t, layout: localfleet.Layout{StateDir: t.TempDir(), Name: "faults"}}
	f.env = append(os.Environ(), "FLOTILLA_HUB_KUBECONFIG="+f.layout.HubKubeconfig())
	t.Cleanup(func() {
		if t.Failed() {
			f.dumpLogs()
		}
		if err := localfleet.Down(f.layout, nil); err != nil {
			t.Errorf("local down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := localfleet.Up(ctx, localfleet.Options{Layout: f.layout, Config: cfg, HubExecutable: flotilla}); err != nil {
		t.Fatal(err)
	}
	cfgREST, err := hubaccess.RESTConfig(f.layout.HubKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if f.hub, err = client.New(cfgREST, client.Options{Scheme: fleetscheme.New()}); err != nil {
		t.Fatal(err)
	}
	return f
}

// members declares members on the older minor, one node each, one update
// group per entry of groups ("name:group").
func members(hubful bool, specs ...string) localfleet.Config {
	one := 1
	cfg := localfleet.Config{Hubful: hubful, Hub: localfleet.HubConfig{KubernetesVersion: "1.37"}}
	for _, s := range specs {
		name, group, _ := strings.Cut(s, ":")
		cfg.Members = append(cfg.Members, localfleet.MemberConfig{
			Name: name, KubernetesVersion: "1.36", UpdateGroup: group, Nodes: &one,
			Labels: map[string]string{"fault-suite": "yes"},
		})
	}
	return cfg
}

func (f *fleet) dumpLogs() {
	for _, path := range append([]string{f.layout.HubManagerLog()}, globOrNil(filepath.Join(f.layout.Dir(), "agents", "*.log"))...) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		f.t.Logf("last lines of %s:\n%s", filepath.Base(path), strings.Join(lines, "\n"))
	}
	var runs fleetv1.UpdateRunList
	if err := f.hub.List(context.Background(), &runs); err == nil {
		for _, r := range runs.Items {
			f.t.Logf("run %s: %s", r.Name, summaryLine(r))
		}
	}
	ops, _ := filepath.Glob(filepath.Join(f.layout.HubManagerStateDir(), "operations", "*", "output"))
	for _, o := range ops {
		data, _ := os.ReadFile(o)
		f.t.Logf("%s:\n%s", filepath.Base(filepath.Dir(o)), data)
	}
}

func globOrNil(pattern string) []string {
	out, _ := filepath.Glob(pattern)
	return out
}

// cli runs the flotilla CLI against the fleet's hub.
func (f *fleet) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, flotilla, args...)
	cmd.Env = f.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (f *fleet) must(args ...string) string {
	f.t.Helper()
	out, err := f.cli(args...)
	if err != nil {
		f.t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// startRun creates and starts a Full upgrade to 1.37 over stages (JSON).
func (f *fleet) startRun(name, stages string) {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), name+"-stages.json")
	if err := os.WriteFile(path, []byte(stages), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.must("updaterun", "create", "-n", name, "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--stages", "@"+path, "--start")
}

// resumeRun starts a Failed or Stopped run again and waits until the hub
// has taken the request (the run is Running again).
func (f *fleet) resumeRun(name string) {
	f.t.Helper()
	f.must("updaterun", "start", "-n", name)
	f.waitRun(name, time.Minute, "run "+name+" running again", func(r fleetv1.UpdateRun) bool {
		return r.Status.State == fleetv1.StateRunning
	})
}

// run reads a run; a read that fails (the hub's API server is down) returns
// the zero run.
func (f *fleet) run(name string) fleetv1.UpdateRun {
	var run fleetv1.UpdateRun
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.hub.Get(ctx, client.ObjectKey{Name: name}, &run)
	return run
}

// waitRun waits until the run satisfies cond and returns it.
func (f *fleet) waitRun(name string, timeout time.Duration, what string, cond func(fleetv1.UpdateRun) bool) fleetv1.UpdateRun {
	f.t.Helper()
	var run fleetv1.UpdateRun
	testenv.Eventually(f.t, timeout, what, func() error {
		run = f.run(name)
		if run.Name != "" && cond(run) {
			return nil
		}
		return errors.New("last seen: " + summaryLine(run))
	})
	return run
}

// waitFinished waits until the run is Completed, Failed or Stopped,
// logging each change it sees on the way.
func (f *fleet) waitFinished(name string, timeout time.Duration) fleetv1.UpdateRun {
	f.t.Helper()
	start, last := time.Now(), ""
	return f.waitRun(name, timeout, "run "+name+" finished", func(r fleetv1.UpdateRun) bool {
		if line := summaryLine(r); line != last {
			f.t.Logf("+%.1fs %s", time.Since(start).Seconds(), line)
			last = line
		}
		s := r.Status.State
		return s == fleetv1.StateCompleted || s == fleetv1.StateFailed || s == fleetv1.StateStopped
	})
}

// memberCluster attaches to a member's local cluster.
func (f *fleet) memberCluster(name string) *localcluster.Cluster {
	f.t.Helper()
	c, err := localcluster.Attach(f.layout.MemberDir(name))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// hubCluster attaches to the hub's local cluster.
func (f *fleet) hubCluster() *localcluster.Cluster {
	f.t.Helper()
	c, err := localcluster.Attach(f.layout.HubDir())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// memberClient is an admin client of a member's API server.
func (f *fleet) memberClient(name string) kubernetes.Interface {
	f.t.Helper()
	return kubeClient(f.t, f.layout.MemberKubeconfig(name))
}

// hubKubeClient is an admin client of the hub's API server, for the
// objects a placement selects there.
func (f *fleet) hubKubeClient() kubernetes.Interface {
	f.t.Helper()
	return kubeClient(f.t, f.layout.HubKubeconfig())
}

func kubeClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// memberVersion is the version the member's API server reports, or "" when
// it does not answer.
func (f *fleet) memberVersion(name string) string {
	v, err := f.memberClient(name).Discovery().ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// upgradeOp is one upgrade operation the hub started, as the Local
// provider's operation directory records it.
type upgradeOp struct {
	member, id string
	started    time.Time
	// ended is when its exit code was written; zero while running or if killed.
	ended    time.Time
	exitCode int // -1 until it exits
	// restartedControlPlane: its output says it restarted the API server
	// on the new version (an idempotent re-run says "already at").
	restartedControlPlane bool
}

// upgradeOps lists the operations of a run's member, oldest first.
func (f *fleet) upgradeOps(run, member string) []upgradeOp {
	dirs := globOrNil(filepath.Join(f.layout.HubManagerStateDir(), "operations", run+"_"+member+"-*"))
	var out []upgradeOp
	for _, dir := range dirs {
		if strings.HasSuffix(dir, ".env") {
			continue
		}
		op := upgradeOp{member: member, id: filepath.Base(dir), exitCode: -1}
		if raw, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			if _, at, ok := strings.Cut(strings.TrimSpace(string(raw)), " "); ok {
				op.started, _ = time.Parse(time.RFC3339Nano, at)
			}
		}
		if info, err := os.Stat(filepath.Join(dir, "exit")); err == nil {
			op.ended = info.ModTime()
			raw, _ := os.ReadFile(filepath.Join(dir, "exit"))
			op.exitCode, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		}
		output, _ := os.ReadFile(filepath.Join(dir, "output"))
		op.restartedControlPlane = bytes.Contains(output, []byte("restarting kube-apiserver"))
		out = append(out, op)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].started.Before(out[j].started) })
	return out
}

// upgradeOutput is what the member's latest operation printed so far.
func (f *fleet) upgradeOutput(run, member string) string {
	ops := f.upgradeOps(run, member)
	if len(ops) == 0 {
		return ""
	}
	data, _ := os.ReadFile(filepath.Join(f.layout.HubManagerStateDir(), "operations", ops[len(ops)-1].id, "output"))
	return string(data)
}

// touchedAfter lists the members, of those named, whose upgrade the hub
// started after t.
func (f *fleet) touchedAfter(run string, t time.Time, names ...string) []string {
	var out []string
	for _, m := range names {
		for _, op := range f.upgradeOps(run, m) {
			if op.started.After(t) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// duplicateUpgrades counts, over the named members, upgrades that should
// not have happened: an operation started after one of the member's
// operations had succeeded, one started while another of the member's was
// still running, or a second control-plane restart onto the target.
func (f *fleet) duplicateUpgrades(run string, names ...string) (int, string) {
	n := 0
	var why []string
	for _, m := range names {
		ops := f.upgradeOps(run, m)
		restarts := 0
		for i, op := range ops {
			if op.restartedControlPlane && op.exitCode == 0 {
				restarts++
			}
			if i == 0 {
				continue
			}
			prev := ops[i-1]
			switch {
			case prev.exitCode == 0:
				n++
				why = append(why, fmt.Sprintf("%s: %s started after %s had succeeded", m, op.id, prev.id))
			case prev.ended.IsZero():
				// The suite never kills upgrade commands: one that never
				// recorded an exit was still running when the next began.
				n++
				why = append(why, fmt.Sprintf("%s: %s started while %s ran", m, op.id, prev.id))
			case !prev.ended.IsZero() && op.started.Before(prev.ended):
				n++
				why = append(why, fmt.Sprintf("%s: %s started before %s ended", m, op.id, prev.id))
			}
		}
		if restarts > 1 {
			n += restarts - 1
			why = append(why, fmt.Sprintf("%s: control plane restarted onto the target %d times", m, restarts))
		}
	}
	return n, strings.Join(why, "; ")
}

// commandLine is a process's argv, read from /proc, so that a restart
// runs exactly what `local up` ran (whatever flags it passes).
func commandLine(t *testing.T, pid int) []string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("reading the command line of pid %d: %v", pid, err)
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
}

// proc is a flotilla process of the fleet (hub manager, agent) that the
// test kills and starts again.
type proc struct {
	pid  int
	argv []string
	log  string
	// done is closed once a process the test started has exited; nil for
	// the one `local up` started.
	done chan struct{}
}

// hubManager is the hub controller manager `local up` started.
func (f *fleet) hubManager() *proc {
	f.t.Helper()
	st, err := localfleet.ReadState(f.layout)
	if err != nil || st.HubManager == nil {
		f.t.Fatalf("no hub manager recorded: %v", err)
	}
	return &proc{pid: st.HubManager.PID, argv: commandLine(f.t, st.HubManager.PID), log: f.layout.HubManagerLog()}
}

// agent is the member agent `local up` started.
func (f *fleet) agent(member string) *proc {
	f.t.Helper()
	st, err := localfleet.ReadState(f.layout)
	if err != nil || st.Agents[member] == nil {
		f.t.Fatalf("no agent recorded for %s: %v", member, err)
	}
	pid := st.Agents[member].PID
	return &proc{pid: pid, argv: commandLine(f.t, pid), log: f.layout.AgentLog(member)}
}

// kill SIGKILLs the process alone, as the kernel's OOM killer would: the
// upgrade commands a hub started run in sessions of their own and go on.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing pid %d: %v", p.pid, err)
	}
	if p.done != nil {
		<-p.done
		return
	}
	testenv.Eventually(t, 10*time.Second, "the killed process gone", func() error {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
		if err == nil && !bytes.Contains(stat, []byte(") Z ")) {
			return fmt.Errorf("pid %d still runs", p.pid)
		}
		return nil
	})
}

// restart starts the same command line again (same state directory, same
// addresses), appending to the same log, and returns the new process; the
// test's cleanup kills it if it still runs.
func (f *fleet) restart(old *proc) *proc {
	f.t.Helper()
	logFile, err := os.OpenFile(old.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(old.argv[0], old.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &proc{pid: cmd.Process.Pid, argv: old.argv, log: old.log, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	f.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func summaryLine(run fleetv1.UpdateRun) string {
	var parts []string
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				s := m.Name + "=" + string(orState(m.State))
				if m.HealthChecks != nil {
					s += "/checks " + string(orState(m.HealthChecks.State))
				}
				parts = append(parts, s)
			}
		}
	}
	return string(orState(run.Status.State)) + " " + strings.Join(parts, " ") + " " + run.Status.Message
}

func orState(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

// reason is the first clause of a member's message: "upgrade failed",
// "health checks failed", ...
func reason(p fleetv1.MemberProgress) string {
	r, _, _ := strings.Cut(p.Message, ":")
	return r
}

// sinceText is d to a tenth of a second.
func sinceText(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// keepDown SIGKILLs every process of the cluster in dir whose program is
// named component (kube-apiserver, etcd) now, and again whenever one comes
// back (an upgrade restarts the API server), until the returned function is
// called: a control plane that died and stays dead.
func keepDown(t *testing.T, dir, component string) (stop func()) {
	t.Helper()
	kill := func() int {
		n := 0
		for _, rec := range process.Find(dir, func(argv []string) bool {
			return filepath.Base(argv[0]) == component || strings.HasPrefix(filepath.Base(argv[0]), component+"-")
		}) {
			if syscall.Kill(rec.PID, syscall.SIGKILL) == nil {
				n++
			}
		}
		return n
	}
	if kill() == 0 {
		t.Fatalf("no %s of %s to kill", component, dir)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				kill()
			}
		}
	}()
	var once bool
	stop = func() {
		if !once {
			once = true
			close(done)
			<-stopped
		}
	}
	t.Cleanup(stop)
	return stop
}
