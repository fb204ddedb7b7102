package gke

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// This file holds the provider's decisions, pure functions of what GKE
// reports: the versions a cluster can move to, the node images its pools
// can run, what request to send next and how far an upgrade is. The I/O
// around them is in gke.go.

// version is a GKE version: an upstream Kubernetes version and GKE's build
// of it, as GKE writes it (1.37.2-gke.1200). The build fixes the node image
// of each image type (the COS or Ubuntu build GKE ships with it).
type version struct {
	kube rollout.Version
	// build is the N of -gke.N, -1 when the version has none (1.37 or
	// 1.37.2, which GKE accepts as aliases).
	build int
	// raw is the version as GKE spells it, without a leading v.
	raw string
}

func parseVersion(s string) (version, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(s), "v")
	kube, err := rollout.ParseVersion(raw)
	if err != nil {
		return version{}, err
	}
	v := version{kube: kube, build: -1, raw: raw}
	if _, build, ok := strings.Cut(raw, "-gke."); ok {
		n, err := strconv.Atoi(build)
		if err != nil {
			return version{}, fmt.Errorf("version %q: GKE build %q is not a number", s, build)
		}
		v.build = n
	}
	return v, nil
}

// compare orders GKE versions: upstream version, then GKE build.
func (v version) compare(o version) int {
	if c := v.kube.Compare(o.kube); c != 0 {
		return c
	}
	return cmp.Compare(v.build, o.build)
}

// sameVersion reports whether have is want: exactly, when want names a
// GKE build; else the upstream versions match (rollout.SameVersion).
func sameVersion(have, want string) bool {
	w, err := parseVersion(want)
	if err != nil || w.build < 0 {
		return rollout.SameVersion(have, want)
	}
	h, err := parseVersion(have)
	return err == nil && h.compare(w) == 0 && h.kube.HasPatch
}

// sortVersions parses versions and sorts them oldest first, dropping what
// does not parse and duplicates.
func sortVersions(in []string) []version {
	var out []version
	for _, s := range in {
		v, err := parseVersion(s)
		if err != nil || !v.kube.HasPatch {
			continue
		}
		if !slices.ContainsFunc(out, func(o version) bool { return o.raw == v.raw }) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, version.compare)
	return out
}

func raws(vs []version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.raw
	}
	return out
}

// masterVersions are the control-plane versions GKE offers the cluster: its
// release channel's valid versions when it is enrolled in one, else the
// server config's validMasterVersions (GetServerConfig).
func masterVersions(c *containerpb.Cluster, cfg *containerpb.ServerConfig) []string {
	if ch := c.GetReleaseChannel().GetChannel(); ch.Number() != 0 { // enrolled in a channel
		for _, cc := range cfg.GetChannels() {
			if cc.GetChannel() == ch {
				return cc.GetValidVersions()
			}
		}
	}
	return cfg.GetValidMasterVersions()
}

// upgradeTargets are the offered versions a control plane at current may
// take under GKE's rules, oldest first: not older than current, same major,
// at most one minor up. current is among them (a member already there
// resolves to it, rather than being refused as unreachable).
func upgradeTargets(current string, offered []string) []string {
	cur, err := parseVersion(current)
	if err != nil {
		return nil
	}
	var out []version
	for _, v := range sortVersions(append(slices.Clone(offered), cur.raw)) {
		if v.kube.Major == cur.kube.Major && v.kube.Minor <= cur.kube.Minor+1 && v.compare(cur) >= 0 {
			out = append(out, v)
		}
	}
	return raws(out)
}

// upgradableVersions are the upgrades the control plane is offered: the
// targets less the version it runs.
func upgradableVersions(current string, offered []string) []string {
	return slices.DeleteFunc(upgradeTargets(current, offered), func(v string) bool { return sameVersion(v, current) })
}

// nodeVersions are the node versions offered (validNodeVersions) for
// Kubernetes version kube, oldest first: those of the same upstream version
// (patch, or minor when kube has none) that are not newer than limit, the
// version the control plane runs or is to run (GKE refuses nodes newer
// than their control plane). An empty limit sets none.
func nodeVersions(kube, limit string, offered []string) []string {
	want, err := rollout.ParseVersion(kube)
	if err != nil {
		return nil
	}
	lim, limErr := parseVersion(limit)
	var out []version
	for _, v := range sortVersions(offered) {
		if v.kube.Compare(want) != 0 {
			continue
		}
		if limErr == nil && (v.compare(lim) > 0 && (lim.build >= 0 || v.kube.Compare(lim.kube) > 0)) {
			continue
		}
		out = append(out, v)
	}
	return raws(out)
}

