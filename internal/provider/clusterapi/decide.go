package clusterapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// NodeOS is the OS Flotilla files a Cluster's node images under: a
// ClusterClass variable names one image for every machine it patches, and
// Cluster API's kubeadm machines are Linux.
const NodeOS = "linux"

// HeldByFlotilla is the value of the hold-upgrade-sequence annotation that
// a ControlPlaneOnly upgrade puts on the first MachineDeployment (and
// MachinePool) topology, so that the workers keep their version. A Full
// upgrade removes the annotations with this value, and only those.
const HeldByFlotilla = "flotilla.dev/control-plane-only"

// errNoTopology refuses a Cluster that Flotilla cannot upgrade: one
// without a managed topology has no spec.topology.version to set.
var errNoTopology = errors.New("has no managed topology (spec.topology.classRef): Flotilla upgrades a Cluster by its spec.topology.version")

// desiredCluster is the Cluster as Start wants it for t: its
// spec.topology.version at the target (Full, ControlPlaneOnly), the class
// variable imageVariable set to the target's node image (Full and
// NodeImageOnly with an image) and, for ControlPlaneOnly, the workers'
// upgrade held. It returns nil when the Cluster already asks for all of
// that: Start then sends nothing, however often it is called.
func desiredCluster(c *clusterv1.Cluster, class *clusterv1.ClusterClass, imageVariable string, t upgrade.Target) (*clusterv1.Cluster, error) {
	if c.Spec.Topology.ClassRef.Name == "" {
		return nil, fmt.Errorf("cluster %s/%s %w", c.Namespace, c.Name, errNoTopology)
	}
	out := c.DeepCopy()
	topo := &out.Spec.Topology
	if t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeControlPlaneOnly {
		if t.KubernetesVersion == "" {
			return nil, fmt.Errorf("a %s upgrade needs a Kubernetes version", t.Type)
		}
		if !rollout.SameVersion(topo.Version, t.KubernetesVersion) {
			topo.Version = upgrade.NormalizeVersion(t.KubernetesVersion)
		}
	}
	switch t.Type {
	case fleetv1.UpgradeControlPlaneOnly:
		holdWorkers(topo)
	case fleetv1.UpgradeFull:
		releaseWorkers(topo)
	}
	if image := targetImage(t); image != "" && t.Type != fleetv1.UpgradeControlPlaneOnly {
		if imageVariable == "" {
			return nil, errors.New("the target names a node image but the member sets no nodeImageVariable (spec.provider.clusterAPI.nodeImageVariable)")
		}
		if _, err := classVariable(class, imageVariable); err != nil {
			return nil, err
		}
		if err := setVariable(topo, imageVariable, image); err != nil {
			return nil, err
		}
	}
	if equalJSON(c.Spec, out.Spec) {
		return nil, nil
	}
	return out, nil
}

// targetImage is the one node image a target names: a ClusterClass
// variable holds one image for all of a Cluster's machines.
func targetImage(t upgrade.Target) string {
	if t.NodeImage != "" {
		return t.NodeImage
	}
	for _, img := range t.NodeImages {
		if img.OS == NodeOS || len(t.NodeImages) == 1 {
			return img.Version
		}
	}
	return ""
}

// holdWorkers puts the hold-upgrade-sequence annotation on the first
// MachineDeployment and MachinePool topology (Cluster API then holds the
// version upgrade of that one and every later one), unless one is held
// already.
func holdWorkers(topo *clusterv1.Topology) {
	hold := func(meta *clusterv1.ObjectMeta, held bool) {
		if held {
			return
		}
		if meta.Annotations == nil {
			meta.Annotations = map[string]string{}
		}
		meta.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation] = HeldByFlotilla
	}
	if mds := topo.Workers.MachineDeployments; len(mds) > 0 {
		held := slices.ContainsFunc(mds, func(md clusterv1.MachineDeploymentTopology) bool {
			_, ok := md.Metadata.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation]
			return ok
		})
		hold(&mds[0].Metadata, held)
	}
	if mps := topo.Workers.MachinePools; len(mps) > 0 {
		held := slices.ContainsFunc(mps, func(mp clusterv1.MachinePoolTopology) bool {
			_, ok := mp.Metadata.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation]
			return ok
		})
		hold(&mps[0].Metadata, held)
	}
}

