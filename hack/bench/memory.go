package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
)

// memoryTarget is DESIGN.md §8's target at 1,000 members (KubeFleet's hub
// agent: 234 MB).
const (
	memoryTarget        = 150e6
	memoryTargetMembers = 1000
)

// runMemory runs `flotilla hub` as a subprocess against a hub holding many
// MemberClusters that reach a few real clusters, lets it probe them all for
// a while, and reads its memory.
func runMemory(ctx context.Context, b *bench) []Row {
	what := fmt.Sprintf("hub controller memory at %s members", count(b.opts.members))
	target := ""
	if b.opts.members == memoryTargetMembers {
		target = "< " + megabytes(memoryTarget)
	}
	rows, err := b.measureMemory(ctx, what, target)
	if err != nil {
		return []Row{skipped("memory", what, target, err.Error())}
	}
	return rows
}

func (b *bench) measureMemory(ctx context.Context, what, target string) ([]Row, error) {
	bin, err := b.flotilla(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.work, "memory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	specs := []clusterSpec{{name: "mem-hub", version: b.tc.NewestKubernetes()}}
	for i := range b.opts.memTargets {
		specs = append(specs, clusterSpec{name: fmt.Sprintf("mem-member-%d", i+1), version: b.tc.OldestKubernetes(), nodes: localcluster.DefaultNodes})
	}
	b.logf("memory: starting a hub and %d member cluster(s)", b.opts.memTargets)
	clusters, err := b.startClusters(ctx, specs...)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range clusters {
			b.stopCluster(c)
		}
	}()
	hubCluster, targets := clusters[0], clusters[1:]
	hubCfg, err := hubCluster.RESTConfig()
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
	kubeconfigs := make([][]byte, len(targets))
	for i, t := range targets {
		if kubeconfigs[i], err = t.Kubeconfig(); err != nil {
			return nil, err
		}
	}
	period := b.opts.memHeartbeat.Round(time.Second)
	seeds := make([]memberSeed, b.opts.members)
	for i := range seeds {
		seeds[i] = memberSeed{
			name: fmt.Sprintf("member-%04d", i+1), group: "default",
			kubeconfig: kubeconfigs[i%len(kubeconfigs)], heartbeat: int32(period / time.Second),
		}
	}
	b.logf("memory: creating %d MemberClusters with their kubeconfig Secrets", len(seeds))
	if err := seedMembers(ctx, hc, seeds); err != nil {
		return nil, err
	}

	ports, err := localcluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	metrics, health := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	rec, err := process.Start(process.Spec{
		Path: bin,
		Args: []string{"hub", "--kubeconfig", hubCluster.KubeconfigPath(),
			"--metrics-bind-address", metrics, "--health-probe-bind-address", health,
			"--state-dir", filepath.Join(dir, "hub"), "--allow-exec"},
		Owner: dir,
		Log:   filepath.Join(dir, "hub.log"),
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := rec.Stop(10 * time.Second); err != nil {
			b.warn("stopping the hub: %v", err)
		}
	}()
	if err := waitHTTPOK(ctx, "http://"+health+"/readyz", time.Minute); err != nil {
		return nil, fmt.Errorf("%w; hub log:\n%s", err, rec.LogTail(10))
	}
	b.logf("memory: `flotilla hub` (pid %d) ready; waiting until it has probed every member", rec.PID)
	ready := time.Now()
	peak := int64(0)
	sampleRSS := func() {
		if rss, err := rssBytes(rec.PID); err == nil {
			peak = max(peak, rss)
		}
	}

	// The first sweep: every member probed once.
	for {
		sampleRSS()
		probed, err := countProbed(ctx, hc, time.Time{})
		if err != nil {
			return nil, err
		}
		if probed == len(seeds) {
			break
		}
		if !rec.Alive() {
			return nil, fmt.Errorf("the hub exited; log:\n%s", rec.LogTail(10))
		}
		if time.Since(ready) > b.opts.memProbeTimeout {
			return nil, fmt.Errorf("only %d of %d members probed after %s", probed, len(seeds), b.opts.memProbeTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	sweep := time.Since(ready)
	swept := time.Now()
	b.logf("memory: all %d members probed %s after the hub was ready; probing for %d more heartbeat periods of %s", len(seeds), dur(sweep), b.opts.memPeriods, secs(period))

	// Steady state: the hub keeps probing every member each period.
	steady := time.Duration(b.opts.memPeriods) * period
	for end := time.Now().Add(steady); time.Now().Before(end); {
		sampleRSS()
		if !rec.Alive() {
			return nil, fmt.Errorf("the hub exited; log:\n%s", rec.LogTail(10))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	rss, err := rssBytes(rec.PID)
	if err != nil {
		return nil, err
	}
	peak = max(peak, rss)
	// Heartbeat times have whole seconds: a second of slack.
	reprobed, err := countProbed(ctx, hc, swept.Add(time.Second))
	if err != nil {
		return nil, err
	}
	heap, heapErr := 0.0, error(nil)
	if m, err := scrapeMetrics(ctx, "http://"+metrics+"/metrics"); err != nil {
		heapErr = err
	} else if v, ok := m.value("go_memstats_heap_inuse_bytes"); ok {
		heap = v
	} else {
		heapErr = fmt.Errorf("no go_memstats_heap_inuse_bytes")
	}

	measured := fmt.Sprintf("RSS %s (peak %s while probing)", megabytes(rss), megabytes(peak))
	figures := map[string]float64{"rss_bytes": float64(rss), "peak_rss_bytes": float64(peak)}
	if heapErr == nil {
		measured += fmt.Sprintf(", Go heap in use %s", megabytes(int64(heap)))
		figures["heap_inuse_bytes"] = heap
	} else {
		b.warn("memory: no Go heap figure from the hub's /metrics: %v", heapErr)
	}
	row := Row{
		What:     what,
		Target:   target,
		Measured: measured,
		How: fmt.Sprintf("`%s hub` as a subprocess (membership and UpdateRun controllers, leader election, default 32 concurrent probes); "+
			"%s MemberClusters, each with its own kubeconfig Secret, spread over %d real member clusters of %d kwok nodes; heartbeat period %s; "+
			"VmRSS from /proc/PID/status after %d heartbeat periods of steady probing (peak: highest 1 s sample since ready); heap from /metrics",
			filepath.Base(bin), count(len(seeds)), len(targets), localcluster.DefaultNodes, secs(period), b.opts.memPeriods),
		N:       len(seeds),
		Figures: figures,
	}
	if target != "" {
		row.Verdict = verdict(float64(peak) < memoryTarget)
	}
	return []Row{row, {
		What: fmt.Sprintf("hub probing %s members: first sweep, then each period", count(len(seeds))),
		Measured: fmt.Sprintf("all probed %s after ready; %d/%d probed again within %d periods of %s",
			dur(sweep), reprobed, len(seeds), b.opts.memPeriods, secs(period)),
		How: "MemberClusters with a lastHeartbeatTime, listed every second until all have one, then once more at the end of the steady phase",
		N:   len(seeds),
		Figures: map[string]float64{
			"first_sweep_s": sweep.Seconds(), "reprobed": float64(reprobed),
		},
	}}, nil
}

// countProbed counts the members the hub has probed successfully since a
// time (zero: ever).
func countProbed(ctx context.Context, c client.Client, since time.Time) (int, error) {
	list := &fleetv1.MemberClusterList{}
	if err := c.List(ctx, list); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range list.Items {
		hb := m.Status.LastHeartbeatTime
		if hb != nil && !hb.Time.Before(since) && meta.IsStatusConditionTrue(m.Status.Conditions, fleetv1.MemberReachable) {
			n++
		}
	}
	return n, nil
}

// rssBytes is the resident memory of a process (VmRSS of /proc/PID/status).
func rssBytes(pid int) (int64, error) {
	const field = "VmRSS"
	v := procField(fmt.Sprintf("/proc/%d/status", pid), field)
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s of pid %d: %q", field, pid, v)
	}
	return kb * 1024, nil
}