// nodeLimit is the newest version a pool may get when the control plane is
// to run kube: kube itself when it names a GKE build, else the newest
// offered master version of that Kubernetes version, else the version the
// control plane runs.
func nodeLimit(kube, current string, masters []string) string {
	if v, err := parseVersion(kube); err == nil && v.build >= 0 {
		return v.raw
	}
	var limit string
	for _, m := range sortVersions(masters) {
		if rollout.SameVersion(m.raw, kube) {
			limit = m.raw
		}
	}
	if limit == "" && rollout.SameVersion(current, kube) {
		return strings.TrimPrefix(current, "v")
	}
	return limit
}

// imageOS is the OS of a GKE image type as the hub keys node images by it:
// the value of the nodes' cloud.google.com/gke-os-distribution label (cos,
// ubuntu); Windows Server pools are keyed windows, by kubernetes.io/os.
func imageOS(imageType string) string {
	t := strings.ToUpper(imageType)
	switch {
	case strings.HasPrefix(t, "COS"):
		return "cos"
	case strings.HasPrefix(t, "UBUNTU"):
		return "ubuntu"
	case strings.HasPrefix(t, "WINDOWS"):
		return "windows"
	case t == "":
		return "cos" // GKE's default image type
	}
	return strings.ToLower(imageType)
}

// nodeImages are the node images the cluster's pools can run on Kubernetes
// version kube: for each OS of its pools, each offered node version (GKE
// ties the node image to the node version: an image is "the COS build of
// 1.37.2-gke.1200"), oldest first.
func nodeImages(pools []*containerpb.NodePool, versions []string) []upgrade.NodeImage {
	var oses []string
	for _, p := range pools {
		if os := imageOS(p.GetConfig().GetImageType()); !slices.Contains(oses, os) {
			oses = append(oses, os)
		}
	}
	slices.Sort(oses)
	var out []upgrade.NodeImage
	for _, os := range oses {
		for _, v := range versions {
			out = append(out, upgrade.NodeImage{OS: os, Version: v})
		}
	}
	return out
}

// step is one upgrade request: the control plane's (pool "") or one pool's.
type step struct {
	pool      string
	version   string
	imageType string
}

func (s step) String() string {
	if s.pool == "" {
		return "control plane to " + s.version
	}
	return fmt.Sprintf("node pool %s to %s", s.pool, s.version)
}

// plan lists the requests that take the cluster to the target, in order,
// leaving out what is there already: Full moves the control plane, then
// each pool; ControlPlaneOnly the control plane; NodeImageOnly each pool to
// the image (node version) selected for its OS. A pool's image type and
// upgrade settings are kept.
func plan(c *containerpb.Cluster, t upgrade.Target) ([]step, error) {
	var steps []step
	master := strings.TrimPrefix(t.KubernetesVersion, "v")
	if t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeControlPlaneOnly {
		if master == "" {
			return nil, fmt.Errorf("a %s upgrade needs a Kubernetes version", t.Type)
		}
		if !sameVersion(c.GetCurrentMasterVersion(), master) {
			steps = append(steps, step{version: master})
		}
	}
	if t.Type == fleetv1.UpgradeControlPlaneOnly {
		return steps, nil
	}
	for _, p := range c.GetNodePools() {
		want := poolImage(t, imageOS(p.GetConfig().GetImageType()))
		switch {
		case want == "" && t.Type == fleetv1.UpgradeNodeImageOnly:
			return nil, fmt.Errorf("no node image was selected for node pool %s (%s nodes)", p.GetName(), imageOS(p.GetConfig().GetImageType()))
		case want == "":
			want = master
		}
		if !sameVersion(p.GetVersion(), want) {
			steps = append(steps, step{pool: p.GetName(), version: want, imageType: p.GetConfig().GetImageType()})
		}
	}
	return steps, nil
}

// poolImage is the node version the target selects for pools of os.
func poolImage(t upgrade.Target, os string) string {
	for _, img := range t.NodeImages {
		if img.OS == os {
			return strings.TrimPrefix(img.Version, "v")
		}
	}
	if len(t.NodeImages) == 0 && t.NodeImage != "" {
		return strings.TrimPrefix(t.NodeImage, "v")
	}
	return ""
}

