package charts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// testCluster is the package's one real kube-apiserver (with etcd), ready
// for the charts: the namespace flotilla-system and a stand-in
// ServiceMonitor CRD exist.
type testCluster struct {
	kubeconfig string
	server     string
	caPEM      []byte
	client     kubernetes.Interface
	version    string
}

// hub is the API server all the tests of the package share, without fleet
// CRDs: the charts bring their own. TestMain stops it.
var hub = testenv.NewShared(testenv.Options{})

// prepared is the shared API server's one-time set-up for the charts.
var prepared struct {
	once sync.Once
	tc   *testCluster
	err  error
}

func TestMain(m *testing.M) { os.Exit(hub.Run(m)) }

// apiServer returns the shared API server, started and prepared on first
// use.
func apiServer(t *testing.T) *testCluster {
	t.Helper()
	env := hub.Env(t)
	kubectl := kubectlBin(t)
	prepared.once.Do(func() {
		prepared.tc, prepared.err = prepare(env.Hub, kubectl)
	})
	if prepared.err != nil {
		t.Fatal(prepared.err)
	}
	return prepared.tc
}

func prepare(c *testenv.Cluster, kubectl string) (*testCluster, error) {
	out := &testCluster{
		kubeconfig: c.KubeconfigPath(), server: c.State().Server, caPEM: c.Config.CAData,
		client: c.Kube, version: c.KubernetesVersion(),
	}
	for _, args := range [][]string{
		{"create", "namespace", fleetNS},
		{"apply", "--server-side", "-f", "testdata/servicemonitor-crd.yaml"},
		{"wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"},
	} {
		if _, err := runKubectl(kubectl, out.kubeconfig, nil, args...); err != nil {
			return nil, fmt.Errorf("kubectl %v: %w", args, err)
		}
	}
	return out, nil
}

