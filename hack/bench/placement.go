package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
)

// DESIGN.md §8's placement targets.
const (
	// placementTarget: KubeFleet's p90 is 20 s, Karmada's p99 1.3 s.
	placementTarget = 2 * time.Second
	driftTarget     = 2 * time.Second
	// agentJoinTarget: Karmada's p99 is 6.9 s.
	agentJoinTarget = 2 * time.Second
	// KubeFleet's member agent at idle.
	agentIdleMilliCPU = 2.4
	agentIdleRSS      = 33e6
)

const (
	// placementMembers is the size of the scenario's fleet.
	placementMembers = 3
	// benchLabel marks the fleet's members; the placements pick only
	// them, so that the members joined in between are never candidates.
	benchLabel, benchLabelValue = "bench", "placement"
	// agentHeartbeat is the agents' heartbeat period, as `flotilla local up` sets it.
	agentHeartbeat = 5 * time.Second
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
	// 100 on every Linux architecture Go runs on, whatever the kernel's HZ
	// (it is the ABI value, sysconf(_SC_CLK_TCK)).
	clockTicks = 100
	// quotaPods is spec.hard.pods of the placed ResourceQuotas.
	quotaPods = "500"
)

// placementFleet is the scenario's hubful local fleet.
type placementFleet struct {
	layout  localfleet.Layout
	state   localfleet.State
	hubCfg  *rest.Config
	hub     client.WithWatch
	members []placementMember
}

type placementMember struct {
	name   string
	client client.WithWatch
}

// runPlacement brings up a hubful fleet of a hub and three members, each
// with its agent, and measures placement, drift correction, an agent's
// join and the agents at idle on it.
func runPlacement(ctx context.Context, b *bench) []Row {
	const (
		whatPlace = "placement created → Applied on every member"
		whatDrift = "drift on a member → reverted"
		whatJoin  = "member joins with an agent → AgentConnected"
		whatIdle  = "member agent at idle"
	)
	targetPlace, targetDrift, targetJoin := "p99 < "+secs(placementTarget), "< "+secs(driftTarget), "p99 < "+secs(agentJoinTarget)
	targetIdle := fmt.Sprintf("≤ %.1f mCPU / %s", agentIdleMilliCPU, megabytes(agentIdleRSS))
	f, err := b.upPlacementFleet(ctx)
	if err != nil {
		why := err.Error()
		return []Row{
			skipped("placement", whatPlace, targetPlace, why), skipped("placement", whatDrift, targetDrift, why),
			skipped("placement", whatJoin, targetJoin, why), skipped("placement", whatIdle, targetIdle, why),
		}
	}
	defer b.downPlacementFleet(f)

	place, placed, err := b.measurePlacements(ctx, f, whatPlace, targetPlace)
	if err != nil {
		place = skipped("placement", whatPlace, targetPlace, err.Error())
	}
	drift, err := b.measureDrift(ctx, f, placed, whatDrift, targetDrift)
	if err != nil {
		drift = skipped("placement", whatDrift, targetDrift, err.Error())
	}
	// Idle before the joins: a join leaves nothing behind, but the fleet
	// is quietest now.
	idle, err := b.measureAgentIdle(ctx, f, whatIdle, targetIdle)
	if err != nil {
		idle = skipped("placement", whatIdle, targetIdle, err.Error())
	}
	join, err := b.measureAgentJoins(ctx, f, whatJoin, targetJoin)
	if err != nil {
		join = skipped("placement", whatJoin, targetJoin, err.Error())
	}
	return []Row{place, drift, join, idle}
}

