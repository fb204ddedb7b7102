package updaterun

import (
	"context"
	"fmt"
	"sync"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/preflight"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// preflightTimeout bounds one member's scan.
const preflightTimeout = 30 * time.Second

// preflightPassed remembers the upgrade attempts whose scan passed (or
// only warned), so that each attempt is scanned once by this process.
type preflightPassed struct{ ids sync.Map }

func (p *preflightPassed) passed(id string) bool {
	_, ok := p.ids.Load(id)
	return ok
}

func (p *preflightPassed) pass(id string) { p.ids.Store(id, true) }

// preflightPolicy is the run's policy: its strategy as snapshotted at the
// start, Block when it names none.
func preflightPolicy(run *fleetv1.UpdateRun) fleetv1.PreflightPolicy {
	if s := run.Status.StrategySnapshot; s != nil && s.Preflight != "" {
		return s.Preflight
	}
	return fleetv1.PreflightBlock
}

// movesMinor reports whether t moves the member's control plane to
// another minor.
func movesMinor(m *fleetv1.MemberCluster, t upgrade.Target) bool {
	return t.Type != fleetv1.UpgradeNodeImageOnly && preflight.MovesMinor(m.Status.KubernetesVersion, t.KubernetesVersion)
}

// preflightRefusal scans a member whose upgrade is about to start and
// returns why it must not, under the run's policy; "" lets it start. An
// attempt already under way in the provider is never scanned (a hub
// restarting mid-upgrade must not fail what it cannot stop), nor one that
// re-runs an interrupted attempt.
func (r *Reconciler) preflightRefusal(ctx context.Context, run *fleetv1.UpdateRun, m *fleetv1.MemberCluster, p fleetv1.MemberProgress, access *memberaccess.Member, t upgrade.Target, id string, inProgress func() bool) string {
	policy := preflightPolicy(run)
	// A re-run of an attempt a failed-over hub started passed the scan
	// before that attempt, and its member may be mid-upgrade, its API
	// server down until the re-run brings it back.
	rerun := p.Operation != nil && p.Operation.RerunsInterrupted
	if policy == fleetv1.PreflightOff || rerun || !movesMinor(m, t) || r.preflight.passed(id) || inProgress() {
		return ""
	}
	findings, err := r.scanMember(ctx, m, access, t)
	switch {
	case err != nil && policy == fleetv1.PreflightBlock:
		return fmt.Sprintf("refused by the pre-flight scan for APIs %s removes, which could not run: %v (set preflight: Warn or Off in the strategy to upgrade without it)", t.KubernetesVersion, err)
	case err != nil:
		r.Recorder.Eventf(run, nil, "Warning", "PreflightFailed", "Preflight", "the pre-flight scan of %s could not run; upgrading anyway (preflight: Warn): %v", m.Name, err)
	case len(findings) > 0 && policy == fleetv1.PreflightBlock:
		return "refused by the pre-flight scan: " + preflight.Summary(findings)
	case len(findings) > 0:
		r.Recorder.Eventf(run, nil, "Warning", "PreflightFindings", "Preflight", "%s: %s; upgrading anyway (preflight: Warn)", m.Name, preflight.Summary(findings))
	}
	r.preflight.pass(id)
	return ""
}

func (r *Reconciler) scanMember(ctx context.Context, m *fleetv1.MemberCluster, access *memberaccess.Member, t upgrade.Target) ([]preflight.Finding, error) {
	if access == nil {
		return nil, fmt.Errorf("the hub has no kubeconfig for member %s (access mode %s)", m.Name, m.Spec.Access.Mode)
	}
	cfg, err := enrollment.RESTConfig(access.Kubeconfig, m.Spec.Access.Context)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	rep, err := preflight.Scan(ctx, cfg, m.Status.KubernetesVersion, t.KubernetesVersion)
	return rep.Findings, err
}
