package charts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/admission"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// memberWriter may write members and their credentials but was not given
// the permission to write programs (a GitOps identity, say).
const memberWriter = "erin-member-writer"

// as is a client of the shared API server that impersonates user.
func (c *testCluster) as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	cl, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestOnlyAdminsMayWriteProgramsForTheHub applies the hub chart (CRDs,
// exec admission policy, operator roles bound to users) and writes, under
// each role, the objects that make the hub run a program: the operator is
// refused a Command check in a strategy or an inline run strategy with the
// policy's message, and an Exec member by RBAC; a member writer without the
// permission is refused the Exec provider and an exec-plugin kubeconfig by
// the policy; the admin may write all of them; the operator may still edit
// an admin's strategy where it leaves the Command check as it is.
func TestOnlyAdminsMayWriteProgramsForTheHub(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	ctx := context.Background()
	admin := c.as(t, "")
	writerRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: memberWriter}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{fleet}, Resources: []string{"memberclusters"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	}}
	writerBinding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: memberWriter},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: memberWriter},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: memberWriter}}}
	secretsBinding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: memberWriter, Namespace: fleetNS},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "flotilla-member-credentials"},
		Subjects: writerBinding.Subjects}
	for _, o := range []client.Object{writerRole, writerBinding, secretsBinding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	operator, writer, flotillaAdmin := c.as(t, operatorUser), c.as(t, memberWriter), c.as(t, adminUser)

	strategy := func(name string) *fleetv1.UpdateStrategy {
		return &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: commandStrategySpec()}
	}
	spec := commandStrategySpec()
	run := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "exec-inline"}, Spec: fleetv1.UpdateRunSpec{
		Strategy:             &spec,
		ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}},
	}}
	member := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "exec-written"}, Spec: fleetv1.MemberClusterSpec{
		Access:   fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
		Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"/usr/local/bin/upgrade.sh"}}},
	}}
	secret := memberKubeconfigSecret("exec-written", execPluginKubeconfig)
	for _, o := range []client.Object{strategy("exec-refused"), strategy("exec-admin"), run, member, secret} {
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}

	policyRefusal := func(what, field string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want refused by the exec policy", what)
			return
		}
		for _, want := range []string{"ValidatingAdmissionPolicy", field, `"use" the resource "exec"`, "fleet.flotilla.dev", "flotilla-admin"} {
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

	// A new policy is in force a moment after it is created.
	testenv.Eventually(t, 30*time.Second, "the exec policy refuses the operator", func() error {
		err := operator.Create(ctx, strategy("exec-refused"))
		if err == nil {
			_ = admin.Delete(ctx, strategy("exec-refused"))
			return fmt.Errorf("the operator created a strategy with a Command check")
		}
		return nil
	})
	policyRefusal("operator creates a strategy with a Command check", "spec.healthChecks", operator.Create(ctx, strategy("exec-refused")))
	policyRefusal("operator creates a run with an inline Command check", "spec.strategy.healthChecks", operator.Create(ctx, run.DeepCopy()))
	if err := operator.Create(ctx, member.DeepCopy()); !apierrors.IsForbidden(err) {
		t.Errorf("operator creates an Exec member: %v, want forbidden", err)
	}
	policyRefusal("member writer creates an Exec member", "spec.provider.exec", writer.Create(ctx, member.DeepCopy()))
	policyRefusal("member writer stores a kubeconfig with an exec plugin", "users[].user.exec", writer.Create(ctx, secret.DeepCopy()))

	allowed("admin creates a strategy with a Command check", flotillaAdmin.Create(ctx, strategy("exec-admin")))
	allowed("admin creates a run with an inline Command check", flotillaAdmin.Create(ctx, run.DeepCopy()))
	allowed("admin creates an Exec member", flotillaAdmin.Create(ctx, member.DeepCopy()))
	allowed("admin stores a kubeconfig with an exec plugin", flotillaAdmin.Create(ctx, secret.DeepCopy()))

	s := &fleetv1.UpdateStrategy{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "exec-admin"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Stages[0].AfterStageWaitInSeconds = 60
	allowed("operator changes the wait of the admin's strategy", operator.Update(ctx, s))
	if err := admin.Get(ctx, client.ObjectKey{Name: "exec-admin"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.HealthChecks[0].Command = []string{"/bin/sh", "-c", "cat $KUBECONFIG"}
	policyRefusal("operator changes the admin's Command check", "spec.healthChecks", operator.Update(ctx, s))
	m := &fleetv1.MemberCluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "exec-written"}, m); err != nil {
		t.Fatal(err)
	}
	m.Labels = map[string]string{"env": "dev"}
	allowed("member writer relabels the admin's Exec member", writer.Update(ctx, m))
}

// TestHubWithoutAllowExecRunsNoProgram runs `flotilla hub` without
// --allow-exec: an admin's Exec member fails its upgrade, and a member whose
// stored kubeconfig has an exec plugin is not reached, each with a
// condition or run status and an Event that name the flag.
func TestHubWithoutAllowExecRunsNoProgram(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	ctx := context.Background()
	admin := c.as(t, "")
	dir := t.TempDir()
	bin := buildFlotilla(t, dir)
	startProcess(t, "hub", dir, bin, "hub", "--kubeconfig", c.kubeconfig, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--leader-elect=false")

	running := version.MustParseSemantic(c.version)
	next := "v" + running.WithPatch(running.Patch()+1).String()
	kubeconfig, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		memberKubeconfigSecret("exec-upgrade", string(kubeconfig)),
		&fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "exec-upgrade"}, Spec: fleetv1.MemberClusterSpec{
			UpdateGroup: "exec-g",
			Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
				Namespace: fleetNS, Name: "exec-upgrade", Key: enrollment.KubeconfigKey}},
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{
				Command: []string{"/bin/sh", "-c", "touch ran"}, AvailableVersions: []string{next}}},
		}},
		&fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "exec-upgrade"}, Spec: fleetv1.UpdateRunSpec{
			Strategy:             &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "only", Groups: []fleetv1.UpdateGroup{{Name: "exec-g"}}}}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: next}},
			State:                fleetv1.RunStarted,
		}},
		memberKubeconfigSecret("exec-plugin", execPluginKubeconfig),
		&fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "exec-plugin"}, Spec: fleetv1.MemberClusterSpec{
			Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
				Namespace: fleetNS, Name: "exec-plugin", Key: enrollment.KubeconfigKey}},
		}},
	}
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}

	var failure string
	testenv.Eventually(t, 60*time.Second, "the Exec member's upgrade fails", func() error {
		r := &fleetv1.UpdateRun{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "exec-upgrade"}, r); err != nil {
			return err
		}
		for _, st := range r.Status.Stages {
			for _, g := range st.Groups {
				for _, m := range g.Members {
					if m.Name == "exec-upgrade" && m.State == fleetv1.StateFailed {
						failure = m.Message
						return nil
					}
				}
			}
		}
		return fmt.Errorf("run %s: %s", r.Status.State, r.Status.Message)
	})
	t.Logf("the Exec member's upgrade: %s", failure)
	for _, want := range []string{"spec.provider.exec of member exec-upgrade", "--allow-exec"} {
		if !strings.Contains(failure, want) {
			t.Errorf("the member failed with %q, want it to name %q", failure, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "operations")); err == nil {
		if ran, _ := filepath.Glob(filepath.Join(dir, "state", "operations", "*", "ran")); len(ran) > 0 {
			t.Errorf("the command ran: %v", ran)
		}
	}

	testenv.Eventually(t, 60*time.Second, "the exec-plugin member is refused", func() error {
		m := &fleetv1.MemberCluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "exec-plugin"}, m); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable)
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != hubexec.ReasonExecNotAllowed {
			return fmt.Errorf("Reachable: %+v", cond)
		}
		if !strings.Contains(cond.Message, "exec credential plugin") || !strings.Contains(cond.Message, "--allow-exec") {
			return fmt.Errorf("Reachable message %q names neither the plugin nor the flag", cond.Message)
		}
		t.Logf("the exec-plugin member: Reachable=False %s: %s", cond.Reason, cond.Message)
		return nil
	})

	testenv.Eventually(t, 30*time.Second, "Events name the flag", func() error {
		events, err := c.client.EventsV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var run, plugin bool
		for _, e := range events.Items {
			if !strings.Contains(e.Note, "--allow-exec") {
				continue
			}
			run = run || e.Regarding.Name == "exec-upgrade"
			plugin = plugin || e.Regarding.Name == "exec-plugin" && e.Reason == hubexec.ReasonExecNotAllowed
		}
		if !run || !plugin {
			return fmt.Errorf("an Event naming --allow-exec: for the run %v, for the plugin member %v", run, plugin)
		}
		return nil
	})
}

