package charts_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/config/admission"
)

// agentValues are the least an agent install needs.
var agentValues = []string{"--set", "memberName=dev-1", "--set", "hub.existingSecret=flotilla-agent-hub"}

func TestChartCRDsAreTheGeneratedCRDs(t *testing.T) {
	want, err := filepath.Glob("../config/crd/bases/*.yaml")
	if err != nil || len(want) == 0 {
		t.Fatalf("no generated CRDs found (%v)", err)
	}
	got, err := filepath.Glob(hubChart + "/crds/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Base(p)
		}
		return out
	}
	if !slices.Equal(base(got), base(want)) {
		t.Fatalf("%s/crds holds %v, config/crd/bases %v: run `make generate`", hubChart, base(got), base(want))
	}
	for _, p := range want {
		a, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(hubChart, "crds", filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s/crds/%s differs from %s: run `make generate`", hubChart, filepath.Base(p), p)
		}
	}
}

// TestHubChartShipsTheExecPolicy checks that the chart carries the hub's
// exec admission policy as config/admission has it, lets the hub apply and
// read exactly those objects, and gives flotilla-admin the permission the
// policy asks for.
func TestHubChartShipsTheExecPolicy(t *testing.T) {
	want, err := os.ReadFile("../config/admission/exec-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(hubChart + "/templates/exec-policy.yaml")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s/templates/exec-policy.yaml differs from config/admission/exec-policy.yaml (%v): run `make generate`", hubChart, err)
	}
	policy, err := admission.Exec()
	if err != nil {
		t.Fatal(err)
	}
	objs := mustRender(t, hubChart)
	var wantNames []string
	for _, p := range policy.Policies {
		find(t, objs, "ValidatingAdmissionPolicy", p.Name)
		find(t, objs, "ValidatingAdmissionPolicyBinding", p.Name)
		wantNames = append(wantNames, p.Name)
	}
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-hub"))
	var gotNames []string
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "admissionregistration.k8s.io") {
			gotNames = append(gotNames, r.ResourceNames...)
			if !slices.Equal(r.Resources, []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"}) || !slices.Equal(r.Verbs, []string{"get", "create", "patch"}) {
				t.Errorf("hub admission rule %+v: want get, create, patch of the policies and bindings", r)
			}
		}
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("hub may apply admission objects %v, want %v", gotNames, wantNames)
	}
	admin := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-admin"))
	if !hasRule(admin, "fleet.flotilla.dev", "exec", "use") {
		t.Error(`flotilla-admin has no rule for "use" of "exec" in fleet.flotilla.dev`)
	}
	for _, r := range []string{"flotilla-operator", "flotilla-viewer"} {
		if hasRule(typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", r)), "fleet.flotilla.dev", "exec", "use") {
			t.Errorf("%s may use exec", r)
		}
	}
	on := typed[appsv1.Deployment](t, find(t, mustRender(t, hubChart, "--set", "hub.allowExec=true"), "Deployment", "flotilla-hub"))
	if !slices.Contains(on.Spec.Template.Spec.Containers[0].Args, "--allow-exec=true") {
		t.Errorf("hub.allowExec=true: args %q", on.Spec.Template.Spec.Containers[0].Args)
	}
}

func TestChartsLint(t *testing.T) {
	helm := helmBin(t)
	for _, c := range []struct {
		chart string
		args  []string
	}{
		{hubChart, nil},
		{hubChart, []string{"--set", "replicaCount=3", "--set", "metrics.serviceMonitor.enabled=true", "--set", "hub.enablePlacement=false"}},
		{agentChart, agentValues},
		{agentChart, append([]string{"--set", "persistence.enabled=true", "--set-json", `rbac.placedResources=[{"apiGroups":[""],"resources":["configmaps"]}]`}, agentValues...)},
	} {
		args := append([]string{"lint", "--strict", c.chart, "--namespace", fleetNS}, c.args...)
		if out, err := run(t, nil, helm, args...); err != nil {
			t.Errorf("helm %v: %v\n%s", args, err, out)
		}
	}
}

