package clusterapi

import (
	"context"
	"os"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// docsRole is the Role docs/clusterapi.md says the management kubeconfig
// needs, read from the page so that the two cannot drift apart.
func docsRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	page, err := os.ReadFile("../../../docs/clusterapi.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(page), "```yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/clusterapi.md has no Role block")
	}
	role := &rbacv1.Role{}
	if err := yaml.Unmarshal([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"+block), role); err != nil {
		t.Fatal(err)
	}
	return role
}

// testRBAC checks that the Role of docs/clusterapi.md is enough for
// everything the provider does: a management kubeconfig whose user has
// only that Role upgrades a Cluster from start to end.
func testRBAC(t *testing.T, mgmt *management, md *model) {
	ctx := context.Background()
	role := docsRole(t)
	if role.Namespace != testNamespace {
		t.Fatalf("the docs' Role is for namespace %s, the test's Clusters are in %s", role.Namespace, testNamespace)
	}
	mgmt.create(t, role)
	mgmt.create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: role.Namespace, Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "flotilla-hub"}},
	})
	kubeconfig, err := mgmt.cluster.UserKubeconfig("flotilla-hub")
	if err != nil {
		t.Fatal(err)
	}
	mgmt.workload(t, "restricted", "quick-start", fromVersion, fromImage, []byte("kubeconfig of restricted"))
	p := &Provider{secrets: func(context.Context, fleetv1.SecretKeyReference) ([]byte, error) { return kubeconfig, nil }, config: md.watch}
	m := member("restricted", imageVariable)
	if _, err := p.Describe(ctx, m); err != nil {
		t.Fatalf("Describe with the docs' Role: %v", err)
	}
	if _, err := p.AvailableVersions(ctx, m); err != nil {
		t.Fatalf("AvailableVersions with the docs' Role: %v", err)
	}
	if _, err := p.FetchKubeconfig(ctx, m, false); err != nil {
		t.Fatalf("FetchKubeconfig with the docs' Role: %v", err)
	}
	full := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: toVersion, NodeImage: toImage}
	if err := p.Start(ctx, "op", m, full); err != nil {
		t.Fatalf("Start with the docs' Role: %v", err)
	}
	progressUntil(t, p, m, full, upgrade.PhaseSucceeded)
	// And nothing more: the Role does not reach another namespace.
	other := m
	other.Provider.ClusterAPI = &fleetv1.ClusterAPIProvider{Namespace: "default", Name: "restricted"}
	if _, err := p.Describe(ctx, other); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("Describe outside the Role's namespace: %v, want forbidden", err)
	}
}
