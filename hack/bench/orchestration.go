package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// handoffTarget is DESIGN.md §8's orchestration overhead target.
const handoffTarget = time.Second

const runName = "bench"

// runOrchestration drives a real update run of many members through the real
// UpdateRun controller against a real hub API server, with an upgrade that
// takes no time, and measures the time the controller takes between one
// member's upgrade ending and the next one's starting.
func runOrchestration(ctx context.Context, b *bench) []Row {
	what := "orchestration overhead: member done → next member started"
	target := "p99 < " + secs(handoffTarget)
	rows, err := b.orchestrate(ctx)
	if err != nil {
		return []Row{skipped("orchestration", what, target, err.Error())}
	}
	return rows
}

func (b *bench) orchestrate(ctx context.Context) ([]Row, error) {
	from, to := b.tc.OldestKubernetes(), b.tc.NewestKubernetes()
	dir := filepath.Join(b.work, "orchestration")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stampsPath := filepath.Join(dir, "stamps")
	script, err := writeStampScript(dir, stampsPath)
	if err != nil {
		return nil, err
	}

	b.logf("orchestration: starting a hub and a member cluster on %s", to)
	clusters, err := b.startClusters(ctx,
		clusterSpec{name: "orch-hub", version: to},
		// One node, so that the Full upgrade's success check has a kubelet to read.
		clusterSpec{name: "orch-member", version: to, nodes: 1})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range clusters {
			b.stopCluster(c)
		}
	}()
	hubCfg, err := clusters[0].RESTConfig()
	if err != nil {
		return nil, err
	}
	hc, err := newHubClient(hubCfg)
	if err != nil {
		return nil, err
	}
	if err := installFleetAPI(ctx, hc); err != nil {
		return nil, err
	}
	kubeconfig, err := clusters[1].Kubeconfig()
	if err != nil {
		return nil, err
	}

	plan := newRunPlan(b.opts.members, b.opts.stages, b.opts.groups)
	provider := &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{
		Command: []string{"/bin/sh", script}, TimeoutSeconds: 60,
	}}
	status := observedStatus(from)
	seeds := make([]memberSeed, len(plan.members))
	for i, m := range plan.members {
		seeds[i] = memberSeed{name: m, group: plan.groupOf[m], kubeconfig: kubeconfig, provider: provider, heartbeat: 15, status: status}
	}
	b.logf("orchestration: creating %s MemberClusters on %s (status written by the benchmark), all reaching the member cluster", count(len(seeds)), from)
	seeded := time.Now()
	if err := seedMembers(ctx, hc, seeds); err != nil {
		return nil, err
	}
	b.logf("orchestration: created in %s", dur(time.Since(seeded)))

	metricsURL, stopHub, err := b.startInProcessHub(ctx, hubCfg, filepath.Join(dir, "hub"))
	if err != nil {
		return nil, err
	}
	defer stopHub()

	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: runName},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &plan.strategy,
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{
				Type: fleetv1.UpgradeFull, KubernetesVersion: to,
			}},
			State: fleetv1.RunStarted,
		},
	}
	created := time.Now()
	if err := hc.Create(ctx, run); err != nil {
		return nil, fmt.Errorf("creating the update run: %w", err)
	}
	b.logf("orchestration: update run %q created: Full upgrade %s → %s, %d stages × %d groups", runName, from, to, b.opts.stages, b.opts.groups)
	final, err := b.waitRun(ctx, hc, runName, b.opts.runTimeout)
	if err != nil {
		return nil, err
	}
	if final.Status.State != fleetv1.StateCompleted {
		return nil, fmt.Errorf("the update run ended %s: %s", final.Status.State, final.Status.Message)
	}
	spans, err := readStamps(stampsPath)
	if err != nil {
		return nil, err
	}
	rows, err := plan.analyse(spans, created, len(plan.members))
	if err != nil {
		return nil, err
	}
	if m, err := scrapeMetrics(ctx, metricsURL); err != nil {
		b.warn("orchestration: no controller metrics: %v", err)
	} else {
		rows = append(rows, reconcileRow(m))
	}
	return rows, nil
}