// releaseWorkers removes the holds a ControlPlaneOnly upgrade put on the
// workers; holds that someone else set stay.
func releaseWorkers(topo *clusterv1.Topology) {
	release := func(meta *clusterv1.ObjectMeta) {
		if meta.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation] == HeldByFlotilla {
			delete(meta.Annotations, clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation)
			if len(meta.Annotations) == 0 {
				meta.Annotations = nil
			}
		}
	}
	for i := range topo.Workers.MachineDeployments {
		release(&topo.Workers.MachineDeployments[i].Metadata)
	}
	for i := range topo.Workers.MachinePools {
		release(&topo.Workers.MachinePools[i].Metadata)
	}
}

// classVariable is the schema of the variable name that the ClusterClass
// defines, inline (spec.variables) or through a patch's variable discovery
// (status.variables). Flotilla sets only string variables.
func classVariable(class *clusterv1.ClusterClass, name string) (*clusterv1.JSONSchemaProps, error) {
	if class == nil {
		return nil, fmt.Errorf("the Cluster's ClusterClass was not found, so Flotilla cannot check that it defines the variable %q", name)
	}
	var schema *clusterv1.JSONSchemaProps
	for i := range class.Spec.Variables {
		if class.Spec.Variables[i].Name == name {
			schema = &class.Spec.Variables[i].Schema.OpenAPIV3Schema
		}
	}
	for i := range class.Status.Variables {
		if v := &class.Status.Variables[i]; schema == nil && v.Name == name && len(v.Definitions) > 0 {
			schema = &v.Definitions[0].Schema.OpenAPIV3Schema
		}
	}
	if schema == nil {
		return nil, fmt.Errorf("ClusterClass %s/%s defines no variable %q (spec.variables, status.variables), so it has no node image Flotilla can set", class.Namespace, class.Name, name)
	}
	if schema.Type != "string" {
		return nil, fmt.Errorf("variable %q of ClusterClass %s/%s is of type %q: Flotilla sets a node image only in a string variable", name, class.Namespace, class.Name, schema.Type)
	}
	return schema, nil
}

// offeredImages are the node images a ClusterClass offers: the enum of the
// string variable that selects the image, in its order (taken as oldest
// first). None when the variable has no enum: Cluster API keeps no
// catalogue of images, and Flotilla does not guess one.
func offeredImages(class *clusterv1.ClusterClass, name string) ([]upgrade.NodeImage, error) {
	schema, err := classVariable(class, name)
	if err != nil {
		return nil, err
	}
	var out []upgrade.NodeImage
	for _, raw := range schema.Enum {
		var s string
		if json.Unmarshal(raw.Raw, &s) == nil && s != "" {
			out = append(out, upgrade.NodeImage{OS: NodeOS, Version: s})
		}
	}
	return out, nil
}

// setVariable sets the Cluster's variable name to value, where the
// Cluster sets it and in every override of the control plane, a
// MachineDeployment or a MachinePool topology that sets it too (an
// override would otherwise keep the old image on those machines).
func setVariable(topo *clusterv1.Topology, name, value string) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return err
	}
	set := func(vars []clusterv1.ClusterVariable, add bool) []clusterv1.ClusterVariable {
		for i := range vars {
			if vars[i].Name == name {
				if variableString(vars[i]) != value {
					vars[i].Value.Raw = raw
				}
				return vars
			}
		}
		if add {
			vars = append(vars, clusterv1.ClusterVariable{Name: name})
			vars[len(vars)-1].Value.Raw = raw
		}
		return vars
	}
	topo.Variables = set(topo.Variables, true)
	cp := &topo.ControlPlane.Variables
	cp.Overrides = set(cp.Overrides, false)
	for i := range topo.Workers.MachineDeployments {
		o := &topo.Workers.MachineDeployments[i].Variables
		o.Overrides = set(o.Overrides, false)
	}
	for i := range topo.Workers.MachinePools {
		o := &topo.Workers.MachinePools[i].Variables
		o.Overrides = set(o.Overrides, false)
	}
	return nil
}

