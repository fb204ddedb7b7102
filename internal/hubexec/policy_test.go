package hubexec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/admission"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// execKubeconfig is a member kubeconfig whose user runs a credential plugin.
const execKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/local/bin/get-token
      interactiveMode: Never
`

const tokenKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {token: abc}}]
`

// TestExecPolicyRefusesProgramsToThoseWithoutThePermission applies the
// shipped policy to a real hub and writes, as a user who may write every
// fleet object and member Secret but not use "exec", and as one who also
// may: each way of making the hub run a program is refused to the first,
// with the policy's message naming the field and the permission, and
// allowed to the second; writes that keep what was there pass.
func TestExecPolicyRefusesProgramsToThoseWithoutThePermission(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	ctx := context.Background()
	hub := env.Hub.Client
	policy, err := admission.Exec()
	if err != nil {
		t.Fatal(err)
	}
	if err := crdinstall.ApplyObjects(ctx, hub, policy.Objects()); err != nil {
		t.Fatal(err)
	}
	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}); err != nil {
		t.Fatal(err)
	}
	writer := rbacv1.PolicyRule{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"memberclusters", "updatestrategies", "updateruns"}, Verbs: []string{"*"}}
	secrets := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"*"}}
	bind(t, hub, "writer", writer, secrets)
	bind(t, hub, "exec-user", writer, secrets, rbacv1.PolicyRule{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"exec"}, Verbs: []string{"use"}})
	as := func(user string) client.Client {
		c, err := client.New(env.Hub.UserConfig(t, user), client.Options{Scheme: fleetscheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	writerClient, execClient := as("writer"), as("exec-user")

	// The policy takes a moment to be in force after it is created.
	testenv.Eventually(t, 30*time.Second, "the policy refuses an Exec provider", func() error {
		err := writerClient.Create(ctx, execMember("probe"))
		if err == nil {
			_ = hub.Delete(ctx, execMember("probe"))
			return errString("created")
		}
		return nil
	})

	refused := func(what, field string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want refused", what)
			return
		}
		for _, want := range []string{field, `"use" the resource "exec"`, "fleet.flotilla.dev", "flotilla-admin"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refused with %q, want it to name %q", what, err, want)
			}
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want allowed", what, err)
		}
	}

	// Members.
	refused("writer creates an Exec member", "spec.provider.exec", writerClient.Create(ctx, execMember("m1")))
	allowed("exec user creates an Exec member", execClient.Create(ctx, execMember("m1")))
	allowed("writer creates a member without a program", writerClient.Create(ctx, plainMember("m2")))
	m := &fleetv1.MemberCluster{}
	mustGet(t, hub, "m1", m)
	m.Labels = map[string]string{"env": "dev"}
	allowed("writer relabels the Exec member", writerClient.Update(ctx, m))
	mustGet(t, hub, "m1", m)
	m.Spec.Provider.Exec.Command = []string{"/bin/sh", "-c", "cat $KUBECONFIG"}
	refused("writer changes the Exec command", "spec.provider.exec", writerClient.Update(ctx, m))
	mustGet(t, hub, "m2", m)
	m.Spec.Provider = execMember("m2").Spec.Provider
	refused("writer adds an Exec provider", "spec.provider.exec", writerClient.Update(ctx, m))

	// Strategies.
	err = writerClient.Create(ctx, commandStrategy("s1"))
	t.Logf("refused: %v", err)
	refused("writer creates a strategy with a Command check", "spec.healthChecks", err)
	allowed("exec user creates a strategy with a Command check", execClient.Create(ctx, commandStrategy("s1")))
	s := &fleetv1.UpdateStrategy{}
	mustGet(t, hub, "s1", s)
	s.Spec.HealthChecks = append(s.Spec.HealthChecks, fleetv1.HealthCheck{Name: "nodes", Type: fleetv1.CheckNodesReady})
	allowed("writer adds a NodesReady check beside the Command check", writerClient.Update(ctx, s))
	mustGet(t, hub, "s1", s)
	s.Spec.HealthChecks[0].Command = []string{"/bin/evil"}
	refused("writer changes the Command check", "spec.healthChecks", writerClient.Update(ctx, s))
	mustGet(t, hub, "s1", s)
	s.Spec.HealthChecks = s.Spec.HealthChecks[1:]
	allowed("writer removes the Command check", writerClient.Update(ctx, s))

	// Runs with an inline strategy.
	refused("writer creates a run with an inline Command check", "spec.strategy.healthChecks", writerClient.Create(ctx, commandRun("r1")))
	allowed("exec user creates a run with an inline Command check", execClient.Create(ctx, commandRun("r1")))

	// Member credentials.
	refused("writer stores a kubeconfig with an exec plugin", "users[].user.exec", writerClient.Create(ctx, memberSecret("c1", execKubeconfig)))
	allowed("exec user stores a kubeconfig with an exec plugin", execClient.Create(ctx, memberSecret("c1", execKubeconfig)))
	allowed("writer stores a kubeconfig with a token", writerClient.Create(ctx, memberSecret("c2", tokenKubeconfig)))
	sec := &corev1.Secret{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: "c2"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data[enrollment.KubeconfigKey] = []byte(execKubeconfig)
	refused("writer swaps a token for an exec plugin", "users[].user.exec", writerClient.Update(ctx, sec))
	unlabelled := memberSecret("c3", execKubeconfig)
	unlabelled.Labels = nil
	allowed("writer stores an unlabelled Secret (not one the hub reads)", writerClient.Create(ctx, unlabelled))
}

// TestGuardRefusesWithoutTheFlagOrThePolicy asks a guard of a real hub:
// without --allow-exec every program is refused naming the flag; with it,
// only while the policy and its bindings are in force.
func TestGuardRefusesWithoutTheFlagOrThePolicy(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	policy, err := admission.Exec()
	if err != nil {
		t.Fatal(err)
	}
	off := &hubexec.Guard{Reader: env.Hub.Client, Policy: policy}
	err = off.Permit(ctx, "spec.provider.exec of member dev-1")
	if r := hubexec.Refused(err); r == nil || r.Reason != hubexec.ReasonExecNotAllowed || !strings.Contains(err.Error(), "--allow-exec") || !strings.Contains(err.Error(), "member dev-1") {
		t.Fatalf("Permit without the flag = %v, want a refusal naming --allow-exec and the member", err)
	}
	var nilGuard *hubexec.Guard
	if nilGuard.Permit(ctx, "x") == nil {
		t.Fatal("a nil guard permits")
	}

	on := &hubexec.Guard{Allow: true, Reader: env.Hub.Client, Policy: policy, CheckInterval: time.Nanosecond}
	err = on.Permit(ctx, "the Command check script")
	if r := hubexec.Refused(err); r == nil || r.Reason != hubexec.ReasonExecPolicyMissing || !strings.Contains(err.Error(), "flotilla-exec-provider") {
		t.Fatalf("Permit without the policy = %v, want a refusal naming the missing policy", err)
	}
	if err := crdinstall.ApplyObjects(ctx, env.Hub.Client, policy.Objects()); err != nil {
		t.Fatal(err)
	}
	if err := on.Permit(ctx, "the Command check script"); err != nil {
		t.Fatalf("Permit with the flag and the policy: %v", err)
	}
	if err := env.Hub.Client.Delete(ctx, policy.Bindings[1]); err != nil {
		t.Fatal(err)
	}
	err = on.Permit(ctx, "the Command check script")
	if err == nil || !strings.Contains(err.Error(), policy.Bindings[1].Name) {
		t.Fatalf("Permit with a binding gone = %v, want a refusal naming it", err)
	}

	// A reading is reused for CheckInterval: cheap on every check.
	cached := &hubexec.Guard{Allow: true, Reader: env.Hub.Client, Policy: policy, CheckInterval: time.Hour}
	if cached.Permit(ctx, "x") == nil {
		t.Fatal("permitted with a binding gone")
	}
	if err := crdinstall.ApplyObjects(ctx, env.Hub.Client, policy.Objects()); err != nil {
		t.Fatal(err)
	}
	if cached.Permit(ctx, "x") == nil {
		t.Fatal("the guard read the policy again within its check interval")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func bind(t *testing.T, c client.Client, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}}); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, c client.Client, name string, o client.Object) {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, o); err != nil {
		t.Fatal(err)
	}
}