func runKubectl(kubectl, kubeconfig string, stdin []byte, args ...string) (string, error) {
	return runCommand(stdin, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

func (c *testCluster) kubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := runKubectl(kubectlBin(t), c.kubeconfig, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return out
}

var installed struct {
	hub, agents sync.Once
}

// operatorUsers are bound to the operator roles by installHubChart.
const (
	viewerUser   = "alice-viewer"
	operatorUser = "bob-operator"
	adminUser    = "carol-admin"
	nobody       = "dave-nobody"
	hubSA        = "system:serviceaccount:" + fleetNS + ":flotilla-hub"
)

// installHubChart applies the hub chart for real (as helm would, minus the
// release bookkeeping), its CRDs included, binding one user to each role.
func installHubChart(t *testing.T, c *testCluster) {
	t.Helper()
	installed.hub.Do(func() {
		out, err := render(t, hubChart, "--include-crds",
			"--set-json", `operatorRoles.viewers=[{"kind":"User","name":"`+viewerUser+`"}]`,
			"--set-json", `operatorRoles.operators=[{"kind":"User","name":"`+operatorUser+`"}]`,
			"--set-json", `operatorRoles.admins=[{"kind":"User","name":"`+adminUser+`"}]`,
		)
		if err != nil {
			t.Fatal(err)
		}
		c.kubectl(t, []byte(out), "apply", "--server-side", "-f", "-")
	})
}

// installAgentCharts applies the agent chart twice: with the default RBAC
// (release flotilla-agent) and narrowed to a few kinds (release narrow).
func installAgentCharts(t *testing.T, c *testCluster) {
	t.Helper()
	installed.agents.Do(func() {
		for _, r := range []struct {
			release string
			args    []string
		}{
			{"flotilla-agent", []string{"--set", "memberName=dev-1", "--set", "hub.kubeconfig=apiVersion: v1\nkind: Config\n"}},
			{"narrow", []string{"--set", "memberName=dev-2", "--set", "hub.existingSecret=dev-2-hub",
				"--set-json", `rbac.placedResources=[{"apiGroups":[""],"resources":["namespaces","configmaps"]}]`}},
		} {
			out, err := renderRelease(t, r.release, agentChart, r.args...)
			if err != nil {
				t.Fatal(err)
			}
			c.kubectl(t, []byte(out), "apply", "--server-side", "-f", "-")
		}
	})
}

// TestRenderedManifestsApplyWithServerSideDryRun sends what each chart
// renders, with default and other values, to a real API server with
// server-side dry run: the server validates every object (schemas, RBAC
// rules, PDB, the ServiceMonitor against a stand-in CRD) and stores none.
func TestRenderedManifestsApplyWithServerSideDryRun(t *testing.T) {
	c := apiServer(t)
	cases := []struct {
		name, chart string
		args        []string
	}{
		{"hub defaults", hubChart, nil},
		{"hub with three replicas, a ServiceMonitor, no placement, hard anti-affinity, bound roles", hubChart, []string{
			"--set", "replicaCount=3", "--set", "metrics.serviceMonitor.enabled=true", "--set", "hub.enablePlacement=false",
			"--set", "podAntiAffinity=hard", "--set-json", `operatorRoles.operators=[{"kind":"Group","name":"sre"}]`,
			"--set-json", `operatorRoles.admins=[{"kind":"ServiceAccount","name":"gitops","namespace":"` + fleetNS + `"}]`,
		}},
		{"hub reading only some kinds, against another API server", hubChart, []string{
			"--set-json", `rbac.placedResources=[{"apiGroups":[""],"resources":["configmaps"]}]`,
			"--set", "hub.kubeconfigSecret.name=remote-hub", "--set", "replicaCount=1",
		}},
		{"hub with its backup CronJob", hubChart, []string{"--set", "backup.enabled=true", "--set", "backup.recipients[0]=age1example"}},
		{"agent defaults", agentChart, []string{"--set", "memberName=dev-1", "--set", "hub.kubeconfig=apiVersion: v1\nkind: Config\n"}},
		{"agent narrowed, persistent, outside its member", agentChart, append([]string{
			"--set", "persistence.enabled=true", "--set", "agent.memberKubeconfigSecret.name=member",
			"--set-json", `rbac.placedResources=[{"apiGroups":["","apps"],"resources":["namespaces","configmaps","deployments"]},{"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles"]}]`,
		}, agentValues...)},
	}
	// A release of its own, so that what a dry run would have stored is
	// told apart from what other tests install.
	const release = "dryrun"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderRelease(t, release, tc.chart, append([]string{"--include-crds"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, out)
			applied := c.kubectl(t, []byte(out), "apply", "--server-side", "--dry-run=server", "-f", "-")
			if got := strings.Count(applied, "(server dry run)"); got != len(objs) {
				t.Errorf("%d of %d objects went through the server's dry run:\n%s", got, len(objs), applied)
			}
		})
	}
	for _, name := range []string{release + "-" + hubChart, release + "-" + agentChart} {
		if _, err := c.client.AppsV1().Deployments(fleetNS).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
			t.Errorf("a dry run stored Deployment %s", name)
		}
	}
}

// access is one SubjectAccessReview question.
type access struct {
	verb, group, resource, subresource, namespace, name string
}

func (a access) String() string {
	r := a.resource
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.group != "" {
		r += "." + a.group
	}
	if a.name != "" {
		r += "/" + a.name
	}
	if a.namespace != "" {
		r += " in " + a.namespace
	}
	return a.verb + " " + r
}

func (c *testCluster) allowed(t *testing.T, user string, groups []string, a access) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: append([]string{"system:authenticated"}, groups...),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Name: a.name,
		},
	}}
	got, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %s for %s: %v", a, user, err)
	}
	return got.Status.Allowed
}

const (
	fleet     = "fleet.flotilla.dev"
	placement = "placement.kubernetes-fleet.io"
)