// execPluginKubeconfig reaches nothing; its user's credentials come from a
// plugin the hub must not run.
const execPluginKubeconfig = `apiVersion: v1
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

func commandStrategySpec() fleetv1.UpdateStrategySpec {
	return fleetv1.UpdateStrategySpec{
		Stages:       []fleetv1.UpdateStage{{Name: "only", Groups: []fleetv1.UpdateGroup{{Name: "exec-policy-g"}}}},
		HealthChecks: []fleetv1.HealthCheck{{Name: "script", Type: fleetv1.CheckCommand, Command: []string{"/bin/validate.sh"}}},
	}
}

func memberKubeconfigSecret(member, kubeconfig string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: member, Labels: map[string]string{enrollment.MemberLabel: member}},
		Data:       map[string][]byte{enrollment.KubeconfigKey: []byte(kubeconfig)},
	}
}

// TestHubWithAllowExecRunsNoProgramWithoutThePolicy runs `flotilla hub
// --allow-exec`, then removes one binding of the exec policy: the hub no
// longer runs an exec credential plugin, and says which binding is missing.
func TestHubWithAllowExecRunsNoProgramWithoutThePolicy(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	ctx := context.Background()
	admin := c.as(t, "")
	dir := t.TempDir()
	bin := buildFlotilla(t, dir)
	healthAddr := freeAddress(t)
	startProcess(t, "hub", dir, bin, "hub", "--kubeconfig", c.kubeconfig, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", healthAddr, "--leader-elect=false", "--allow-exec")
	waitReady(t, healthAddr)

	policy, err := admission.Exec()
	if err != nil {
		t.Fatal(err)
	}
	gone := policy.Bindings[len(policy.Bindings)-1]
	if err := admin.Delete(ctx, gone.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := crdinstall.ApplyObjects(context.Background(), admin, policy.Objects()); err != nil {
			t.Errorf("restoring the exec policy: %v", err)
		}
	})
	for _, o := range []client.Object{
		memberKubeconfigSecret("exec-unguarded", execPluginKubeconfig),
		&fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "exec-unguarded"}, Spec: fleetv1.MemberClusterSpec{
			Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
				Namespace: fleetNS, Name: "exec-unguarded", Key: enrollment.KubeconfigKey}},
		}},
	} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), o) })
	}
	testenv.Eventually(t, 60*time.Second, "the exec-plugin member is refused for want of the policy", func() error {
		m := &fleetv1.MemberCluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "exec-unguarded"}, m); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable)
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != hubexec.ReasonExecPolicyMissing {
			return fmt.Errorf("Reachable: %+v", cond)
		}
		if !strings.Contains(cond.Message, "ValidatingAdmissionPolicyBinding "+gone.Name) {
			return fmt.Errorf("Reachable message %q does not name the missing binding", cond.Message)
		}
		t.Logf("Reachable=False %s: %s", cond.Reason, cond.Message)
		return nil
	})
}