// upPlacementFleet starts the fleet and waits until every agent reports.
func (b *bench) upPlacementFleet(ctx context.Context) (*placementFleet, error) {
	bin, err := b.flotilla(ctx)
	if err != nil {
		return nil, err
	}
	f := &placementFleet{layout: localfleet.Layout{StateDir: filepath.Join(b.work, "placement"), Name: "bench-placement"}}
	cfg := localfleet.Config{Hubful: true}
	for i := 1; i <= placementMembers; i++ {
		nodes := 1 + i%2 // 2, 1, 2 kwok nodes
		cfg.Members = append(cfg.Members, localfleet.MemberConfig{
			Name: fmt.Sprintf("member-%d", i), UpdateGroup: localfleet.DefaultUpdateGroup,
			Labels: map[string]string{benchLabel: benchLabelValue}, Nodes: &nodes,
		})
	}
	b.logf("placement: bringing up a hubful local fleet: hub and %d members, each with its agent", placementMembers)
	f.state, err = localfleet.Up(ctx, localfleet.Options{
		Layout: f.layout, Config: cfg, Hubful: true, HubExecutable: bin, AgentExecutable: bin, Toolchain: &b.tc,
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*placementFleet, error) {
		return nil, errors.Join(err, localfleet.Down(f.layout, nil))
	}
	hubCluster, err := localcluster.Attach(f.state.Hub.Dir)
	if err != nil {
		return fail(err)
	}
	if f.hubCfg, err = hubCluster.RESTConfig(); err != nil {
		return fail(err)
	}
	if f.hub, err = newHubClient(f.hubCfg); err != nil {
		return fail(err)
	}
	for _, m := range f.state.Members {
		c, err := localcluster.Attach(m.Dir)
		if err != nil {
			return fail(err)
		}
		cfg, err := c.RESTConfig()
		if err != nil {
			return fail(err)
		}
		mc, err := client.NewWithWatch(cfg, client.Options{Scheme: fleetscheme.New()})
		if err != nil {
			return fail(err)
		}
		f.members = append(f.members, placementMember{name: m.Name, client: mc})
		// Placement picks a member once its agent reports.
		connected, err := watchCondition(ctx, f.hub, m.Name, fleetv1.MemberAgentConnected, metav1.ConditionTrue)
		if err != nil {
			return fail(err)
		}
		if _, err := connected.wait(time.Minute); err != nil {
			return fail(fmt.Errorf("the agent of %s never reported AgentConnected: %w", m.Name, err))
		}
	}
	b.logf("placement: fleet up, every agent connected")
	return f, nil
}

func (b *bench) downPlacementFleet(f *placementFleet) {
	b.logf("placement: taking the hubful fleet down")
	if err := localfleet.Down(f.layout, nil); err != nil {
		b.warn("taking the hubful local fleet down: %v", err)
	}
}

// placementStages are when the CRP's watch first showed each stage on
// every member.
type placementStages struct {
	scheduled, synced, applied time.Time
}

// measurePlacements creates placements one after another and times each
// until Applied; it returns the namespaces placed.
func (b *bench) measurePlacements(ctx context.Context, f *placementFleet, what, target string) (Row, []string, error) {
	var applied, synced sample
	var placed []string
	for i := 1; i <= b.opts.placements; i++ {
		name := fmt.Sprintf("bench-%02d", i)
		start, stages, err := b.placeOnce(ctx, f, name)
		if err != nil {
			return Row{}, placed, fmt.Errorf("placement %d: %w", i, err)
		}
		placed = append(placed, name)
		took := stages.applied.Sub(start)
		b.logf("placement: %d/%d: Applied on %d members after %s (Scheduled %s, Works written %s)", i, b.opts.placements,
			placementMembers, dur(took), dur(stages.scheduled.Sub(start)), dur(stages.synced.Sub(start)))
		applied = append(applied, took)
		synced = append(synced, stages.synced.Sub(start))
	}
	figures := applied.figures()
	figures["work_synchronized_p50_s"] = synced.median().Seconds()
	return Row{
		What:     what,
		Target:   target,
		Measured: applied.spread(),
		How: fmt.Sprintf("hubful local fleet (`flotilla hub` and one `flotilla agent` per member as subprocesses, %d members of 1-2 kwok nodes); "+
			"on the hub a new Namespace holding a ConfigMap and a ResourceQuota, then a PickAll ClusterResourcePlacement selecting it "+
			"(affinity on the members' label, so later joins are never picked); timed from the CRP's Create call until the hub's watch shows "+
			"ClusterResourcePlacementApplied=True at the CRP's generation with %d placementStatuses Applied=True "+
			"(Works on every member written after p50 %s); %d placements one after another, each kept, so the last is measured beside %d others "+
			"(pessimistic, and no deletions run in the background of a sample). "+
			"Anchors: KubeFleet p90 20 s, Karmada p99 1.3 s",
			placementMembers, placementMembers, dur(synced.median()), len(applied), len(applied)-1),
		N:       len(applied),
		Verdict: verdict(applied.quantile(0.99) < placementTarget),
		Figures: figures,
	}, placed, nil
}

// placeOnce creates a namespace with a ConfigMap and a ResourceQuota and a
// placement of it, and waits until it is applied on every member.
func (b *bench) placeOnce(ctx context.Context, f *placementFleet, name string) (time.Time, placementStages, error) {
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: name},
			Data:       map[string]string{"region": "any", "tier": "bench"},
		},
		&corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: name},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
				corev1.ResourcePods:           resource.MustParse(quotaPods),
				corev1.ResourceRequestsCPU:    resource.MustParse("100"),
				corev1.ResourceRequestsMemory: resource.MustParse("200Gi"),
			}},
		},
	}
	for _, o := range objects {
		if err := f.hub.Create(ctx, o); err != nil {
			return time.Time{}, placementStages{}, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	crp := &placementv1.ClusterResourcePlacement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: placementv1.ClusterResourcePlacementSpec{
			ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "", Version: "v1", Kind: "Namespace", Name: name}},
			Policy: &placementv1.PlacementPolicy{
				PlacementType: placementv1.PickAllPlacementType,
				Affinity: &placementv1.Affinity{ClusterAffinity: &placementv1.ClusterAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &placementv1.ClusterSelector{
						ClusterSelectorTerms: []placementv1.ClusterSelectorTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{benchLabel: benchLabelValue}},
						}},
					},
				}},
			},
		},
	}
	var stages placementStages
	note := func(t *time.Time, ok bool) {
		if ok && t.IsZero() {
			*t = time.Now()
		}
	}
	w, err := watchUntil(ctx, f.hub, &placementv1.ClusterResourcePlacementList{}, []client.ListOption{client.MatchingFields{"metadata.name": name}},
		func(obj runtime.Object) bool {
			p, ok := obj.(*placementv1.ClusterResourcePlacement)
			if !ok {
				return false
			}
			note(&stages.scheduled, placementReached(p, placementv1.ClusterResourcePlacementScheduledConditionType, ""))
			note(&stages.synced, placementReached(p, placementv1.ClusterResourcePlacementWorkSynchronizedConditionType, placementv1.ResourceWorkSynchronizedConditionType))
			note(&stages.applied, placementReached(p, placementv1.ClusterResourcePlacementAppliedConditionType, placementv1.ResourcesAppliedConditionType))
			return !stages.applied.IsZero()
		})
	if err != nil {
		return time.Time{}, placementStages{}, fmt.Errorf("watching placement %s: %w", name, err)
	}
	start := time.Now()
	if err := f.hub.Create(ctx, crp); err != nil {
		w.stop()
		return time.Time{}, placementStages{}, fmt.Errorf("creating placement %s: %w", name, err)
	}
	if _, err := w.wait(time.Minute); err != nil {
		// stages stays the watch's until it has delivered: not read here.
		return time.Time{}, placementStages{}, fmt.Errorf("placement %s was not applied: %w (%s)", name, err, b.placementSummary(ctx, f, name))
	}
	return start, stages, nil
}