func TestHubChartDefaults(t *testing.T) {
	objs := mustRender(t, hubChart)
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "flotilla-hub"))
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	for _, arg := range []string{"hub", "--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
		"--kubeconfig=/etc/flotilla/hub/kubeconfig", "--state-dir=/var/lib/flotilla", "--enable-placement=true", "--allow-exec=false"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("hub args %q lack %q", c.Args, arg)
		}
	}
	checkHardened(t, pod)
	checkProbes(t, c, 8081)
	if c.Image != "ghcr.io/flotilla-dev/flotilla:0.1.0" {
		t.Errorf("image %s, want the chart's appVersion tag", c.Image)
	}
	mountedAt(t, pod, c, "state", "/var/lib/flotilla", func(v corev1.Volume) bool { return v.EmptyDir != nil })
	mountedAt(t, pod, c, "hub-kubeconfig", "/etc/flotilla/hub", func(v corev1.Volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == "flotilla-hub-kubeconfig"
	})

	aff := pod.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("want a preferred pod anti-affinity between replicas, got %+v", aff)
	}
	var keys []string
	for _, tsc := range pod.TopologySpreadConstraints {
		keys = append(keys, tsc.TopologyKey)
	}
	if !slices.Contains(keys, "topology.kubernetes.io/zone") || !slices.Contains(keys, "kubernetes.io/hostname") {
		t.Errorf("topology spread over %v, want zones and nodes", keys)
	}

	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", "flotilla-hub"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	svc := typed[corev1.Service](t, find(t, objs, "Service", "flotilla-hub-metrics"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].Name != "metrics" {
		t.Errorf("metrics Service ports %+v, want metrics:8080", svc.Spec.Ports)
	}
	if o := lookup(objs, "ServiceMonitor", "flotilla-hub"); o != nil {
		t.Error("a ServiceMonitor is rendered by default; want it only with metrics.serviceMonitor.enabled")
	}

	// The kubeconfig is the in-cluster configuration.
	cm := typed[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "flotilla-hub-kubeconfig"))
	for _, want := range []string{"server: https://kubernetes.default.svc", "tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
		"certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt"} {
		if !strings.Contains(cm.Data["kubeconfig"], want) {
			t.Errorf("in-cluster kubeconfig lacks %q:\n%s", want, cm.Data["kubeconfig"])
		}
	}

	// The CRD rule names exactly the CRDs the chart ships.
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-hub"))
	crds, _ := filepath.Glob(hubChart + "/crds/*.yaml")
	var wantNames []string
	for _, p := range crds {
		wantNames = append(wantNames, crdName(t, p))
	}
	var gotNames []string
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "customresourcedefinitions") {
			gotNames = append(gotNames, r.ResourceNames...)
			if slices.Contains(r.Verbs, "delete") || slices.Contains(r.Verbs, "list") {
				t.Errorf("CRD rule verbs %v: the hub only gets, creates and patches its CRDs", r.Verbs)
			}
		}
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("CRD resourceNames %v, want %v", gotNames, wantNames)
	}

	for role, label := range map[string]string{
		"flotilla-viewer":   "rbac.authorization.k8s.io/aggregate-to-view",
		"flotilla-operator": "rbac.authorization.k8s.io/aggregate-to-edit",
		"flotilla-admin":    "rbac.authorization.k8s.io/aggregate-to-admin",
	} {
		if got := find(t, objs, "ClusterRole", role).GetLabels()[label]; got != "true" {
			t.Errorf("ClusterRole %s: label %s = %q, want true", role, label, got)
		}
	}
	find(t, objs, "Role", "flotilla-member-credentials")
	if o := lookup(objs, "ClusterRoleBinding", "flotilla-admin"); o != nil {
		t.Error("operator roles are bound with no subjects given")
	}
}