// reconcileRow explains the hand-offs: how many reconciles the run took,
// how long each took and how long requests waited in the work queue.
func reconcileRow(m series) Row {
	const ctl = `controller="updaterun"`
	work := m.histogram("controller_runtime_reconcile_time_seconds", ctl)
	queue := m.histogram("workqueue_queue_duration_seconds", ctl)
	results := []string{}
	for _, r := range []string{"success", "requeue", "requeue_after", "error"} {
		if n := m.sum("controller_runtime_reconcile_total", ctl, `result="`+r+`"`); n > 0 {
			results = append(results, fmt.Sprintf("%s %.0f", r, n))
		}
	}
	seconds := func(s float64) string { return dur(time.Duration(s * float64(time.Second))) }
	bound := func(s float64) string {
		if math.IsInf(s, 1) {
			return "> last bucket"
		}
		return "≤ " + seconds(s)
	}
	return Row{
		What: "UpdateRun reconciles during the run (where the hand-off time goes)",
		Measured: fmt.Sprintf("%.0f reconciles: mean %s, p50 %s, p99 %s; queue wait mean %s; %s",
			work.count, seconds(work.mean()), bound(work.quantileBound(0.5)), bound(work.quantileBound(0.99)),
			seconds(queue.mean()), strings.Join(results, ", ")),
		How: "the controller's own metrics (controller_runtime_reconcile_time_seconds, workqueue_queue_duration_seconds, " +
			"controller_runtime_reconcile_total) from the in-process hub's /metrics; quantiles are bucket bounds; one worker",
		N: int(work.count),
		Figures: map[string]float64{
			"reconciles": work.count, "reconcile_mean_s": work.mean(), "queue_wait_mean_s": queue.mean(),
		},
	}
}

// startInProcessHub runs the hub's controller manager in this process with
// the membership controller off (the benchmark writes the members' status)
// and returns once it serves /readyz, with its /metrics URL and a func that
// stops it.
func (b *bench) startInProcessHub(ctx context.Context, cfg *rest.Config, stateDir string) (metricsURL string, stop func(), err error) {
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		return "", nil, err
	}
	metrics, health := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	hubCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(hubCtx, cfg, hub.Options{
			MetricsAddress: metrics, HealthAddress: health, StateDir: stateDir, DisableMembership: true,
			UpgradeProviders: map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec},
			AllowExec:        true, // the simulated members upgrade with an Exec command
		})
	}()
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				b.warn("the in-process hub: %v", err)
			}
		case <-time.After(30 * time.Second):
			b.warn("the in-process hub did not stop within 30s")
		}
	}
	if err := waitHTTPOK(ctx, "http://"+health+"/readyz", time.Minute); err != nil {
		cancel()
		select {
		case runErr := <-done:
			return "", nil, errors.Join(err, runErr)
		case <-time.After(30 * time.Second):
			return "", nil, err
		}
	}
	return "http://" + metrics + "/metrics", stop, nil
}

// writeStampScript writes the upgrade command: it does nothing but note, in
// nanoseconds, when it starts and when it ends. The times of the
// commands themselves measure the hand-offs; the run's status records
// whole seconds only.
func writeStampScript(dir, stampsPath string) (string, error) {
	path := filepath.Join(dir, "upgrade.sh")
	script := fmt.Sprintf(`#!/bin/sh
# An instant upgrade for hack/bench: it records when it starts and ends.
echo "start $FLOTILLA_MEMBER $(date +%%s%%N)" >> '%[1]s'
echo "end $FLOTILLA_MEMBER $(date +%%s%%N)" >> '%[1]s'
`, stampsPath)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	// date without nanoseconds (not GNU) would make every figure zero.
	out, err := exec.Command("date", "+%s%N").Output()
	if _, convErr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil || convErr != nil {
		return "", fmt.Errorf("`date +%%s%%N` does not give nanoseconds here (%q, %w)", strings.TrimSpace(string(out)), errors.Join(err, convErr))
	}
	return path, nil
}