// placementReached says whether a placement-level condition is True at
// the placement's generation and, when memberType is set, True on every
// member of the fleet.
func placementReached(p *placementv1.ClusterResourcePlacement, placementType, memberType string) bool {
	c := meta.FindStatusCondition(p.Status.Conditions, placementType)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != p.Generation {
		return false
	}
	if memberType == "" {
		return true
	}
	if len(p.Status.PlacementStatuses) != placementMembers {
		return false
	}
	for _, ps := range p.Status.PlacementStatuses {
		if !meta.IsStatusConditionTrue(ps.Conditions, memberType) {
			return false
		}
	}
	return true
}

// placementSummary describes a placement's conditions, for errors.
func (b *bench) placementSummary(ctx context.Context, f *placementFleet, name string) string {
	p := &placementv1.ClusterResourcePlacement{}
	if err := f.hub.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		return err.Error()
	}
	var parts []string
	for _, c := range p.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s@%d", strings.TrimPrefix(c.Type, "ClusterResourcePlacement"), c.Status, c.ObservedGeneration))
	}
	return fmt.Sprintf("generation %d, %d member(s): %s", p.Generation, len(p.Status.PlacementStatuses), strings.Join(parts, ", "))
}

// measureDrift changes a placed ResourceQuota on a member behind the
// agent's back and times until the member shows the hub's value again.
func (b *bench) measureDrift(ctx context.Context, f *placementFleet, placed []string, what, target string) (Row, error) {
	if len(placed) == 0 {
		name := "bench-drift"
		if _, _, err := b.placeOnce(ctx, f, name); err != nil {
			return Row{}, err
		}
		placed = []string{name}
	}
	ns, m := placed[0], f.members[0]
	hubQuota := &corev1.ResourceQuota{}
	if err := f.hub.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quota"}, hubQuota); err != nil {
		return Row{}, err
	}
	want := hubQuota.Spec.Hard[corev1.ResourcePods]
	var reverts sample
	for i := 1; i <= b.opts.drifts; i++ {
		took, err := b.driftOnce(ctx, m, ns, want, 1000+i)
		if err != nil {
			return Row{}, fmt.Errorf("drift %d: %w", i, err)
		}
		b.logf("placement: drift %d/%d: reverted after %s", i, b.opts.drifts, dur(took))
		reverts = append(reverts, took)
	}
	return Row{
		What:     what,
		Target:   target,
		Measured: reverts.spread(),
		How: fmt.Sprintf("on member %s, a JSON merge patch by the member's admin sets spec.hard.pods of the placed ResourceQuota %s/quota "+
			"from %s to a wrong value; timed from the patch call until a watch on the member's API server shows the hub's value again "+
			"(the agent's own watch on the member sees the change and re-applies its Work); %d drifts one after another, "+
			"the target's p99 read as the bound", m.name, ns, want.String(), len(reverts)),
		N:       len(reverts),
		Verdict: verdict(reverts.quantile(0.99) < driftTarget),
		Figures: reverts.figures(),
	}, nil
}

