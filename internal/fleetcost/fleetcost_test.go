package fleetcost

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestTheSeedsTenStandardClusters: 10 AKS Standard clusters cost $730 a
// month in control plane, before compute.
func TestTheSeedsTenStandardClusters(t *testing.T) {
	var members []Member
	for i := range 10 {
		members = append(members, Member{Name: fmt.Sprintf("aks-%d", i), Provider: "AKS", Tier: "Standard"})
	}
	r := Calculate(DefaultModel(), members, nil)
	if r.ControlPlane != 730 {
		t.Errorf("control plane = %v, want 730", r.ControlPlane)
	}
	if r.Compute != 0 || r.Total != 730+73 {
		t.Errorf("compute %v, total %v; want 0 and 803 (with the hub)", r.Compute, r.Total)
	}
	free := Calculate(DefaultModel(), []Member{{Name: "f", Provider: "AKS", Tier: "Free"}}, nil)
	if free.ControlPlane != 0 {
		t.Errorf("AKS Free = %v, want 0", free.ControlPlane)
	}
}

func TestCalculate(t *testing.T) {
	model := DefaultModel()
	model.HubMonthly = 100
	model.CrossRegionMonthly = 50
	model.Compute.Regions = map[string]Price{"northeurope": {VCPUHour: 0.05, GiBHour: 0.01}}
	members := []Member{
		{Name: "we", Provider: "AKS", Region: "westeurope", CPU: 4, MemoryGiB: 16},                                           // default tier Standard, default price
		{Name: "ne", Provider: "AKS", Tier: "Free", Region: "northeurope", CPU: 2, MemoryGiB: 8},                             // region price
		{Name: "own", Provider: "EKS", Tier: "Gold", Region: "westeurope", CPU: 1, MemoryGiB: 1, Price: &Price{VCPUHour: 1}}, // label price, unknown tier
		{Name: "local"},
	}
	placements := []Placement{{Name: "web", Members: []string{"ne", "we"}, CPU: 0.5, MemoryGiB: 1}}
	r := Calculate(model, members, placements)
	want := map[string][3]float64{ // control plane, compute, total
		"we":    {73, 730 * (4*0.04 + 16*0.005), 73 + 730*(4*0.04+16*0.005)},
		"ne":    {0, 730 * (2*0.05 + 8*0.01), 730 * (2*0.05 + 8*0.01)},
		"own":   {0, 730, 730},
		"local": {0, 0, 0},
	}
	for _, m := range r.Members {
		w := want[m.Name]
		if m.ControlPlane != round(w[0]) || m.Compute != round(w[1]) || m.Total != round(w[2]) {
			t.Errorf("%s = %v/%v/%v, want %v", m.Name, m.ControlPlane, m.Compute, m.Total, w)
		}
	}
	if own := r.Members[2]; !strings.Contains(own.Note, `no control-plane price for EKS tier "Gold"`) {
		t.Errorf("own note = %q", own.Note)
	}
	if r.Members[3].Provider != ProviderNone || r.Members[3].Tier != "Standard" {
		t.Errorf("local = %+v", r.Members[3])
	}
	if r.CrossRegion != 50 || strings.Join(r.Regions, ",") != "northeurope,westeurope" {
		t.Errorf("cross-region %v over %v", r.CrossRegion, r.Regions)
	}
	if r.Total != round(r.ControlPlane+r.Compute+100+50) {
		t.Errorf("total = %v", r.Total)
	}
	web := r.Placements[0]
	perWE, perNE := round(730*(0.5*0.04+1*0.005)), round(730*(0.5*0.05+1*0.01))
	if web.Copies != 2 || web.PerMember["we"] != perWE || web.PerMember["ne"] != perNE || web.Total != round(perWE+perNE) {
		t.Errorf("web = %+v", web)
	}
	// One region: no cross-region charge.
	if one := Calculate(model, members[:1], nil); one.CrossRegion != 0 {
		t.Errorf("one region charged %v", one.CrossRegion)
	}
}

func TestCompare(t *testing.T) {
	r := Report{Currency: "USD", Total: 1000, Members: []MemberCost{{Total: 300}, {Total: 200}}}
	c := Compare(r, 5000, 0.5)
	if c.RedundancyCost != 700 || c.OutageCost != 2500 || !c.Worth {
		t.Errorf("compare = %+v", c)
	}
	if c.Verdict != "redundancy cost $700.00 vs outage cost $2500.00: the redundancy is an investment (it costs $1800.00 less than the outages it avoids)" {
		t.Errorf("verdict = %q", c.Verdict)
	}
	c = Compare(r, 100, 1)
	if c.Worth || !strings.Contains(c.Verdict, "costs $600.00 more than the outages it avoids") {
		t.Errorf("compare = %+v", c)
	}
}