// variableString is a variable's value as a string; "" when it is not one.
func variableString(v clusterv1.ClusterVariable) string {
	var s string
	if json.Unmarshal(v.Value.Raw, &s) != nil {
		return ""
	}
	return s
}

// imageOf is the value of the image variable for one MachineDeployment or
// MachinePool topology (its override, else the Cluster's); "" when unset.
func imageOf(c *clusterv1.Cluster, name string, overrides []clusterv1.ClusterVariable) string {
	if name == "" {
		return ""
	}
	for _, v := range overrides {
		if v.Name == name {
			return variableString(v)
		}
	}
	for _, v := range c.Spec.Topology.Variables {
		if v.Name == name {
			return variableString(v)
		}
	}
	return ""
}

// availableVersions are the versions a ClusterClass offers at or above the
// Cluster's version: its spec.kubernetesVersions, the list Cluster API
// itself uses to plan chained upgrades. nil (any) when the class lists
// none: Cluster API has no other catalogue.
func availableVersions(class *clusterv1.ClusterClass, current string) []string {
	if class == nil || len(class.Spec.KubernetesVersions) == 0 {
		return nil
	}
	cur, err := version.ParseGeneric(current)
	out := []string{}
	for _, v := range class.Spec.KubernetesVersions {
		pv, perr := version.ParseGeneric(v)
		if perr != nil {
			continue
		}
		if err == nil && pv.LessThan(cur) {
			continue
		}
		out = append(out, upgrade.NormalizeVersion(v))
	}
	return out
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// ControlPlane is what Flotilla reads of a Cluster's control plane, by
// the Cluster API control plane contract (spec.version, spec.replicas,
// status.version, status.replicas, status.readyReplicas,
// status.upToDateReplicas), whatever its provider.
type ControlPlane struct {
	Kind, Name  string
	SpecVersion string
	// Versions are status.versions: how many machines run each version.
	Versions []clusterv1.StatusVersion
	// Version is status.version, which the v1beta2 contract deprecates
	// for Versions: read only from providers that report no Versions.
	Version            string
	Desired            *int32
	Replicas           *int32
	ReadyReplicas      *int32
	UpToDateReplicas   *int32
	Generation         int64
	ObservedGeneration int64
	Conditions         []metav1.Condition
}

// CurrentVersion is the version the control plane runs: the one all its
// machines run, the oldest while they run several, else status.version.
func (cp *ControlPlane) CurrentVersion() string {
	if len(cp.Versions) == 0 {
		return cp.Version
	}
	oldest := cp.Versions[0].Version
	for _, v := range cp.Versions[1:] {
		a, errA := version.ParseGeneric(v.Version)
		b, errB := version.ParseGeneric(oldest)
		if errA == nil && errB == nil && a.LessThan(b) {
			oldest = v.Version
		}
	}
	return oldest
}

// runs reports whether every machine of the control plane runs want.
func (cp *ControlPlane) runs(want string) bool {
	if len(cp.Versions) == 0 {
		return rollout.SameVersion(cp.Version, want)
	}
	for _, v := range cp.Versions {
		if !rollout.SameVersion(v.Version, want) {
			return false
		}
	}
	return true
}

// Observed is a Cluster and what it owns, as the management cluster
// reports them.
type Observed struct {
	Cluster            *clusterv1.Cluster
	Class              *clusterv1.ClusterClass
	ControlPlane       *ControlPlane
	MachineDeployments []clusterv1.MachineDeployment
	MachinePools       []clusterv1.MachinePool
}

// progressOf is where the upgrade to t stands, from what the management
// cluster reports (o): Failed with Cluster API's message when it reports a
// failure, NotStarted while the Cluster does not ask for t, Running until
// the control plane and (but for ControlPlaneOnly) every MachineDeployment
// and MachinePool run t with all replicas up to date and ready, then
// Succeeded.
func progressOf(o Observed, imageVariable string, t upgrade.Target) upgrade.Progress {
	c := o.Cluster
	if msg := failureOf(c); msg != "" {
		return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: msg}
	}
	checkVersion := t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeControlPlaneOnly
	image := ""
	if t.Type != fleetv1.UpgradeControlPlaneOnly {
		image = targetImage(t)
	}
	if checkVersion && !rollout.SameVersion(c.Spec.Topology.Version, t.KubernetesVersion) {
		return notStarted("spec.topology.version is %s, target %s", orNone(c.Spec.Topology.Version), t.KubernetesVersion)
	}
	if image != "" {
		if got := imageOf(c, imageVariable, nil); got != image {
			return notStarted("variable %s is %s, target %s", imageVariable, orNone(got), image)
		}
	}
	if c.Status.ObservedGeneration < c.Generation {
		return running("the topology controller has not yet seen the Cluster's generation %d", c.Generation)
	}
	if cond := meta(c.Status.Conditions, clusterv1.ClusterTopologyReconciledCondition); cond != nil && cond.ObservedGeneration != 0 && cond.ObservedGeneration < c.Generation {
		return running("TopologyReconciled is for generation %d, the Cluster is at %d", cond.ObservedGeneration, c.Generation)
	}
	want := t.KubernetesVersion
	if !checkVersion {
		want = ""
	}
	if o.ControlPlane == nil {
		return running("the Cluster has no control plane yet (spec.controlPlaneRef)")
	}
	if why := controlPlaneBehind(o.ControlPlane, want); why != "" {
		return running("%s", why)
	}
	if t.Type != fleetv1.UpgradeControlPlaneOnly {
		wantWorkers := ""
		if t.Type == fleetv1.UpgradeFull {
			wantWorkers = t.KubernetesVersion
		}
		for i := range o.MachineDeployments {
			md := &o.MachineDeployments[i]
			if !topologyOwned(md.Labels) {
				continue
			}
			if why := workersBehind("MachineDeployment", md.Name, md.Spec.Template.Spec.Version, md.Spec.Replicas, md.Generation, md.Status.ObservedGeneration,
				md.Status.Replicas, md.Status.ReadyReplicas, md.Status.UpToDateReplicas, md.Status.Versions, wantWorkers); why != "" {
				return running("%s", why)
			}
		}
		for i := range o.MachinePools {
			mp := &o.MachinePools[i]
			if !topologyOwned(mp.Labels) {
				continue
			}
			if why := workersBehind("MachinePool", mp.Name, mp.Spec.Template.Spec.Version, mp.Spec.Replicas, mp.Generation, mp.Status.ObservedGeneration,
				mp.Status.Replicas, mp.Status.ReadyReplicas, mp.Status.UpToDateReplicas, mp.Status.Versions, wantWorkers); why != "" {
				return running("%s", why)
			}
		}
		// The topology controller says when it has pushed the change to
		// every MachineDeployment; before that, a MachineDeployment it has
		// not touched yet looks rolled out.
		if cond := meta(c.Status.Conditions, clusterv1.ClusterTopologyReconciledCondition); cond != nil && cond.Status != metav1.ConditionTrue {
			return running("TopologyReconciled is %s (%s): %s", cond.Status, cond.Reason, cond.Message)
		}
	}
	msg := fmt.Sprintf("control plane %s", rolledSummary(o.ControlPlane.CurrentVersion(), o.ControlPlane.Replicas))
	if t.Type != fleetv1.UpgradeControlPlaneOnly {
		msg += fmt.Sprintf(" and %d MachineDeployments, %d MachinePools rolled out", len(o.MachineDeployments), len(o.MachinePools))
	}
	if image != "" {
		msg += ", node image " + image
	}
	return upgrade.Progress{Phase: upgrade.PhaseSucceeded, Message: msg}
}