func plainMember(name string) *fleetv1.MemberCluster {
	return &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.MemberClusterSpec{
		Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
	}}
}

func execMember(name string) *fleetv1.MemberCluster {
	m := plainMember(name)
	m.Spec.Provider = &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"/usr/local/bin/upgrade.sh"}}}
	return m
}

func commandStrategy(name string) *fleetv1.UpdateStrategy {
	return &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: strategySpec()}
}

func strategySpec() fleetv1.UpdateStrategySpec {
	return fleetv1.UpdateStrategySpec{
		Stages:       []fleetv1.UpdateStage{{Name: "one", Groups: []fleetv1.UpdateGroup{{Name: "g1"}}}},
		HealthChecks: []fleetv1.HealthCheck{{Name: "script", Type: fleetv1.CheckCommand, Command: []string{"/bin/validate.sh"}}},
	}
}

func commandRun(name string) *fleetv1.UpdateRun {
	spec := strategySpec()
	return &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.UpdateRunSpec{
		Strategy:             &spec,
		ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}},
	}}
}

func memberSecret(name, kubeconfig string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: enrollment.Namespace, Name: name, Labels: map[string]string{enrollment.MemberLabel: name}},
		Data:       map[string][]byte{enrollment.KubeconfigKey: []byte(kubeconfig)},
	}
}