func (b *bench) driftOnce(ctx context.Context, m placementMember, ns string, want resource.Quantity, wrong int) (time.Duration, error) {
	wrongQ := *resource.NewQuantity(int64(wrong), resource.DecimalSI)
	sawWrong := false
	w, err := watchUntil(ctx, m.client, &corev1.ResourceQuotaList{},
		[]client.ListOption{client.InNamespace(ns), client.MatchingFields{"metadata.name": "quota"}},
		func(obj runtime.Object) bool {
			q, ok := obj.(*corev1.ResourceQuota)
			if !ok {
				return false
			}
			pods := q.Spec.Hard[corev1.ResourcePods]
			if pods.Cmp(wrongQ) == 0 {
				sawWrong = true
				return false
			}
			// The watch delivers events in order: after our change, the
			// hub's value is the agent's correction.
			return sawWrong && pods.Cmp(want) == 0
		})
	if err != nil {
		return 0, fmt.Errorf("watching the quota on %s: %w", m.name, err)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quota"}}
	patch := fmt.Sprintf(`{"spec":{"hard":{"pods":%q}}}`, strconv.Itoa(wrong))
	start := time.Now()
	if err := m.client.Patch(ctx, q, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		w.stop()
		return 0, fmt.Errorf("patching the quota on %s: %w", m.name, err)
	}
	at, err := w.wait(time.Minute)
	if err != nil {
		return 0, fmt.Errorf("the quota on %s was not reverted: %w", m.name, err)
	}
	return at.Sub(start), nil
}

// measureAgentIdle samples the CPU time and memory of every agent over a
// window in which nothing changes.
func (b *bench) measureAgentIdle(ctx context.Context, f *placementFleet, what, target string) (Row, error) {
	crps := &placementv1.ClusterResourcePlacementList{}
	if err := f.hub.List(ctx, crps); err != nil {
		return Row{}, err
	}
	for i := range crps.Items {
		p := &crps.Items[i]
		if !placementReached(p, placementv1.ClusterResourcePlacementAppliedConditionType, placementv1.ResourcesAppliedConditionType) {
			return Row{}, fmt.Errorf("placement %s is not applied everywhere: the fleet is not settled (%s)", p.Name, b.placementSummary(ctx, f, p.Name))
		}
	}
	// The last drift correction's status write, and the hub's reaction to
	// it, are over after a heartbeat period.
	select {
	case <-ctx.Done():
		return Row{}, ctx.Err()
	case <-time.After(agentHeartbeat):
	}
	type agentSample struct {
		name       string
		pid        int
		cpu0, cpu1 int64
		rss        int64
	}
	var agents []*agentSample
	for _, m := range f.state.Members {
		rec := f.state.Agents[m.Name]
		if rec == nil || !rec.Alive() {
			return Row{}, fmt.Errorf("the agent of %s is not running", m.Name)
		}
		agents = append(agents, &agentSample{name: m.Name, pid: rec.PID})
	}
	window := b.opts.idleWindow
	b.logf("placement: sampling %d agents at idle for %s (%d placements applied)", len(agents), secs(window), len(crps.Items))
	start := time.Now()
	for _, a := range agents {
		ticks, err := procCPUTicks(a.pid)
		if err != nil {
			return Row{}, err
		}
		a.cpu0 = ticks
	}
	for end := start.Add(window); time.Now().Before(end); {
		for _, a := range agents {
			if rss, err := rssBytes(a.pid); err == nil {
				a.rss = max(a.rss, rss)
			}
		}
		select {
		case <-ctx.Done():
			return Row{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	elapsed := time.Since(start)
	var maxMilli, sumMilli float64
	var maxRSS int64
	var each []string
	for _, a := range agents {
		ticks, err := procCPUTicks(a.pid)
		if err != nil {
			return Row{}, fmt.Errorf("the agent of %s: %w", a.name, err)
		}
		if rss, err := rssBytes(a.pid); err == nil {
			a.rss = max(a.rss, rss)
		}
		a.cpu1 = ticks
		milli := float64(a.cpu1-a.cpu0) / clockTicks / elapsed.Seconds() * 1000
		maxMilli, sumMilli = max(maxMilli, milli), sumMilli+milli
		maxRSS = max(maxRSS, a.rss)
		each = append(each, fmt.Sprintf("%s %.1f mCPU %s", a.name, milli, megabytes(a.rss)))
	}
	return Row{
		What:   what,
		Target: target,
		Measured: fmt.Sprintf("%.1f mCPU (mean %.1f), %s RSS (highest agent each)",
			maxMilli, sumMilli/float64(len(agents)), megabytes(maxRSS)),
		How: fmt.Sprintf("each `flotilla agent` of the fleet (heartbeat period %s, as `flotilla local up` runs it; %d Works each, all applied, "+
			"no change during the window): CPU = utime+stime from /proc/PID/stat over a %s window (ticks of 1/%d s, so ±%.1f mCPU), "+
			"RSS = highest VmRSS from /proc/PID/status, sampled every second; figures of the busiest agent (%s). "+
			"Anchor: KubeFleet's member agent idles at 2.4 mCPU and 33 MB",
			secs(agentHeartbeat), len(crps.Items), secs(window), clockTicks,
			1000/clockTicks/elapsed.Seconds(), strings.Join(each, "; ")),
		N:       len(agents),
		Verdict: verdict(maxMilli <= agentIdleMilliCPU && float64(maxRSS) <= agentIdleRSS),
		Figures: map[string]float64{"max_mcpu": maxMilli, "mean_mcpu": sumMilli / float64(len(agents)), "max_rss_bytes": float64(maxRSS)},
	}, nil
}

// procCPUTicks returns the user and system CPU time of a process, in clock
// ticks: fields 14 and 15 of /proc/PID/stat.
func procCPUTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// After it: field 3 (state) onwards, so utime and stime are at 11 and 12.
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	var total int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %w", pid, err)
		}
		total += n
	}
	return total, nil
}

// measureAgentJoins joins new members with their agents, one at a time.
func (b *bench) measureAgentJoins(ctx context.Context, f *placementFleet, what, target string) (Row, error) {
	bin, err := b.flotilla(ctx)
	if err != nil {
		return Row{}, err
	}
	var joins, calls sample
	for i := 1; i <= b.opts.agentJoins; i++ {
		took, call, err := b.agentJoinOnce(ctx, f, bin, i)
		if err != nil {
			return Row{}, fmt.Errorf("join %d: %w", i, err)
		}
		b.logf("placement: agent join %d/%d: AgentConnected after %s (Join call %s)", i, b.opts.agentJoins, dur(took), dur(call))
		joins = append(joins, took)
		calls = append(calls, call)
	}
	figures := joins.figures()
	figures["join_call_p50_s"] = calls.median().Seconds()
	return Row{
		What:     what,
		Target:   target,
		Measured: joins.spread(),
		How: fmt.Sprintf("a new local cluster with 1 kwok node, started beforehand (not timed); timed from calling enrollment.Join "+
			"(what `flotilla member join` does: check the member is reachable, create the MemberCluster in Agent mode, its hub namespace, "+
			"identity and RBAC, issue a token; p50 %s of the total), then starting `flotilla agent` with the returned hub kubeconfig, "+
			"until the hub's watch shows AgentConnected=True; %d join(s) one after another, each followed by a leave and the cluster's stop. "+
			"Anchor: Karmada p99 6.9 s", dur(calls.median()), len(joins)),
		N:       len(joins),
		Verdict: verdict(joins.quantile(0.99) < agentJoinTarget),
		Figures: figures,
	}, nil
}

// agentJoinOnce starts a cluster, joins it and runs its agent until the
// hub sees the agent; then it takes it all away again.
func (b *bench) agentJoinOnce(ctx context.Context, f *placementFleet, bin string, i int) (took, call time.Duration, err error) {
	name := fmt.Sprintf("agent-join-%d", i)
	c, err := b.startCluster(ctx, name, b.tc.OldestKubernetes(), 1)
	if err != nil {
		return 0, 0, err
	}
	defer b.stopCluster(c)
	kubeconfig, err := c.Kubeconfig()
	if err != nil {
		return 0, 0, err
	}
	dir := filepath.Join(b.work, "agent-joins", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, 0, err
	}
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		return 0, 0, err
	}
	connected, err := watchCondition(ctx, f.hub, name, fleetv1.MemberAgentConnected, metav1.ConditionTrue)
	if err != nil {
		return 0, 0, err
	}

	start := time.Now()
	joined, err := enrollment.Join(ctx, f.hub, enrollment.JoinRequest{
		Name: name, MemberKubeconfig: kubeconfig, UpdateGroup: "joined", HubConfig: f.hubCfg,
	})
	call = time.Since(start)
	if err != nil {
		connected.stop()
		return 0, 0, err
	}
	defer func() {
		if _, err := enrollment.Leave(context.WithoutCancel(ctx), f.hub, enrollment.LeaveRequest{Name: name, Wait: 30 * time.Second}); err != nil {
			b.warn("member %s did not leave: %v", name, err)
		}
	}()
	hubKubeconfig := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(hubKubeconfig, joined.HubKubeconfig, 0o600); err != nil {
		connected.stop()
		return 0, 0, err
	}
	rec, err := process.Start(process.Spec{
		Path: bin,
		Args: []string{"agent",
			"--member-name", name,
			"--hub-kubeconfig", hubKubeconfig,
			"--member-kubeconfig", c.KubeconfigPath(),
			"--state-dir", filepath.Join(dir, "state"),
			"--heartbeat-period", agentHeartbeat.String(),
			"--health-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		},
		Owner: dir,
		Log:   filepath.Join(dir, "agent.log"),
	})
	if err != nil {
		connected.stop()
		return 0, 0, fmt.Errorf("starting the agent: %w", err)
	}
	defer func() {
		if err := rec.Stop(10 * time.Second); err != nil {
			b.warn("stopping the agent of %s: %v", name, err)
		}
	}()
	at, err := connected.wait(30 * time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("member %s never reported AgentConnected: %w; agent log:\n%s", name, err, rec.LogTail(10))
	}
	return at.Sub(start), call, nil
}