// topologyOwned reports an object the Cluster's topology manages: only
// those does a topology upgrade roll, so only those are waited for.
func topologyOwned(labels map[string]string) bool {
	_, ok := labels[clusterv1.ClusterTopologyOwnedLabel]
	return ok
}

func rolledSummary(v string, replicas *int32) string {
	return fmt.Sprintf("at %s (%d replicas)", orNone(v), deref(replicas))
}

// failureOf is the failure Cluster API reports for the Cluster: its
// TopologyReconciled condition False with reason ReconcileFailed (the
// topology controller could not apply the Cluster's topology). "" when
// none. The v1beta1 failureReason/failureMessage are deprecated in v1beta2
// and not read.
func failureOf(c *clusterv1.Cluster) string {
	if cond := meta(c.Status.Conditions, clusterv1.ClusterTopologyReconciledCondition); cond != nil &&
		cond.Status == metav1.ConditionFalse && cond.Reason == clusterv1.ClusterTopologyReconciledFailedReason {
		return fmt.Sprintf("Cluster API: %s %s: %s", clusterv1.ClusterTopologyReconciledCondition, cond.Reason, cond.Message)
	}
	return ""
}

// controlPlaneBehind says why the control plane has not yet rolled out to
// version want ("" for any version), or "" when it has.
func controlPlaneBehind(cp *ControlPlane, want string) string {
	name := cp.Kind + " " + cp.Name
	if want != "" && !rollout.SameVersion(cp.SpecVersion, want) {
		return fmt.Sprintf("waiting for the topology controller to set %s to %s (its spec.version is %s)", name, want, orNone(cp.SpecVersion))
	}
	if cp.ObservedGeneration < cp.Generation {
		return fmt.Sprintf("%s has not yet seen its generation %d", name, cp.Generation)
	}
	desired := deref(cp.Desired)
	if cp.Desired == nil {
		desired = deref(cp.Replicas)
	}
	if want != "" && !cp.runs(want) {
		return fmt.Sprintf("%s rolling out %s: runs %s, %d/%d replicas up to date, %d ready", name, want, orNone(cp.CurrentVersion()), deref(cp.UpToDateReplicas), desired, deref(cp.ReadyReplicas))
	}
	if deref(cp.Replicas) != desired || deref(cp.UpToDateReplicas) < desired || deref(cp.ReadyReplicas) < desired {
		return fmt.Sprintf("%s rolling out: %d replicas, %d/%d up to date, %d ready", name, deref(cp.Replicas), deref(cp.UpToDateReplicas), desired, deref(cp.ReadyReplicas))
	}
	return ""
}