func TestHubChartWithOtherValues(t *testing.T) {
	objs := mustRender(t, hubChart,
		"--set", "replicaCount=3",
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "podAntiAffinity=hard",
		"--set", "hub.enablePlacement=false",
		"--set", "hub.kubeconfigSecret.name=remote-hub",
		"--set", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"--set-json", `operatorRoles.viewers=[{"kind":"Group","name":"fleet-readers"}]`,
		"--set-json", `operatorRoles.admins=[{"kind":"User","name":"carol"}]`,
		"--set", "operatorRoles.aggregateToDefaultRoles=false",
	)
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "flotilla-hub"))
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if a := pod.Affinity.PodAntiAffinity; a == nil || len(a.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("podAntiAffinity=hard: want a required anti-affinity, got %+v", pod.Affinity)
	}
	c := pod.Containers[0]
	if !slices.Contains(c.Args, "--enable-placement=false") || !slices.Contains(c.Args, "--kubeconfig=/etc/flotilla/hub/kubeconfig") {
		t.Errorf("args %q", c.Args)
	}
	if !strings.HasSuffix(c.Image, "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") {
		t.Errorf("image %s, want the digest", c.Image)
	}
	mountedAt(t, pod, c, "hub-kubeconfig", "/etc/flotilla/hub", func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == "remote-hub"
	})
	if lookup(objs, "ConfigMap", "flotilla-hub-kubeconfig") != nil {
		t.Error("the in-cluster kubeconfig is rendered although hub.kubeconfigSecret is set")
	}
	sm := find(t, objs, "ServiceMonitor", "flotilla-hub")
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", sm.GetAPIVersion())
	}
	// Without placement the hub reads nothing beyond its own API.
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-hub"))
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "*") || slices.Contains(r.Resources, "works") || slices.Contains(r.APIGroups, "placement.kubernetes-fleet.io") {
			t.Errorf("placement is off, yet the hub gets %+v", r)
		}
	}
	for _, name := range []string{"flotilla-viewer", "flotilla-admin"} {
		b := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", name))
		if b.RoleRef.Name != name || len(b.Subjects) != 1 {
			t.Errorf("binding %s: %+v", name, b)
		}
	}
	if lookup(objs, "ClusterRoleBinding", "flotilla-operator") != nil {
		t.Error("flotilla-operator is bound with no subjects")
	}
	rb := typed[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", "flotilla-member-credentials"))
	if rb.Namespace != fleetNS || rb.Subjects[0].Name != "carol" {
		t.Errorf("member-credentials binding %+v", rb)
	}
	if _, ok := find(t, objs, "ClusterRole", "flotilla-viewer").GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"]; ok {
		t.Error("aggregation label set with operatorRoles.aggregateToDefaultRoles=false")
	}
}

func TestHubChartBackupCronJob(t *testing.T) {
	if objs := mustRender(t, hubChart); lookup(objs, "CronJob", "flotilla-hub-backup") != nil {
		t.Error("a backup CronJob is rendered by default")
	}
	objs := mustRender(t, hubChart, "--set", "backup.enabled=true", "--set", "backup.recipients[0]=age1example", "--set", "backup.keep=7")
	cj := typed[batchv1.CronJob](t, find(t, objs, "CronJob", "flotilla-hub-backup"))
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || cj.Spec.Schedule != "0 3 * * *" {
		t.Errorf("CronJob spec %+v", cj.Spec)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	c := pod.Containers[0]
	for _, want := range []string{"backup", "/backups/", "--keep=7", "--recipient=age1example", "--hub-kubeconfig=/etc/flotilla/hub/kubeconfig"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("backup container securityContext %+v", c.SecurityContext)
	}
	mountedAt(t, pod, c, "backups", "/backups", func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "flotilla-hub-backup"
	})
	find(t, objs, "PersistentVolumeClaim", "flotilla-hub-backup")
	// It lists Secrets in flotilla-system only (it may get what placements
	// select, as the hub may), and writes nothing.
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-hub-backup"))
	for _, r := range role.Rules {
		coreOrAll := slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")
		if slices.Contains(r.Verbs, "list") && coreOrAll && (slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*")) {
			t.Errorf("the backup lists Secrets cluster-wide: %+v", r)
		}
		for _, v := range r.Verbs {
			if v != "get" && v != "list" {
				t.Errorf("the backup may %s: %+v", v, r)
			}
		}
	}
	if rb := find(t, objs, "Role", "flotilla-hub-backup"); rb.GetNamespace() != fleetNS {
		t.Errorf("the credentials Role is in %s", rb.GetNamespace())
	}
	withPassphrase := mustRender(t, hubChart, "--set", "backup.enabled=true", "--set", "backup.passphraseSecret.name=backup-pass", "--set", "backup.persistence.existingClaim=nfs-backups")
	pod = typed[batchv1.CronJob](t, find(t, withPassphrase, "CronJob", "flotilla-hub-backup")).Spec.JobTemplate.Spec.Template.Spec
	if env := pod.Containers[0].Env; len(env) != 1 || env[0].Name != "FLOTILLA_BACKUP_PASSPHRASE" || env[0].ValueFrom.SecretKeyRef.Name != "backup-pass" {
		t.Errorf("passphrase env %+v", env)
	}
	if lookup(withPassphrase, "PersistentVolumeClaim", "flotilla-hub-backup") != nil {
		t.Error("a PVC is made although backup.persistence.existingClaim is set")
	}
}