// clusterOps are the operations of one cluster from ListOperations (which
// lists a location's): those whose target is the cluster or one of its
// pools.
func clusterOps(ops []*containerpb.Operation, cluster string) []*containerpb.Operation {
	var out []*containerpb.Operation
	for _, op := range ops {
		if opCluster(op) == cluster {
			out = append(out, op)
		}
	}
	return out
}

// opCluster and opPool read an operation's targetLink
// (.../clusters/C or .../clusters/C/nodePools/P).
func opCluster(op *containerpb.Operation) string {
	_, rest, ok := strings.Cut(op.GetTargetLink(), "/clusters/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func opPool(op *containerpb.Operation) string {
	_, rest, ok := strings.Cut(op.GetTargetLink(), "/nodePools/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func isUpgrade(op *containerpb.Operation) bool {
	switch op.GetOperationType() {
	case containerpb.Operation_UPGRADE_MASTER, containerpb.Operation_UPGRADE_NODES:
		return true
	}
	return false
}

// running is the first operation on the cluster that is not DONE: GKE runs
// one at a time on a cluster and refuses another meanwhile.
func running(ops []*containerpb.Operation) *containerpb.Operation {
	for _, op := range ops {
		if op.GetStatus() != containerpb.Operation_DONE {
			return op
		}
	}
	return nil
}

// failed is the newest failed upgrade of s's resource that ended after the
// attempt started: this attempt's own failure, which must neither be sent
// again (the hub polls Start) nor hidden. An older failure belongs to an
// earlier attempt that a retry means to try again.
func failed(ops []*containerpb.Operation, s step, attemptStart time.Time) *containerpb.Operation {
	var newest *containerpb.Operation
	for _, op := range ops {
		if op.GetStatus() != containerpb.Operation_DONE || !isUpgrade(op) || opPool(op) != s.pool || opError(op) == "" {
			continue
		}
		end := opTime(op.GetEndTime(), op.GetStartTime())
		if end.Before(attemptStart) {
			continue
		}
		if newest == nil || end.After(opTime(newest.GetEndTime(), newest.GetStartTime())) {
			newest = op
		}
	}
	return newest
}

func opTime(values ...string) time.Time {
	for _, v := range values {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// opError is GKE's reason for a failed operation: its error status (the
// operation's statusMessage and conditions are deprecated for it).
func opError(op *containerpb.Operation) string {
	if msg := op.GetError().GetMessage(); msg != "" {
		return msg
	}
	if code := op.GetError().GetCode(); code != 0 {
		return fmt.Sprintf("error code %d", code)
	}
	return ""
}

// describeOp names an operation for a message: type, name, status, target.
func describeOp(op *containerpb.Operation) string {
	s := fmt.Sprintf("%s %s (%s", op.GetOperationType(), op.GetName(), op.GetStatus())
	if pct := opPercent(op); pct >= 0 {
		s += fmt.Sprintf(", %d%%", pct)
	}
	s += ")"
	if p := opPool(op); p != "" {
		s += " on node pool " + p
	}
	return s
}

// opPercent is an operation's progress from its metrics where GKE reports
// them (NODES_DONE of NODES_TOTAL for node upgrades), else -1.
func opPercent(op *containerpb.Operation) int {
	var done, total int64 = -1, -1
	for _, m := range op.GetProgress().GetMetrics() {
		switch m.GetName() {
		case "NODES_DONE", "NODES_COMPLETE":
			done = m.GetIntValue()
		case "NODES_TOTAL":
			total = m.GetIntValue()
		}
	}
	if done < 0 || total <= 0 {
		return -1
	}
	return int(done * 100 / total)
}

// decision is what Start does and Progress reports for one look at GKE.
type decision struct {
	// send is the request Start sends; nil when it sends nothing.
	send     *step
	progress upgrade.Progress
}

// decide looks at the cluster and its operations: a running operation is
// waited for; this attempt's failed upgrade is reported, never re-sent;
// with every step done the upgrade succeeded; else the next step is sent,
// and the upgrade is NotStarted until a first request of this attempt
// shows among GKE's operations.
func decide(c *containerpb.Cluster, ops []*containerpb.Operation, t upgrade.Target, attemptStart time.Time) decision {
	steps, err := plan(c, t)
	if err != nil {
		// The target does not fit the cluster: nothing is sent.
		return decision{progress: upgrade.Progress{Phase: upgrade.PhaseFailed, Message: err.Error()}}
	}
	if op := running(ops); op != nil {
		p := upgrade.Progress{Phase: upgrade.PhaseRunning, Message: "GKE is running " + describeOp(op), StartedAt: opTime(op.GetStartTime())}
		return decision{progress: p}
	}
	if len(steps) == 0 {
		return decision{progress: upgrade.Progress{Phase: upgrade.PhaseSucceeded, Message: atTargetMessage(c, t)}}
	}
	next := steps[0]
	if op := failed(ops, next, attemptStart); op != nil {
		p := upgrade.Progress{Phase: upgrade.PhaseFailed, StartedAt: opTime(op.GetStartTime()),
			Message: fmt.Sprintf("GKE %s failed: %s", describeOp(op), opError(op))}
		return decision{progress: p}
	}
	msg := fmt.Sprintf("upgrading the %s (the last step)", next)
	if len(steps) > 1 {
		msg = fmt.Sprintf("upgrading the %s (%d steps left)", next, len(steps))
	}
	phase := upgrade.PhaseRunning
	if !startedSince(ops, attemptStart) {
		// Nothing of this attempt reached GKE yet: the hub may still scan
		// the member before it starts, and after a failover start it anew.
		phase = upgrade.PhaseNotStarted
	}
	return decision{send: &next, progress: upgrade.Progress{Phase: phase, Message: msg}}
}

// startedSince reports whether an upgrade of the cluster or a pool started
// since the attempt did: this attempt has sent a request.
func startedSince(ops []*containerpb.Operation, attemptStart time.Time) bool {
	for _, op := range ops {
		if isUpgrade(op) && !opTime(op.GetStartTime()).Before(attemptStart) {
			return true
		}
	}
	return false
}

func atTargetMessage(c *containerpb.Cluster, t upgrade.Target) string {
	switch t.Type {
	case fleetv1.UpgradeControlPlaneOnly:
		return "GKE reports the control plane at " + c.GetCurrentMasterVersion()
	case fleetv1.UpgradeNodeImageOnly:
		return fmt.Sprintf("GKE reports every node pool on its selected image (%s)", poolVersions(c))
	}
	return fmt.Sprintf("GKE reports the control plane at %s and every node pool at its target (%s)", c.GetCurrentMasterVersion(), poolVersions(c))
}

func poolVersions(c *containerpb.Cluster) string {
	parts := make([]string, 0, len(c.GetNodePools()))
	for _, p := range c.GetNodePools() {
		parts = append(parts, p.GetName()+" "+p.GetVersion())
	}
	return strings.Join(parts, ", ")
}

// attemptStart is when the hub started the attempt an operation id names:
// the controller writes ids as RUN_MEMBER-UNIXSECONDS, with -aN after a
// first attempt. The zero time when the id has no such suffix: then every
// failure GKE still lists counts as this attempt's, so nothing is re-sent.
func attemptStart(operationID string) time.Time {
	parts := strings.Split(operationID, "-")
	if n := len(parts); n > 1 && strings.HasPrefix(parts[n-1], "a") {
		if _, err := strconv.Atoi(parts[n-1][1:]); err == nil {
			parts = parts[:n-1]
		}
	}
	if len(parts) < 2 {
		return time.Time{}
	}
	secs, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	// A second's slack: the id keeps whole seconds.
	return time.Unix(secs, 0).Add(-time.Second)
}

// view is the provider's view of a cluster for `member show`.
func view(c *containerpb.Cluster, ops []*containerpb.Operation, masters, nodes []string) upgrade.MemberView {
	v := upgrade.MemberView{
		ControlPlaneVersion: c.GetCurrentMasterVersion(),
		State:               c.GetStatus().String(),
		UpgradableVersions:  upgradableVersions(c.GetCurrentMasterVersion(), masters),
		Windows:             windows(c.GetMaintenancePolicy()),
	}
	for _, cond := range c.GetConditions() {
		if cond.GetMessage() != "" {
			v.State += ": " + cond.GetMessage()
		}
	}
	if op := running(ops); op != nil {
		v.Operation = describeOp(op)
	}
	for _, p := range c.GetNodePools() {
		pv := upgrade.PoolView{
			Name:              p.GetName(),
			OS:                imageOS(p.GetConfig().GetImageType()) + " (" + cmp.Or(p.GetConfig().GetImageType(), "COS_CONTAINERD") + ")",
			KubernetesVersion: p.GetVersion(),
			NodeImageVersion:  p.GetVersion(),
			Count:             poolSize(p),
			MaxSurge:          maxSurge(p.GetUpgradeSettings()),
			State:             p.GetStatus().String(),
		}
		if latest := nodeVersions(p.GetVersion(), c.GetCurrentMasterVersion(), nodes); len(latest) > 0 {
			pv.LatestNodeImageVersion = latest[len(latest)-1]
		}
		v.Pools = append(v.Pools, pv)
	}
	return v
}

// poolSize is a pool's configured size: initialNodeCount in each of its
// zones. GKE's NodePool carries no live node count (the autoscaler and the
// instance groups have it).
func poolSize(p *containerpb.NodePool) int32 {
	zones := max(int32(len(p.GetLocations())), 1)
	return p.GetInitialNodeCount() * zones
}

func maxSurge(s *containerpb.NodePool_UpgradeSettings) string {
	if s == nil {
		return ""
	}
	if s.GetStrategy() == containerpb.NodePoolUpdateStrategy_BLUE_GREEN {
		return "blue-green"
	}
	return fmt.Sprintf("%d (maxUnavailable %d)", s.GetMaxSurge(), s.GetMaxUnavailable())
}

// windows reads GKE's maintenance policy: its daily or recurring window
// and its exclusions. GKE holds its automatic upgrades to them; upgrades a
// user (here, the hub) requests are not held to them.
func windows(mp *containerpb.MaintenancePolicy) []upgrade.MaintenanceWindow {
	w := mp.GetWindow()
	if w == nil {
		return nil
	}
	var out []upgrade.MaintenanceWindow
	if d := w.GetDailyMaintenanceWindow(); d != nil {
		s := "daily from " + d.GetStartTime() + " UTC"
		if d.GetDuration() != "" {
			s += " for " + d.GetDuration()
		}
		out = append(out, upgrade.MaintenanceWindow{Name: "dailyMaintenanceWindow", Schedule: s})
	}
	if r := w.GetRecurringWindow(); r != nil {
		out = append(out, upgrade.MaintenanceWindow{Name: "recurringWindow",
			Schedule: fmt.Sprintf("%s, first %s", r.GetRecurrence(), timeWindow(r.GetWindow()))})
	}
	if r := w.GetRecurringMaintenanceWindow(); r != nil {
		s := r.GetRecurrence()
		if st := r.GetWindowStartTime(); st != nil {
			s += fmt.Sprintf(" at %02d:%02d UTC", st.GetHours(), st.GetMinutes())
		}
		if d := r.GetWindowDuration(); d != nil {
			s += " for " + d.AsDuration().String()
		}
		if du := r.GetDelayUntil(); du != nil {
			s += fmt.Sprintf(", not before %04d-%02d-%02d", du.GetYear(), du.GetMonth(), du.GetDay())
		}
		out = append(out, upgrade.MaintenanceWindow{Name: "recurringMaintenanceWindow", Schedule: s})
	}
	names := make([]string, 0, len(w.GetMaintenanceExclusions()))
	for name := range w.GetMaintenanceExclusions() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ex := w.GetMaintenanceExclusions()[name]
		s := timeWindow(ex)
		if o := ex.GetMaintenanceExclusionOptions(); o != nil {
			s += " (" + o.GetScope().String() + ")"
		} else {
			s += " (NO_UPGRADES)"
		}
		out = append(out, upgrade.MaintenanceWindow{Name: "maintenanceExclusion/" + name, Schedule: s, Exclusion: true})
	}
	return out
}

func timeWindow(tw *containerpb.TimeWindow) string {
	format := func(ts interface{ AsTime() time.Time }) string { return ts.AsTime().UTC().Format(time.RFC3339) }
	start, end := "?", "?"
	if tw.GetStartTime() != nil {
		start = format(tw.GetStartTime())
	}
	if tw.GetEndTime() != nil {
		end = format(tw.GetEndTime())
	}
	return start + " to " + end
}