// workersBehind says why a MachineDeployment or MachinePool has not yet
// rolled out to version want ("" for any version), or "" when it has.
func workersBehind(kind, name, specVersion string, specReplicas *int32, generation, observed int64, replicas, ready, upToDate *int32, versions []clusterv1.StatusVersion, want string) string {
	what := kind + " " + name
	if want != "" && !rollout.SameVersion(specVersion, want) {
		return fmt.Sprintf("waiting for the topology controller to set %s to %s (it is at %s)", what, want, orNone(specVersion))
	}
	if observed < generation {
		return fmt.Sprintf("%s has not yet seen its generation %d", what, generation)
	}
	desired := deref(specReplicas)
	if specReplicas == nil {
		desired = deref(replicas)
	}
	var others []string
	for _, v := range versions {
		if want != "" && !rollout.SameVersion(v.Version, want) {
			others = append(others, fmt.Sprintf("%d at %s", v.Replicas, v.Version))
		}
	}
	if len(others) > 0 || deref(replicas) != desired || deref(upToDate) < desired || deref(ready) < desired {
		msg := fmt.Sprintf("%s rolling out: %d replicas, %d/%d up to date, %d ready", what, deref(replicas), deref(upToDate), desired, deref(ready))
		if len(others) > 0 {
			msg += " (" + strings.Join(others, ", ") + ")"
		}
		return msg
	}
	return ""
}