func TestHubChartNarrowedPlacementReads(t *testing.T) {
	objs := mustRender(t, hubChart, "--set-json", `rbac.placedResources=[{"apiGroups":[""],"resources":["configmaps","resourcequotas"]}]`)
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-hub"))
	var reads [][]string
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "*") {
			t.Errorf("narrowed placement reads still include %+v", r)
		}
		if slices.Equal(r.Verbs, []string{"get", "list", "watch"}) && slices.Equal(r.APIGroups, []string{""}) {
			reads = append(reads, r.Resources)
		}
	}
	if !slices.ContainsFunc(reads, func(r []string) bool { return slices.Equal(r, []string{"configmaps", "resourcequotas"}) }) ||
		!slices.ContainsFunc(reads, func(r []string) bool { return slices.Equal(r, []string{"namespaces"}) }) {
		t.Errorf("core read rules %v, want namespaces and configmaps, resourcequotas", reads)
	}
}

func TestHubChartWithOneReplicaHasNoPDB(t *testing.T) {
	objs := mustRender(t, hubChart, "--set", "replicaCount=1")
	if lookup(objs, "PodDisruptionBudget", "flotilla-hub") != nil {
		t.Error("a PDB with minAvailable 1 over one replica would block every drain")
	}
}

func TestHubChartRefusesMistakes(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"another namespace":               {[]string{"--namespace", "default"}, "install the hub into the namespace flotilla-system"},
		"replicas without leader":         {[]string{"--set", "hub.leaderElect=false"}, "needs hub.leaderElect"},
		"a ServiceMonitor and no Service": {[]string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"}, "needs metrics.service.enabled"},
		"a backup in the clear":           {[]string{"--set", "backup.enabled=true"}, "needs backup.recipients"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, hubChart, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestAgentChartDefaults(t *testing.T) {
	objs := mustRender(t, agentChart, "--set", "memberName=dev-1", "--set", "hub.kubeconfig=apiVersion: v1\nkind: Config\n")
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "flotilla-agent"))
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want one agent, recreated", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	for _, arg := range []string{"agent", "--member-name=dev-1", "--hub-kubeconfig=/etc/flotilla/hub/kubeconfig",
		"--member-kubeconfig=/etc/flotilla/member/kubeconfig", "--state-dir=/var/lib/flotilla", "--health-address=:8081"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("agent args %q lack %q", c.Args, arg)
		}
	}
	checkHardened(t, pod)
	checkProbes(t, c, 8081)
	secret := typed[corev1.Secret](t, find(t, objs, "Secret", "flotilla-agent-hub"))
	if string(secret.Data["kubeconfig"]) != "apiVersion: v1\nkind: Config\n" {
		t.Errorf("hub Secret holds %q", secret.Data["kubeconfig"])
	}
	mountedAt(t, pod, c, "hub-kubeconfig", "/etc/flotilla/hub", func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == "flotilla-agent-hub"
	})
	mountedAt(t, pod, c, "member-kubeconfig", "/etc/flotilla/member", func(v corev1.Volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == "flotilla-agent-member-kubeconfig"
	})
	mountedAt(t, pod, c, "state", "/var/lib/flotilla", func(v corev1.Volume) bool { return v.EmptyDir != nil })

	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-agent"))
	if !hasRule(role, "*", "*", "create") || !hasRule(role, "rbac.authorization.k8s.io", "clusterroles", "escalate") {
		t.Errorf("the default agent role must write every kind and place RBAC: %+v", role.Rules)
	}
}