// TestTheHubWritesSecretsOnlyInTheFleetsNamespaces: the hub's ClusterRole
// may write Secrets anywhere (members' namespaces are made on demand), and
// the chart's admission policy holds it to the fleet namespace and the
// members' flotilla-member-NAME; other users are not affected.
func TestTheHubWritesSecretsOnlyInTheFleetsNamespaces(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	ctx := context.Background()
	admin, hub := c.as(t, ""), c.as(t, hubSA)
	for _, ns := range []string{"flotilla-member-secrets-1", "apps-secrets"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"k": "v"}}
	}
	testenv.Eventually(t, 30*time.Second, "the policy refuses the hub a Secret in apps-secrets", func() error {
		err := hub.Create(ctx, secret("apps-secrets", "planted"))
		if err == nil {
			_ = admin.Delete(ctx, secret("apps-secrets", "planted"))
			return fmt.Errorf("the hub created a Secret in apps-secrets")
		}
		if !strings.Contains(err.Error(), "the Flotilla hub writes Secrets only in "+fleetNS) {
			return fmt.Errorf("refused, but not by the policy: %w", err)
		}
		return nil
	})
	for _, ns := range []string{fleetNS, "flotilla-member-secrets-1"} {
		s := secret(ns, "hub-written")
		if err := hub.Create(ctx, s); err != nil {
			t.Errorf("the hub may not create a Secret in %s: %v", ns, err)
			continue
		}
		if err := hub.Delete(ctx, s); err != nil {
			t.Errorf("the hub may not delete its Secret in %s: %v", ns, err)
		}
	}
	s := secret("apps-secrets", "admin-written")
	if err := admin.Create(ctx, s); err != nil {
		t.Fatalf("the policy refused someone other than the hub: %v", err)
	}
	if err := hub.Delete(ctx, s); err == nil || !strings.Contains(err.Error(), "writes Secrets only in") {
		t.Errorf("the hub deleted a Secret outside the fleet's namespaces: %v", err)
	}
}