// viewOf is the member as `flotilla member show` prints it: the versions
// it upgrades to are the class's newer than the Cluster's, the latest image
// its image variable's last enum value.
func viewOf(o Observed, imageVariable string) upgrade.MemberView {
	c := o.Cluster
	v := upgrade.MemberView{State: c.Status.Phase}
	for _, av := range availableVersions(o.Class, c.Spec.Topology.Version) {
		if !rollout.SameVersion(av, c.Spec.Topology.Version) {
			v.UpgradableVersions = append(v.UpgradableVersions, av)
		}
	}
	latest := ""
	if images, err := offeredImages(o.Class, imageVariable); err == nil && len(images) > 0 {
		latest = images[len(images)-1].Version
	}
	if o.ControlPlane != nil {
		v.ControlPlaneVersion = o.ControlPlane.CurrentVersion()
	}
	if v.ControlPlaneVersion == "" {
		v.ControlPlaneVersion = c.Spec.Topology.Version
	}
	topoOverrides := map[string][]clusterv1.ClusterVariable{}
	for _, md := range c.Spec.Topology.Workers.MachineDeployments {
		topoOverrides["md/"+md.Name] = md.Variables.Overrides
	}
	for _, mp := range c.Spec.Topology.Workers.MachinePools {
		topoOverrides["mp/"+mp.Name] = mp.Variables.Overrides
	}
	for i := range o.MachineDeployments {
		md := &o.MachineDeployments[i]
		name := md.Labels[clusterv1.ClusterTopologyMachineDeploymentNameLabel]
		if name == "" {
			name = md.Name
		}
		p := upgrade.PoolView{
			Name: name, KubernetesVersion: md.Spec.Template.Spec.Version,
			NodeImageVersion: imageOf(c, imageVariable, topoOverrides["md/"+name]), LatestNodeImageVersion: latest,
			Count: deref(md.Status.Replicas), State: md.Status.Phase,
		}
		if s := md.Spec.Rollout.Strategy.RollingUpdate.MaxSurge; s != nil {
			p.MaxSurge = s.String()
		}
		v.Pools = append(v.Pools, p)
	}
	for i := range o.MachinePools {
		mp := &o.MachinePools[i]
		name := mp.Labels[clusterv1.ClusterTopologyMachinePoolNameLabel]
		if name == "" {
			name = mp.Name
		}
		v.Pools = append(v.Pools, upgrade.PoolView{
			Name: name + " (MachinePool)", KubernetesVersion: mp.Spec.Template.Spec.Version,
			NodeImageVersion: imageOf(c, imageVariable, topoOverrides["mp/"+name]), LatestNodeImageVersion: latest,
			Count: deref(mp.Status.Replicas), State: mp.Status.Phase,
		})
	}
	if cond := meta(c.Status.Conditions, clusterv1.ClusterTopologyReconciledCondition); cond != nil && cond.Status != metav1.ConditionTrue {
		v.Operation = fmt.Sprintf("%s %s (%s): %s", cond.Type, cond.Status, cond.Reason, cond.Message)
	} else if o.ControlPlane != nil && c.Spec.Topology.Version != "" && !o.ControlPlane.runs(c.Spec.Topology.Version) {
		v.Operation = "upgrading to " + c.Spec.Topology.Version
	}
	return v
}

func meta(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func notStarted(format string, args ...any) upgrade.Progress {
	return upgrade.Progress{Phase: upgrade.PhaseNotStarted, Message: fmt.Sprintf(format, args...)}
}

func running(format string, args ...any) upgrade.Progress {
	return upgrade.Progress{Phase: upgrade.PhaseRunning, Message: fmt.Sprintf(format, args...)}
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
