package backup

import (
	"bytes"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// startHub starts a real API server with the fleet CRDs (no controllers:
// restore happens before `flotilla hub` starts).
func startHub(t *testing.T) client.Client {
	t.Helper()
	return testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs}).Hub.Client
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seedFleet writes a small fleet: a member with credentials and an agent
// identity, a strategy, a run in the middle of its stage with a gate.
func seedFleet(t *testing.T, c client.Client) {
	ctx := t.Context()
	labels := map[string]string{enrollment.MemberLabel: "dev-1"}
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}))
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "member-dev-1", Namespace: enrollment.Namespace, Labels: labels},
		Data: map[string][]byte{"kubeconfig": []byte("apiVersion: v1\nkind: Config\n")}}))
	memberNS := fleetv1.MemberNamespace("dev-1")
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: memberNS, Labels: labels}}))
	must(t, c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent", Namespace: memberNS, Labels: labels}}))
	must(t, c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent", Namespace: memberNS, Labels: labels},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"works"}, Verbs: []string{"get", "list", "watch"}}}}))

	member := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "dev-1", Labels: map[string]string{"env": "dev"}},
		Spec: fleetv1.MemberClusterSpec{UpdateGroup: "dev", Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig,
			KubeconfigSecretRef: &fleetv1.SecretKeyReference{Namespace: enrollment.Namespace, Name: "member-dev-1", Key: "kubeconfig"}}}}
	must(t, c.Create(ctx, member))
	member.Status.KubernetesVersion = "v1.36.3"
	must(t, c.Status().Update(ctx, member))

	must(t, c.Create(ctx, &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: "staged"},
		Spec: fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "dev", Groups: []fleetv1.UpdateGroup{{Name: "dev"}}}}}}))
	run := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "monthly"}, Spec: fleetv1.UpdateRunSpec{
		UpdateStrategyName:   "staged",
		ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}},
		State:                fleetv1.RunStarted,
	}}
	must(t, c.Create(ctx, run))
	started := metav1.NewTime(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	run.Status.State = fleetv1.StateRunning
	run.Status.Stages = []fleetv1.StageProgress{{Name: "dev", Progress: fleetv1.Progress{State: fleetv1.StateRunning, StartTime: &started},
		Groups: []fleetv1.GroupProgress{{Name: "dev", Progress: fleetv1.Progress{State: fleetv1.StateRunning},
			Members: []fleetv1.MemberProgress{{Name: "dev-1", Progress: fleetv1.Progress{State: fleetv1.StateCompleted, StartTime: &started}}}}}}}
	must(t, c.Status().Update(ctx, run))
	must(t, c.Create(ctx, &fleetv1.Gate{ObjectMeta: metav1.ObjectMeta{Name: "monthly-dev-after-0-abc", Labels: map[string]string{fleetv1.UpdateRunLabel: "monthly"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: fleetv1.GroupVersion.String(), Kind: "UpdateRun", Name: "monthly", UID: run.UID}}},
		Spec: fleetv1.GateSpec{Type: fleetv1.GateApproval, State: fleetv1.GateCompleted, Target: fleetv1.GateTarget{UpdateRun: "monthly", Stage: "dev", Timing: fleetv1.GateAfter}}}))
}