func TestParseModel(t *testing.T) {
	m, err := ParseModel([]byte(`
currency: EUR
hubMonthly: 0
controlPlane:
  AKS: {Standard: 70}
compute:
  regions:
    westeurope: {vcpuHour: 0.05, gibHour: 0.006}
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Currency != "EUR" || m.HubMonthly != 0 || m.ControlPlane["AKS"]["Standard"] != 70 || m.ControlPlane["GKE"]["Standard"] != 73 ||
		m.Compute.Default.VCPUHour != 0.04 || m.Compute.Regions["westeurope"].GiBHour != 0.006 || m.HoursPerMonth != 730 {
		t.Errorf("model = %+v", m)
	}
	for _, bad := range []string{"hoursPerMonth: 0", "hubMonthly: -1", "controlPlane: {AKS: {Standard: -2}}", "nope: 1"} {
		if _, err := ParseModel([]byte(bad)); err == nil {
			t.Errorf("ParseModel(%q) accepted it", bad)
		}
	}
}

func raw(t *testing.T, o runtime.Object) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

func requests(cpu, mem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}
}

func TestPlacementFromSnapshotAndBindings(t *testing.T) {
	three := int32(3)
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Namespace: "fintech", Name: "pay"},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Resources: requests("250m", "512Mi")}, {Name: "b", Resources: requests("250m", "512Mi")}}}}}}
	ds := &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: metav1.ObjectMeta{Namespace: "fintech", Name: "agent"}}
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "fintech"}}
	snap := []fleetv1.ResourceSnapshot{
		{Spec: fleetv1.ResourceSnapshotSpec{Placement: "pay", Resources: []runtime.RawExtension{raw(t, ns), raw(t, dep)}}},
		{Spec: fleetv1.ResourceSnapshotSpec{Placement: "pay", Part: 1, Resources: []runtime.RawExtension{raw(t, ds)}}},
	}
	bindings := []fleetv1.ResourceBinding{
		{Spec: fleetv1.ResourceBindingSpec{Placement: "pay", TargetCluster: "b", State: fleetv1.BindingBound}},
		{Spec: fleetv1.ResourceBindingSpec{Placement: "pay", TargetCluster: "a", State: fleetv1.BindingScheduled}},
		{Spec: fleetv1.ResourceBindingSpec{Placement: "pay", TargetCluster: "c", State: fleetv1.BindingUnscheduled}},
		{Spec: fleetv1.ResourceBindingSpec{Placement: "other", TargetCluster: "d", State: fleetv1.BindingBound}},
	}
	p := PlacementFrom("pay", bindings, snap)
	if strings.Join(p.Members, ",") != "a,b" || p.CPU != 1.5 || p.MemoryGiB != 3 || strings.Join(p.Unpriced, ",") != "DaemonSet fintech/agent" {
		t.Errorf("placement = %+v", p)
	}
}

func TestMemberFrom(t *testing.T) {
	m := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", Labels: map[string]string{TierLabel: "Premium", VCPUHourLabel: "0.1"}},
		Spec: fleetv1.MemberClusterSpec{Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS}}}
	m.Status.Properties = map[string]string{RegionLabel: "westeurope"}
	m.Status.ResourceUsage.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}
	got := MemberFrom(m, DefaultModel())
	if got.Provider != "AKS" || got.Tier != "Premium" || got.Region != "westeurope" || got.CPU != 8 || got.MemoryGiB != 32 ||
		got.Price == nil || got.Price.VCPUHour != 0.1 || got.Price.GiBHour != 0.005 {
		t.Errorf("member = %+v (price %+v)", got, got.Price)
	}
	bare := MemberFrom(&fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, DefaultModel())
	if bare.Provider != ProviderNone || bare.Tier != "" || bare.Price != nil {
		t.Errorf("bare = %+v", bare)
	}
}

// TestTheExampleModelIsTheDefaults: examples/cost.yaml (also in
// docs/cost.md) parses, and is the defaults plus one region.
func TestTheExampleModelIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile("../../examples/cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseModel(data)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultModel()
	want.Compute.Regions = map[string]Price{"westeurope": {VCPUHour: 0.045, GiBHour: 0.006}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("examples/cost.yaml = %+v, want the defaults plus westeurope: %+v", m, want)
	}
}