func TestAgentChartNarrowedRBACAndPersistence(t *testing.T) {
	args := append([]string{
		"--set", "persistence.enabled=true",
		"--set-json", `rbac.placedResources=[{"apiGroups":[""],"resources":["namespaces","configmaps"]}]`,
	}, agentValues...)
	objs := mustRender(t, agentChart, args...)
	role := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-agent"))
	if hasRule(role, "*", "*", "get") || hasRule(role, "rbac.authorization.k8s.io", "roles", "escalate") {
		t.Errorf("narrowed agent role is still broad: %+v", role.Rules)
	}
	if !hasRule(role, "", "configmaps", "patch") || !hasRule(role, "", "nodes", "list") || !hasRule(role, "", "pods", "list") {
		t.Errorf("narrowed agent role lacks the placed kinds or the heartbeat reads: %+v", role.Rules)
	}
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "flotilla-agent"))
	pod := d.Spec.Template.Spec
	mountedAt(t, pod, pod.Containers[0], "state", "/var/lib/flotilla", func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "flotilla-agent-state"
	})
	find(t, objs, "PersistentVolumeClaim", "flotilla-agent-state")
	if lookup(objs, "Secret", "flotilla-agent-hub") != nil {
		t.Error("the chart renders a hub Secret although hub.existingSecret names one")
	}

	// Placing RBAC needs escalate and bind.
	objs = mustRender(t, agentChart, append([]string{"--set-json",
		`rbac.placedResources=[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings"]}]`}, agentValues...)...)
	role = typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "flotilla-agent"))
	if !hasRule(role, "rbac.authorization.k8s.io", "roles", "escalate") || !hasRule(role, "rbac.authorization.k8s.io", "roles", "bind") {
		t.Errorf("placing Roles needs escalate and bind: %+v", role.Rules)
	}
}

func TestAgentChartRefusesMistakes(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no member name":        {[]string{"--set", "hub.existingSecret=s"}, "memberName is required"},
		"a member name not DNS": {[]string{"--set", "memberName=Dev_1", "--set", "hub.existingSecret=s"}, "not a DNS label"},
		"no hub credentials":    {[]string{"--set", "memberName=dev-1"}, "hub.existingSecret"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(t, agentChart, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func checkHardened(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want non-root and seccomp RuntimeDefault", psc)
	}
	sc := pod.Containers[0].SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if pod.Containers[0].Resources.Requests.Cpu().IsZero() || pod.Containers[0].Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want requests and a memory limit", pod.Containers[0].Resources)
	}
}

func checkProbes(t *testing.T, c corev1.Container, port int32) {
	t.Helper()
	var healthPort int32
	for _, p := range c.Ports {
		if p.Name == "health" {
			healthPort = p.ContainerPort
		}
	}
	if healthPort != port {
		t.Errorf("health port %d, want %d", healthPort, port)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %+v, want GET %s on the health port", probe, path)
		}
	}
}

// mountedAt checks that volume name is mounted at path and is what ok says.
func mountedAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, name, path string, ok func(corev1.Volume) bool) {
	t.Helper()
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name && m.MountPath == path }) {
		t.Errorf("volume %s is not mounted at %s: %+v", name, path, c.VolumeMounts)
	}
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == name && ok(v) }) {
		t.Errorf("volume %s is not what it should be: %+v", name, pod.Volumes)
	}
}

func hasRule(role rbacv1.ClusterRole, group, resource, verb string) bool {
	return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
	})
}

func crdName(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	return crd.Metadata.Name
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