func TestABackupRestoresOntoAFreshHubWithStatusAndOwnersAndRefusesToOverwrite(t *testing.T) {
	src := startHub(t)
	dst := startHub(t)
	ctx := t.Context()
	seedFleet(t, src)

	a, err := Collect(ctx, src, time.Now())
	must(t, err)
	var file bytes.Buffer
	must(t, Write(&file, a, Encryption{Passphrase: "quarterly drill"}))
	read, err := Read(&file, Decryption{Passphrase: "quarterly drill"})
	must(t, err)

	res, err := Restore(ctx, dst, read, RestoreOptions{})
	must(t, err)
	if res.Created != len(read.Objects) || len(res.DroppedOwners) != 0 {
		t.Fatalf("restore result %+v for %d objects", res, len(read.Objects))
	}

	run := &fleetv1.UpdateRun{}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "monthly"}, run))
	if run.Status.State != fleetv1.StateRunning || run.Status.Stages[0].Groups[0].Members[0].State != fleetv1.StateCompleted {
		t.Fatalf("the run's status was not restored: %+v", run.Status)
	}
	gate := &fleetv1.Gate{}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "monthly-dev-after-0-abc"}, gate))
	if gate.OwnerReferences[0].UID != run.UID || gate.Spec.State != fleetv1.GateCompleted {
		t.Fatalf("gate owner %s, restored run %s; state %s", gate.OwnerReferences[0].UID, run.UID, gate.Spec.State)
	}
	member := &fleetv1.MemberCluster{}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "dev-1"}, member))
	if member.Status.KubernetesVersion != "v1.36.3" || member.Labels["env"] != "dev" {
		t.Fatalf("member %+v", member)
	}
	secret := &corev1.Secret{}
	must(t, dst.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: "member-dev-1"}, secret))
	role := &rbacv1.Role{}
	must(t, dst.Get(ctx, client.ObjectKey{Namespace: fleetv1.MemberNamespace("dev-1"), Name: "flotilla-agent"}, role))

	// A second restore onto the same hub is refused, and changes nothing.
	before := run.ResourceVersion
	if _, err := Restore(ctx, dst, read, RestoreOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second restore: %v, want ErrExists", err)
	}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "monthly"}, run))
	if run.ResourceVersion != before {
		t.Fatal("a refused restore changed the run")
	}
	res, err = Restore(ctx, dst, read, RestoreOptions{Overwrite: true})
	must(t, err)
	if res.Replaced != len(read.Objects) {
		t.Fatalf("overwrite replaced %d of %d", res.Replaced, len(read.Objects))
	}
}

// TestTheHubObjectsAPlacementSelectsAreBackedUp: a hubful fleet's desired
// state is also the hub objects its placements select. Restored without
// them, the fresh hub's placement controller would select nothing and its
// agents would delete everything placed on the members.
func TestTheHubObjectsAPlacementSelectsAreBackedUp(t *testing.T) {
	src := startHub(t)
	dst := startHub(t)
	ctx := t.Context()
	must(t, src.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fintech", Labels: map[string]string{"team": "payments"}}}))
	must(t, src.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "fintech"}, Data: map[string]string{"tier": "gold"}}))
	must(t, src.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "fintech-readonly"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}))
	crp := &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: "fintech"},
		Spec: placementv1.ClusterResourcePlacementSpec{ResourceSelectors: []placementv1.ClusterResourceSelector{{Version: "v1", Kind: "Namespace", Name: "fintech"}}}}
	must(t, src.Create(ctx, crp))
	crp.Status.SelectedResources = []placementv1.ResourceIdentifier{
		{Version: "v1", Kind: "Namespace", Name: "fintech"},
		{Version: "v1", Kind: "ConfigMap", Namespace: "fintech", Name: "settings"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "fintech-readonly"},
		// Selected once, deleted since: nothing to back up.
		{Version: "v1", Kind: "ConfigMap", Namespace: "fintech", Name: "gone"},
	}
	must(t, src.Status().Update(ctx, crp))

	a, err := Collect(ctx, src, time.Now())
	must(t, err)
	_, err = Restore(ctx, dst, a, RestoreOptions{})
	must(t, err)

	ns := &corev1.Namespace{}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "fintech"}, ns))
	if ns.Labels["team"] != "payments" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	cm := &corev1.ConfigMap{}
	must(t, dst.Get(ctx, client.ObjectKey{Namespace: "fintech", Name: "settings"}, cm))
	if cm.Data["tier"] != "gold" {
		t.Errorf("configmap data %v", cm.Data)
	}
	must(t, dst.Get(ctx, client.ObjectKey{Name: "fintech-readonly"}, &rbacv1.ClusterRole{}))
}

// TestAPlacedCRDIsRestoredBeforeItsObjects: placements may place a CRD and
// objects of it; restore creates the CRD first and waits for it to be
// served.
func TestAPlacedCRDIsRestoredBeforeItsObjects(t *testing.T) {
	dst := startHub(t)
	crd := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com"},
		"spec": map[string]any{
			"group": "example.com", "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	widget := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "fintech"},
		"spec":     map[string]any{"size": "large"},
	}}
	// In the order a careless writer might list them: sorted on restore.
	a := &Archive{Format: FormatVersion, Objects: []unstructured.Unstructured{widget, crd}}
	_, err := Restore(t.Context(), dst, a, RestoreOptions{})
	must(t, err)
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(widget.GroupVersionKind())
	must(t, dst.Get(t.Context(), client.ObjectKey{Namespace: "fintech", Name: "w"}, got))
}
