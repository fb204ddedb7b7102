// Command bench measures Flotilla against its performance targets
// (DESIGN.md §8) on local fleets of real kube-apiserver and etcd processes,
// and prints a table of the figures and of the machine they were taken on.
// `make bench` runs it with the defaults, which finish in a few minutes on
// two cores.
//
//	go run ./hack/bench                                 # every scenario
//	go run ./hack/bench -only up,join -up-runs 5
//	go run ./hack/bench -only orchestration,memory -members 2000 -o json
//	go run ./hack/bench -only placement -placements 50
//
// Everything it starts lives under one temporary directory and is stopped
// before it exits, also when a scenario fails or on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// scenario measures one or a few targets and returns their rows. A scenario
// never aborts the others: what it cannot measure it reports as skipped.
type scenario struct {
	name  string
	about string
	run   func(ctx context.Context, b *bench) []Row
	// fleet: the scenario uses the shared local fleet (bench.sharedFleet).
	fleet bool
}

var scenarios = []scenario{
	{name: "up", about: "flotilla local up of a hub and 3 members", run: runUp},
	{name: "join", about: "a member joins and turns Healthy", run: runJoin, fleet: true},
	{name: "unreachable", about: "a member's API server stops; time until Unreachable", run: runUnreachable, fleet: true},
	{name: "orchestration", about: "UpdateRun controller hand-offs over a 1,000-member run", run: runOrchestration},
	{name: "engine", about: "rollout engine step cost at growing fleet sizes", run: runEngine},
	{name: "memory", about: "flotilla hub memory while probing 1,000 members", run: runMemory},
	{name: "placement", about: "placement, drift correction, agent join and agent idle cost on a hubful fleet of 3 members", run: runPlacement},
}

