package fleetcost

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const gib = 1 << 30

// MemberFrom reads what the model needs from a MemberCluster: its provider,
// its tier (the model's tier label), its region (the label, else the
// region property the probe recorded), price overrides (labels, else
// properties) and its node capacity from status.
func MemberFrom(m *fleetv1.MemberCluster, model Model) Member {
	in := Member{Name: m.Name, Provider: ProviderNone}
	if m.Spec.Provider != nil && m.Spec.Provider.Type != "" {
		in.Provider = string(m.Spec.Provider.Type)
	}
	label := model.TierLabel
	if label == "" {
		label = TierLabel
	}
	in.Tier = m.Labels[label]
	in.Region = lookup(m, RegionLabel)
	vcpu, okCPU := parsePrice(lookup(m, VCPUHourLabel))
	gibh, okMem := parsePrice(lookup(m, GiBHourLabel))
	if okCPU || okMem {
		p := model.price(in.Region)
		if okCPU {
			p.VCPUHour = vcpu
		}
		if okMem {
			p.GiBHour = gibh
		}
		in.Price = &p
	}
	capacity := m.Status.ResourceUsage.Capacity
	if q, ok := capacity[corev1.ResourceCPU]; ok {
		in.CPU = q.AsApproximateFloat64()
	}
	if q, ok := capacity[corev1.ResourceMemory]; ok {
		in.MemoryGiB = q.AsApproximateFloat64() / gib
	}
	return in
}

func lookup(m *fleetv1.MemberCluster, key string) string {
	if v := m.Labels[key]; v != "" {
		return v
	}
	return m.Status.Properties[key]
}

func parsePrice(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

// PlacementFrom is a placement's copies and requests: the members of its
// bindings that are Scheduled or Bound, and the requests of the workloads
// in its latest snapshot (all parts).
func PlacementFrom(name string, bindings []fleetv1.ResourceBinding, snapshot []fleetv1.ResourceSnapshot) Placement {
	p := Placement{Name: name, Members: []string{}}
	seen := map[string]bool{}
	for _, b := range bindings {
		if b.Spec.Placement != name || b.Spec.State == fleetv1.BindingUnscheduled || seen[b.Spec.TargetCluster] {
			continue
		}
		seen[b.Spec.TargetCluster] = true
		p.Members = append(p.Members, b.Spec.TargetCluster)
	}
	sort.Strings(p.Members)
	for _, s := range snapshot {
		for _, raw := range s.Spec.Resources {
			cpu, mem, unpriced := Requests(raw.Raw)
			p.CPU += cpu
			p.MemoryGiB += mem
			if unpriced != "" {
				p.Unpriced = append(p.Unpriced, unpriced)
			}
		}
	}
	return p
}

// Requests is what one placed object requests in all its replicas: CPU in
// cores and memory in GiB, from the containers' requests of a Pod,
// Deployment, ReplicaSet, StatefulSet or Job (parallelism). Init containers
// are not counted. A DaemonSet or CronJob, whose count depends on the
// member or the clock, is named in unpriced instead; other kinds request
// nothing.
func Requests(raw []byte) (cpu, memGiB float64, unpriced string) {
	var meta struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return 0, 0, "an object that is not JSON"
	}
	id := fmt.Sprintf("%s %s/%s", meta.Kind, meta.Metadata.Namespace, meta.Metadata.Name)
	var (
		spec     *corev1.PodSpec
		replicas int32 = 1
	)
	decode := func(into runtime.Object) bool { return json.Unmarshal(raw, into) == nil }
	switch meta.Kind {
	case "Pod":
		o := &corev1.Pod{}
		if !decode(o) {
			return 0, 0, id
		}
		spec = &o.Spec
	case "Deployment":
		o := &appsv1.Deployment{}
		if !decode(o) {
			return 0, 0, id
		}
		spec, replicas = &o.Spec.Template.Spec, orOne(o.Spec.Replicas)
	case "ReplicaSet":
		o := &appsv1.ReplicaSet{}
		if !decode(o) {
			return 0, 0, id
		}
		spec, replicas = &o.Spec.Template.Spec, orOne(o.Spec.Replicas)
	case "StatefulSet":
		o := &appsv1.StatefulSet{}
		if !decode(o) {
			return 0, 0, id
		}
		spec, replicas = &o.Spec.Template.Spec, orOne(o.Spec.Replicas)
	case "Job":
		o := &batchv1.Job{}
		if !decode(o) {
			return 0, 0, id
		}
		spec, replicas = &o.Spec.Template.Spec, orOne(o.Spec.Parallelism)
	case "DaemonSet", "CronJob":
		return 0, 0, id
	default:
		return 0, 0, ""
	}
	for _, c := range spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			cpu += q.AsApproximateFloat64()
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
			memGiB += q.AsApproximateFloat64() / gib
		}
	}
	return cpu * float64(replicas), memGiB * float64(replicas), ""
}

func orOne(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