// TestOperatorRolesPermissionMatrix applies the hub chart's operator roles to
// a real API server, binds one user to each and asks the server
// (SubjectAccessReview) what each may do.
func TestOperatorRolesPermissionMatrix(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	type row struct {
		access
		viewer, operator, admin bool
	}
	memberNS := "flotilla-member-dev-1"
	matrix := []row{
		{access{verb: "list", group: fleet, resource: "updateruns"}, true, true, true},
		{access{verb: "watch", group: fleet, resource: "memberclusters"}, true, true, true},
		{access{verb: "get", group: fleet, resource: "gates", name: "g"}, true, true, true},
		{access{verb: "list", group: placement, resource: "clusterresourceplacements"}, true, true, true},
		{access{verb: "create", group: fleet, resource: "updateruns"}, false, true, true},
		{access{verb: "patch", group: fleet, resource: "updateruns", name: "r"}, false, true, true},
		{access{verb: "delete", group: fleet, resource: "updateruns", name: "r"}, false, true, true},
		{access{verb: "patch", group: fleet, resource: "gates", name: "g"}, false, true, true},
		{access{verb: "create", group: fleet, resource: "updatestrategies"}, false, true, true},
		{access{verb: "list", group: fleet, resource: "autoupgradeprofiles"}, true, true, true},
		{access{verb: "create", group: fleet, resource: "autoupgradeprofiles"}, false, true, true},
		{access{verb: "delete", group: fleet, resource: "autoupgradeprofiles", name: "p"}, false, true, true},
		{access{verb: "patch", group: fleet, resource: "autoupgradeprofiles", subresource: "status", name: "p"}, false, false, true},
		{access{verb: "create", group: placement, resource: "clusterresourceplacements"}, false, true, true},
		{access{verb: "update", group: placement, resource: "clusterresourceoverrides", name: "o"}, false, true, true},
		{access{verb: "create", group: placement, resource: "resourceoverrides", namespace: "apps"}, false, true, true},
		{access{verb: "create", group: fleet, resource: "memberclusters"}, false, false, true},
		{access{verb: "delete", group: fleet, resource: "memberclusters", name: "m"}, false, false, true},
		{access{verb: "patch", group: fleet, resource: "memberclusters", subresource: "status", name: "m"}, false, false, true},
		{access{verb: "patch", group: fleet, resource: "updateruns", subresource: "status", name: "r"}, false, false, true},
		// Works and snapshots carry placed manifests, Secrets included.
		{access{verb: "get", group: fleet, resource: "works", namespace: memberNS, name: "w"}, false, false, true},
		{access{verb: "list", group: fleet, resource: "resourcesnapshots"}, false, false, true},
		// Member credentials: only the admin, only in flotilla-system.
		{access{verb: "get", resource: "secrets", namespace: fleetNS, name: "member-dev-1-kubeconfig"}, false, false, true},
		{access{verb: "create", resource: "secrets", namespace: fleetNS}, false, false, true},
		{access{verb: "list", resource: "secrets", namespace: "default"}, false, false, false},
		{access{verb: "get", resource: "secrets", namespace: memberNS, name: "s"}, false, false, false},
		// Writing programs for the hub to run (the exec admission policy's check).
		{access{verb: "use", group: fleet, resource: "exec"}, false, false, true},
		// Nothing else.
		{access{verb: "create", resource: "namespaces"}, false, false, false},
		{access{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"}, false, false, false},
	}
	for _, r := range matrix {
		for user, want := range map[string]bool{viewerUser: r.viewer, operatorUser: r.operator, adminUser: r.admin, nobody: false} {
			if got := c.allowed(t, user, nil, r.access); got != want {
				t.Errorf("%s may %s: %v, want %v", user, r.access, got, want)
			}
		}
	}
	for _, user := range []string{viewerUser, operatorUser, adminUser} {
		list := c.kubectl(t, nil, "auth", "can-i", "--list", "--as", user)
		t.Logf("kubectl auth can-i --list --as %s (cluster-wide):\n%s", user, fleetRows(list))
	}
	t.Logf("kubectl auth can-i --list --as %s -n %s:\n%s", adminUser, fleetNS,
		fleetRows(c.kubectl(t, nil, "auth", "can-i", "--list", "--as", adminUser, "-n", fleetNS)))
}

// fleetRows keeps the header and the rows about fleet objects and Secrets
// from `kubectl auth can-i --list` (the rest is what every user may do).
func fleetRows(list string) string {
	var out []string
	for i, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if i == 0 || strings.Contains(line, fleet) || strings.Contains(line, placement) || strings.HasPrefix(line, "secrets") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestHubAndAgentServiceAccountPermissions asks the API server what the
// charts' ServiceAccounts may do: the hub exactly its calls, the agent all
// it may be asked to place (or only the kinds it was narrowed to).
func TestHubAndAgentServiceAccountPermissions(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	installAgentCharts(t, c)
	saGroups := func(ns string) []string { return []string{"system:serviceaccounts", "system:serviceaccounts:" + ns} }
	hub := []struct {
		access
		want bool
	}{
		{access{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name: "updateruns.fleet.flotilla.dev"}, true},
		{access{verb: "patch", group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name: "clusterresourceplacements.placement.kubernetes-fleet.io"}, true},
		{access{verb: "patch", group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name: "widgets.example.com"}, false},
		{access{verb: "delete", group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name: "updateruns.fleet.flotilla.dev"}, false},
		{access{verb: "create", resource: "namespaces"}, true},
		{access{verb: "delete", resource: "namespaces", name: fleetNS}, false},
		{access{verb: "patch", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicies", name: "flotilla-exec-provider"}, true},
		{access{verb: "get", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicybindings", name: "flotilla-exec-credentials"}, true},
		{access{verb: "patch", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicies", name: "someone-elses"}, false},
		{access{verb: "delete", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicies", name: "flotilla-exec-provider"}, false},
		// The hub runs programs; it does not write them.
		{access{verb: "use", group: fleet, resource: "exec"}, false},
		{access{verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: fleetNS}, true},
		{access{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: fleetNS, name: "flotilla-hub"}, true},
		{access{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: fleetNS, name: "someone-else"}, false},
		{access{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system", name: "flotilla-hub"}, false},
		{access{verb: "watch", resource: "secrets", namespace: fleetNS}, true},
		// The data of placed Secrets, kept in Secrets of the fleet and
		// the member namespaces, never in snapshots or Works.
		{access{verb: "create", resource: "secrets", namespace: fleetNS}, true},
		{access{verb: "delete", resource: "secrets", namespace: "flotilla-member-dev-1", name: "p"}, true},
		{access{verb: "patch", resource: "secrets", namespace: fleetNS, name: "p"}, false},
		{access{verb: "create", group: "events.k8s.io", resource: "events", namespace: "default"}, true},
		{access{verb: "patch", group: fleet, resource: "memberclusters", subresource: "status", name: "m"}, true},
		{access{verb: "update", group: fleet, resource: "memberclusters", name: "m"}, false},
		{access{verb: "create", group: fleet, resource: "memberclusters"}, false},
		{access{verb: "patch", group: fleet, resource: "updateruns", subresource: "status", name: "r"}, true},
		{access{verb: "patch", group: fleet, resource: "updateruns", name: "r"}, false},
		// Auto-upgrade profiles: read, their status written, their runs created.
		{access{verb: "watch", group: fleet, resource: "autoupgradeprofiles"}, true},
		{access{verb: "patch", group: fleet, resource: "autoupgradeprofiles", subresource: "status", name: "p"}, true},
		{access{verb: "patch", group: fleet, resource: "autoupgradeprofiles", name: "p"}, false},
		{access{verb: "create", group: fleet, resource: "updateruns"}, true},
		{access{verb: "delete", group: fleet, resource: "updateruns", name: "r"}, false},
		{access{verb: "delete", group: fleet, resource: "gates", name: "g"}, true},
		{access{verb: "create", group: fleet, resource: "works", namespace: "flotilla-member-dev-1"}, true},
		{access{verb: "update", group: placement, resource: "clusterresourceplacements", name: "p"}, true},
		{access{verb: "create", group: placement, resource: "clusterresourceplacements"}, false},
		// What placements select is read, never written.
		{access{verb: "list", resource: "configmaps", namespace: "apps"}, true},
		{access{verb: "create", resource: "configmaps", namespace: "apps"}, false},
		// The join flow's objects are the operator's business, not the hub's.
		{access{verb: "create", resource: "serviceaccounts", namespace: "flotilla-member-dev-1"}, false},
		{access{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "flotilla-member-dev-1", name: "flotilla-agent"}, false},
		{access{verb: "create", group: "rbac.authorization.k8s.io", resource: "roles", namespace: "flotilla-member-dev-1"}, false},
	}
	for _, r := range hub {
		if got := c.allowed(t, hubSA, saGroups(fleetNS), r.access); got != r.want {
			t.Errorf("the hub may %s: %v, want %v", r.access, got, r.want)
		}
	}

	agent := "system:serviceaccount:" + fleetNS + ":flotilla-agent"
	narrow := "system:serviceaccount:" + fleetNS + ":narrow-flotilla-agent"
	for _, r := range []struct {
		access
		agent, narrow bool
	}{
		{access{verb: "list", resource: "nodes"}, true, true},
		{access{verb: "list", resource: "pods"}, true, true},
		{access{verb: "patch", resource: "configmaps", namespace: "apps", name: "c"}, true, true},
		{access{verb: "create", resource: "namespaces"}, true, true},
		{access{verb: "watch", resource: "configmaps"}, true, true},
		{access{verb: "delete", resource: "configmaps", namespace: "apps", name: "c"}, true, true},
		{access{verb: "create", group: "apps", resource: "deployments", namespace: "apps"}, true, false},
		{access{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "r"}, true, false},
		{access{verb: "get", resource: "secrets", namespace: "apps", name: "s"}, true, false},
	} {
		if got := c.allowed(t, agent, saGroups(fleetNS), r.access); got != r.agent {
			t.Errorf("the agent may %s: %v, want %v", r.access, got, r.agent)
		}
		if got := c.allowed(t, narrow, saGroups(fleetNS), r.access); got != r.narrow {
			t.Errorf("the narrowed agent may %s: %v, want %v", r.access, got, r.narrow)
		}
	}
}

// token issues a token for a ServiceAccount of the chart.
func (c *testCluster) token(t *testing.T, namespace, name string) string {
	t.Helper()
	return serviceAccountToken(t, c.client, namespace, name)
}

// serviceAccountToken issues an hour's token for a ServiceAccount, as the
// kubelet does for a pod that runs under it.
func serviceAccountToken(t *testing.T, kube kubernetes.Interface, namespace, name string) string {
	t.Helper()
	seconds := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// inClusterKubeconfig renders the chart's in-cluster kubeconfig for this
// API server and points its token and CA files at files in dir, as the
// kubelet would mount them.
func (c *testCluster) inClusterKubeconfig(t *testing.T, dir, chart, token string, args ...string) string {
	t.Helper()
	return podKubeconfig(t, dir, chart, c.server, c.caPEM, token, args...)
}

// podKubeconfig renders the chart's in-cluster kubeconfig for the API
// server at server (with CA caPEM), writes token and CA where the kubelet
// would mount them, here in dir, and returns the kubeconfig's path.
func podKubeconfig(t *testing.T, dir, chart, server string, caPEM []byte, token string, args ...string) string {
	t.Helper()
	name := chart + "-kubeconfig"
	serverValue := "hub.inClusterServer"
	if chart == agentChart {
		name, serverValue = chart+"-member-kubeconfig", "agent.inClusterServer"
	}
	objs := mustRender(t, chart, append([]string{"--set", serverValue + "=" + server}, args...)...)
	data := find(t, objs, "ConfigMap", name).Object["data"].(map[string]any)["kubeconfig"].(string)
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	data = strings.ReplaceAll(data, "/var/run/secrets/kubernetes.io/serviceaccount/token", tokenFile)
	data = strings.ReplaceAll(data, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", caFile)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