type options struct {
	only     string
	output   string
	flotilla string
	keep     bool
	timeout  time.Duration
	// cpuProfile profiles this process, in-process hub included.
	cpuProfile string

	upRuns    int
	upMembers int

	joins           int
	joinNodes       int
	outages         int
	joinHeartbeatS  int
	members         int
	stages          int
	groups          int
	runTimeout      time.Duration
	engineSizes     string
	memHeartbeat    time.Duration
	memPeriods      int
	memTargets      int
	memProbeTimeout time.Duration
	placements      int
	drifts          int
	agentJoins      int
	idleWindow      time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	fs.StringVar(&o.only, "only", "", "comma-separated scenarios to run, of: "+strings.Join(names, ", ")+" (default all)")
	fs.StringVar(&o.output, "o", "table", "output: table or json")
	fs.StringVar(&o.flotilla, "flotilla", "bin/flotilla", "flotilla binary (`make build`); built into the work directory when missing")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, cluster data) instead of removing it")
	fs.DurationVar(&o.timeout, "timeout", 45*time.Minute, "give up on the whole benchmark after this long")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the in-process hub of orchestration included) to `file`")

	fs.IntVar(&o.upRuns, "up-runs", 3, "up: times `flotilla local up` is run (the median is reported)")
	fs.IntVar(&o.upMembers, "up-members", 3, "up: members per fleet")

	fs.IntVar(&o.joins, "joins", 10, "join: members joined, one at a time, each a new local cluster")
	fs.IntVar(&o.joinNodes, "join-nodes", 3, "join: kwok nodes of each joining cluster")
	fs.IntVar(&o.joinHeartbeatS, "join-heartbeat", 5, "join: heartbeat period of the joining members, in seconds")
	fs.IntVar(&o.outages, "outages", 3, "unreachable: API-server stops measured (each followed by a restart)")

	fs.IntVar(&o.members, "members", 1000, "orchestration, memory: MemberClusters on the hub")
	fs.IntVar(&o.stages, "stages", 10, "orchestration: stages of the run")
	fs.IntVar(&o.groups, "groups", 10, "orchestration: groups per stage (members upgrade one at a time per group)")
	fs.DurationVar(&o.runTimeout, "run-timeout", 15*time.Minute, "orchestration: give up on the run after this long")

	fs.StringVar(&o.engineSizes, "engine-sizes", "100,1000,10000", "engine: member counts to step")

	fs.DurationVar(&o.memHeartbeat, "memory-heartbeat", 15*time.Second, "memory: heartbeat period of the probed members")
	fs.IntVar(&o.memPeriods, "memory-periods", 2, "memory: heartbeat periods to keep probing after every member was probed once")
	fs.IntVar(&o.memTargets, "memory-clusters", 2, "memory: real member clusters the MemberClusters point at")
	fs.DurationVar(&o.memProbeTimeout, "memory-first-sweep-timeout", 5*time.Minute, "memory: give up if not every member was probed by then")

	fs.IntVar(&o.placements, "placements", 20, "placement: ClusterResourcePlacements created, one at a time, each of its own namespace")
	fs.IntVar(&o.drifts, "drifts", 20, "placement: changes made to a placed object on a member, one at a time")
	fs.IntVar(&o.agentJoins, "agent-joins", 3, "placement: members joined with an agent, one at a time, each a new local cluster")
	fs.DurationVar(&o.idleWindow, "agent-idle-window", 30*time.Second, "placement: window over which the idle agents' CPU time is measured")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.output != "table" && o.output != "json" {
		return o, fmt.Errorf("-o must be table or json, not %q", o.output)
	}
	for _, name := range o.selected() {
		if !slices.Contains(names, name) {
			return o, fmt.Errorf("-only: unknown scenario %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	switch {
	case o.upRuns < 1 || o.upMembers < 0 || o.joins < 1 || o.outages < 1 || o.joinNodes < 0:
		return o, fmt.Errorf("-up-runs, -joins and -outages must be at least 1; -up-members and -join-nodes not negative")
	case o.joinHeartbeatS < 1 || o.joinHeartbeatS > 600:
		return o, fmt.Errorf("-join-heartbeat must be 1 to 600 seconds")
	case o.members < 1 || o.stages < 1 || o.stages > 20 || o.groups < 1 || o.groups > 20:
		return o, fmt.Errorf("-members must be at least 1, -stages and -groups 1 to 20 (the API's limits)")
	case o.memHeartbeat < time.Second || o.memPeriods < 1 || o.memTargets < 1:
		return o, fmt.Errorf("-memory-heartbeat must be at least 1s, -memory-periods and -memory-clusters at least 1")
	case o.placements < 1 || o.drifts < 1 || o.agentJoins < 1 || o.idleWindow < time.Second:
		return o, fmt.Errorf("-placements, -drifts and -agent-joins must be at least 1, -agent-idle-window at least 1s")
	}
	if _, err := o.sizes(); err != nil {
		return o, err
	}
	return o, nil
}

// selected lists the scenarios -only names; empty means all.
func (o options) selected() []string {
	var out []string
	for _, s := range strings.Split(o.only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o options) wants(name string) bool {
	sel := o.selected()
	return len(sel) == 0 || slices.Contains(sel, name)
}

func (o options) sizes() ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(o.engineSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 20 {
			return nil, fmt.Errorf("-engine-sizes: %q is not a member count of at least 20", f)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return sizes, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	// The in-process hub logs through controller-runtime; its chatter is
	// not the benchmark's output.
	ctrl.SetLogger(logr.Discard())
	os.Exit(runUntilSignalled(opts))
}

// runUntilSignalled runs the benchmark until it ends, times out or is
// interrupted, and returns the exit code.
func runUntilSignalled(opts options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	return run(ctx, opts)
}

func run(ctx context.Context, opts options) int {
	report := Report{Machine: describeMachine(), Started: time.Now().UTC(), Command: "go run ./hack/bench " + strings.Join(os.Args[1:], " ")}
	b, err := newBench(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	// Runs on every return: stops whatever is still running.
	defer b.close()
	if opts.cpuProfile != "" {
		stopProfile, err := startCPUProfile(opts.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer stopProfile()
	}

	for _, s := range scenarios {
		if !opts.wants(s.name) {
			continue
		}
		if !s.fleet {
			// The shared fleet's processes would only disturb the rest.
			b.closeFleet()
		}
		if ctx.Err() != nil {
			report.Rows = append(report.Rows, skipped(s.name, s.about, "", "interrupted"))
			continue
		}
		b.logf("== %s: %s", s.name, s.about)
		start := time.Now()
		rows := s.run(ctx, b)
		for i := range rows {
			rows[i].Scenario = s.name
		}
		report.Rows = append(report.Rows, rows...)
		b.logf("== %s done in %s", s.name, dur(time.Since(start)))
	}
	b.closeFleet()
	report.Took = dur(time.Since(b.start))
	report.Machine.LoadAvgEnd = loadAvg()
	report.Warnings = b.warnings

	if opts.output == "json" {
		err = report.writeJSON(os.Stdout)
	} else {
		err = report.writeTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