// observedStatus is what the membership controller would have written of a
// healthy member on version with three nodes: the run reads versions from
// the status, so the members are not at the target and get upgraded.
func observedStatus(version string) *fleetv1.MemberClusterStatus {
	now := metav1.Now()
	cond := func(t string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: "Benchmark", Message: "written by hack/bench", LastTransitionTime: now}
	}
	return &fleetv1.MemberClusterStatus{
		Conditions:        []metav1.Condition{cond(fleetv1.MemberJoined), cond(fleetv1.MemberReachable), cond(fleetv1.MemberHealthy)},
		KubernetesVersion: version,
		Nodes: fleetv1.NodeSummary{
			Total: 3, Ready: 3,
			KubeletVersions: []fleetv1.VersionCount{{Version: version, Count: 3}},
			NodeImages:      []fleetv1.VersionCount{{Version: localcluster.InitialNodeImage(version), Count: 3}},
		},
		LastHeartbeatTime: &now,
	}
}

// runPlan is the run's shape: members spread round-robin over stages ×
// groups, each group upgrading one member at a time.
type runPlan struct {
	strategy fleetv1.UpdateStrategySpec
	members  []string
	groupOf  map[string]string
	stageOf  map[string]int // by group
}

func newRunPlan(members, stages, groups int) runPlan {
	p := runPlan{groupOf: map[string]string{}, stageOf: map[string]int{}}
	var names []string
	for s := range stages {
		stage := fleetv1.UpdateStage{Name: fmt.Sprintf("stage-%02d", s+1)}
		for g := range groups {
			name := fmt.Sprintf("s%02d-g%02d", s+1, g+1)
			stage.Groups = append(stage.Groups, fleetv1.UpdateGroup{Name: name})
			p.stageOf[name] = s
			names = append(names, name)
		}
		p.strategy.Stages = append(p.strategy.Stages, stage)
	}
	for i := range members {
		m := fmt.Sprintf("member-%04d", i+1)
		p.members = append(p.members, m)
		p.groupOf[m] = names[i%len(names)]
	}
	return p
}

// span is when one member's upgrade command started and ended.
type span struct {
	member     string
	start, end time.Time
}

// readStamps reads the upgrade commands' start and end times.
func readStamps(path string) (map[string]*span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no upgrade command ran: %w", err)
	}
	defer f.Close()
	spans := map[string]*span{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		ns, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed time in %q", path, sc.Text())
		}
		s := spans[fields[1]]
		if s == nil {
			s = &span{member: fields[1]}
			spans[fields[1]] = s
		}
		t := time.Unix(0, ns)
		switch fields[0] {
		case "start":
			if s.start.IsZero() || t.Before(s.start) {
				s.start = t
			}
		case "end":
			if t.After(s.end) {
				s.end = t
			}
		}
	}
	return spans, sc.Err()
}

// analyse turns the commands' times into hand-offs: within a group, the
// next member's start less the previous one's end; between stages, the
// next stage's first start less the previous stage's last end.
func (p runPlan) analyse(spans map[string]*span, created time.Time, want int) ([]Row, error) {
	byGroup := map[string][]*span{}
	stageFirst := make([]time.Time, len(p.strategy.Stages))
	stageLast := make([]time.Time, len(p.strategy.Stages))
	var first, last time.Time
	for _, m := range p.members {
		s := spans[m]
		if s == nil || s.start.IsZero() || s.end.IsZero() {
			return nil, fmt.Errorf("member %s: its upgrade command did not both start and end (%d of %d members recorded)", m, len(spans), want)
		}
		g := p.groupOf[m]
		byGroup[g] = append(byGroup[g], s)
		st := p.stageOf[g]
		if stageFirst[st].IsZero() || s.start.Before(stageFirst[st]) {
			stageFirst[st] = s.start
		}
		if s.end.After(stageLast[st]) {
			stageLast[st] = s.end
		}
		if first.IsZero() || s.start.Before(first) {
			first = s.start
		}
		if s.end.After(last) {
			last = s.end
		}
	}
	var handoffs, transitions sample
	for _, members := range byGroup {
		slices.SortFunc(members, func(a, b *span) int { return a.start.Compare(b.start) })
		for i := 1; i < len(members); i++ {
			handoffs = append(handoffs, members[i].start.Sub(members[i-1].end))
		}
	}
	for s := 1; s < len(stageFirst); s++ {
		transitions = append(transitions, stageFirst[s].Sub(stageLast[s-1]))
	}
	stages, groups := len(p.strategy.Stages), len(p.strategy.Stages[0].Groups)
	shape := fmt.Sprintf("%s members in %d stages × %d groups, one member at a time per group", count(len(p.members)), stages, groups)
	how := "UpdateRun controller (hub.Run in the benchmark's process, membership controller off) against a real hub kube-apiserver; " + shape +
		"; MemberCluster status written by the benchmark (older version, 3 nodes on it), every member reaching one real member cluster on the newer version; " +
		"Full upgrade with the Exec provider running a script that writes `date +%s%N` as its first and last act (success = exit 0 and the member's live API at the target). " +
		"Hand-off = next member's first stamp − previous member's last stamp in the same group: process exit and start, the controller noticing (≤ 200 ms poll, or the next status event), " +
		"the engine step, the status write and starting the next command. The status's startTime/completedTime have whole-second precision and are not used"
	rows := []Row{{
		What:     "orchestration overhead: member done → next member started",
		Target:   "p99 < " + secs(handoffTarget),
		Measured: handoffs.spread(),
		How:      how,
		N:        len(handoffs),
		Verdict:  verdict(handoffs.quantile(0.99) < handoffTarget),
		Figures:  handoffs.figures(),
	}}
	if len(transitions) > 0 {
		rows = append(rows, Row{
			What:     "orchestration overhead: stage done → next stage's first member started",
			Target:   "< " + secs(handoffTarget),
			Measured: fmt.Sprintf("p50 %s, max %s", dur(transitions.median()), dur(transitions.max())),
			How:      "same run: first stamp of a stage − last stamp of the stage before (no waits or gates between stages)",
			N:        len(transitions),
			Verdict:  verdict(transitions.max() < handoffTarget),
			Figures:  transitions.figures(),
		})
	}
	total := last.Sub(first)
	rows = append(rows, Row{
		What: fmt.Sprintf("%s-member update run, first upgrade started → last one done", count(len(p.members))),
		Measured: fmt.Sprintf("%s (%.1f members/s); first upgrade %s after the run was created",
			dur(total), float64(len(p.members))/total.Seconds(), dur(first.Sub(created))),
		How: "same run, " + shape,
		N:   len(p.members),
		Figures: map[string]float64{
			"run_s": total.Seconds(), "members_per_s": float64(len(p.members)) / total.Seconds(), "first_start_s": first.Sub(created).Seconds(),
		},
	})
	return rows, nil
}

// waitRun polls the run until it ends, logging its progress.
func (b *bench) waitRun(ctx context.Context, c client.Client, name string, timeout time.Duration) (*fleetv1.UpdateRun, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastLog := time.Now()
	for {
		run := &fleetv1.UpdateRun{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, run); err != nil {
			return nil, fmt.Errorf("reading the update run: %w", err)
		}
		switch run.Status.State {
		case fleetv1.StateCompleted, fleetv1.StateFailed, fleetv1.StateStopped:
			return run, nil
		}
		if time.Since(lastLog) >= 10*time.Second {
			b.logf("orchestration: %d/%d members done, %s", run.Status.MembersDone, run.Status.MembersTotal, orDash(run.Status.CurrentStage))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the update run did not end within %s (%d/%d members done): %w",
				timeout, run.Status.MembersDone, run.Status.MembersTotal, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
