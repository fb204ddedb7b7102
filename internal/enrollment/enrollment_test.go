package enrollment_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// env is a real hub API server with the fleet CRDs enrollment uses.
type env struct {
	hub    client.Client
	hubCfg *rest.Config
	// reachable is a kubeconfig that reaches an API server: the hub's own,
	// which is all that joining checks of a member.
	reachable []byte
}

func startEnv(t *testing.T) *env {
	t.Helper()
	hub := testenv.Start(t, testenv.Options{CRDs: testenv.CRDsNamed("works.fleet.flotilla.dev", "memberclusters.fleet.flotilla.dev")}).Hub
	reachable, err := hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return &env{hub: hub.Client, hubCfg: hub.Config, reachable: reachable}
}

// unreachableKubeconfig points at a port nothing listens on.
func unreachableKubeconfig(t *testing.T) []byte {
	t.Helper()
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gone"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), InsecureSkipTLSVerify: true}
	cfg.AuthInfos["gone"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["gone"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "gone"}
	cfg.CurrentContext = "gone"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *env) member(t *testing.T, name string) *fleetv1.MemberCluster {
	t.Helper()
	mc := &fleetv1.MemberCluster{}
	if err := e.hub.Get(t.Context(), client.ObjectKey{Name: name}, mc); err != nil {
		t.Fatal(err)
	}
	return mc
}

// gone checks that none of objs exists on the hub.
func (e *env) gone(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		err := e.hub.Get(t.Context(), client.ObjectKeyFromObject(o), o)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s: %v, want NotFound", o, client.ObjectKeyFromObject(o), err)
		}
	}
}

// agentIdentity is every object join creates for a member's agent.
func agentIdentity(member string) []client.Object {
	ns := fleetv1.MemberNamespace(member)
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: enrollment.AgentServiceAccount, Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: enrollment.AgentServiceAccount, Namespace: ns}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: enrollment.AgentServiceAccount, Namespace: ns}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent-" + member}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent-" + member}},
	}
}

// whoAmI asks the hub who the kubeconfig's credentials are.
func whoAmI(ctx context.Context, kubeconfig []byte) (string, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return "", err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return review.Status.UserInfo.Username, nil
}

func tokenOf(t *testing.T, kubeconfig []byte) string {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
		t.Fatalf("kubeconfig without a current context and user: %+v", cfg)
	}
	return cfg.AuthInfos[ctx.AuthInfo].Token
}

func (e *env) createWork(t *testing.T, member, name string, finalizers ...string) {
	t.Helper()
	w := &fleetv1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1.MemberNamespace(member), Finalizers: finalizers},
		Spec:       fleetv1.WorkSpec{Placement: "p", Manifests: []runtime.RawExtension{{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)}}},
	}
	if err := e.hub.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
}

func TestEnrollment(t *testing.T) {
	e := startEnv(t)
	ctx := t.Context()

	t.Run("enroll stores the credentials and creates the member", func(t *testing.T) {
		mc, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{
			Name: "a", Kubeconfig: e.reachable, UpdateGroup: "canary", Labels: map[string]string{"env": "dev"}, HeartbeatPeriodSeconds: 7,
		})
		if err != nil {
			t.Fatal(err)
		}
		mc = e.member(t, mc.Name)
		want := fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
			Namespace: enrollment.Namespace, Name: enrollment.SecretName("a"), Key: enrollment.KubeconfigKey,
		}}
		if mc.Spec.Access.Mode != want.Mode || *mc.Spec.Access.KubeconfigSecretRef != *want.KubeconfigSecretRef ||
			mc.Spec.UpdateGroup != "canary" || mc.Labels["env"] != "dev" || mc.Spec.HeartbeatPeriodSeconds != 7 {
			t.Errorf("member: labels %v spec %+v", mc.Labels, mc.Spec)
		}
		secret := &corev1.Secret{}
		if err := e.hub.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: enrollment.SecretName("a")}, secret); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(secret.Data[enrollment.KubeconfigKey], e.reachable) || secret.Labels[enrollment.MemberLabel] != "a" {
			t.Errorf("secret labels %v, keys %v", secret.Labels, slices.Collect(maps.Keys(secret.Data)))
		}
		if refs := secret.OwnerReferences; len(refs) != 1 || refs[0].Kind != "MemberCluster" || refs[0].Name != "a" || refs[0].UID != mc.UID {
			t.Errorf("secret owner references %+v, want the MemberCluster %s", refs, mc.UID)
		}
	})

	t.Run("enroll refuses a member that exists, or credentials that do not reach it, and creates nothing", func(t *testing.T) {
		if _, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "a", Kubeconfig: e.reachable}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("enrolling a again: %v", err)
		}
		if _, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "b", Kubeconfig: unreachableKubeconfig(t), ProbeTimeout: 2 * time.Second}); err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("enrolling an unreachable member: %v", err)
		}
		if _, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "b", Kubeconfig: []byte("not a kubeconfig")}); err == nil {
			t.Error("enrolling with a broken kubeconfig worked")
		}
		e.gone(t, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName("b"), Namespace: enrollment.Namespace}})
	})

	t.Run("enroll refuses a kubeconfig with an exec credential plugin unless allowed", func(t *testing.T) {
		kubeconfig := execPluginKubeconfig(t, e.reachable)
		_, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "plugin", Kubeconfig: kubeconfig})
		if err == nil || !strings.Contains(err.Error(), "exec plugin") || !strings.Contains(err.Error(), "--allow-exec-credential") {
			t.Fatalf("enrolling with an exec plugin: %v, want a refusal naming --allow-exec-credential", err)
		}
		e.gone(t, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "plugin"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName("plugin"), Namespace: enrollment.Namespace}})
		if _, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "plugin", Kubeconfig: kubeconfig, AllowExecCredential: true}); err != nil {
			t.Fatalf("enrolling with an exec plugin, allowed: %v", err)
		}
		if err := enrollment.Remove(ctx, e.hub, "plugin"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("remove deletes the member and its credentials", func(t *testing.T) {
		if err := enrollment.Remove(ctx, e.hub, "a"); err != nil {
			t.Fatal(err)
		}
		e.gone(t, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName("a"), Namespace: enrollment.Namespace}})
		if err := enrollment.Remove(ctx, e.hub, "a"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("removing a again: %v", err)
		}
	})

	var firstToken []byte
	t.Run("join adds an unknown member in Agent mode, with an identity for its agent", func(t *testing.T) {
		joined, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{
			Name: "j", MemberKubeconfig: e.reachable, UpdateGroup: "canary", Labels: map[string]string{"region": "eu"}, HubConfig: e.hubCfg,
		})
		if err != nil {
			t.Fatal(err)
		}
		firstToken = joined.HubKubeconfig
		ns := fleetv1.MemberNamespace("j")
		if !joined.CreatedMember || joined.AgentNamespace != ns {
			t.Errorf("joined %+v", joined)
		}
		mc := e.member(t, "j")
		if mc.Spec.Access.Mode != fleetv1.AccessAgent || mc.Spec.Access.KubeconfigSecretRef != nil || mc.Spec.UpdateGroup != "canary" || mc.Labels["region"] != "eu" {
			t.Errorf("member: labels %v spec %+v", mc.Labels, mc.Spec)
		}
		namespace := &corev1.Namespace{}
		if err := e.hub.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
			t.Fatal(err)
		}
		if namespace.Labels[enrollment.MemberLabel] != "j" {
			t.Errorf("namespace labels %v", namespace.Labels)
		}
		for _, o := range agentIdentity("j") {
			if err := e.hub.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				t.Errorf("%T %s: %v", o, client.ObjectKeyFromObject(o), err)
			}
		}
		cr := &rbacv1.ClusterRole{}
		if err := e.hub.Get(ctx, client.ObjectKey{Name: "flotilla-agent-j"}, cr); err != nil {
			t.Fatal(err)
		}
		for _, rule := range cr.Rules {
			if !slices.Equal(rule.ResourceNames, []string{"j"}) {
				t.Errorf("cluster-wide rule %+v is not limited to the member's own MemberCluster", rule)
			}
		}
		if refs := cr.OwnerReferences; len(refs) != 1 || refs[0].UID != mc.UID {
			t.Errorf("ClusterRole owner references %+v", refs)
		}

		cfg, err := clientcmd.Load(joined.HubKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		current := cfg.Contexts[cfg.CurrentContext]
		if current == nil || current.Namespace != ns || cfg.Clusters[current.Cluster] == nil || cfg.Clusters[current.Cluster].Server != e.hubCfg.Host {
			t.Errorf("agent kubeconfig context %+v, clusters %+v", current, cfg.Clusters)
		}
		user, err := whoAmI(ctx, joined.HubKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if want := "system:serviceaccount:" + ns + ":" + enrollment.AgentServiceAccount; user != want {
			t.Errorf("the agent's kubeconfig authenticates as %s, want %s", user, want)
		}
		agentCfg, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		agent, err := client.New(agentCfg, client.Options{Scheme: fleetscheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the agent lists its Works", func() error {
			return agent.List(ctx, &fleetv1.WorkList{}, client.InNamespace(ns))
		})
	})

	t.Run("joining again issues a fresh token", func(t *testing.T) {
		joined, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "j", HubConfig: e.hubCfg})
		if err != nil {
			t.Fatal(err)
		}
		if joined.CreatedMember {
			t.Error("a second join created the member")
		}
		if tokenOf(t, joined.HubKubeconfig) == tokenOf(t, firstToken) {
			t.Error("the second join returned the same token")
		}
		if _, err := whoAmI(ctx, joined.HubKubeconfig); err != nil {
			t.Errorf("the fresh token: %v", err)
		}
	})

	t.Run("join refuses a member it cannot check or reach, and creates nothing", func(t *testing.T) {
		if _, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "nokube", HubConfig: e.hubCfg}); err == nil || !strings.Contains(err.Error(), "--member-kubeconfig") {
			t.Errorf("joining an unknown member without its kubeconfig: %v", err)
		}
		if _, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "nokube", MemberKubeconfig: unreachableKubeconfig(t), HubConfig: e.hubCfg}); err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("joining an unreachable member: %v", err)
		}
		e.gone(t, append(agentIdentity("nokube"), &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "nokube"}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1.MemberNamespace("nokube")}})...)
	})

	t.Run("a join that fails half-way removes the member it added", func(t *testing.T) {
		// The hub answers the operator's client but not the token request.
		broken := rest.CopyConfig(e.hubCfg)
		broken.Host = "https://127.0.0.1:1"
		if _, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "half", MemberKubeconfig: e.reachable, HubConfig: broken}); err == nil {
			t.Fatal("join without a reachable token endpoint worked")
		}
		e.gone(t, append(agentIdentity("half"), &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "half"}})...)
	})

	t.Run("join keeps a hubless member's credentials and refuses to relabel it", func(t *testing.T) {
		if _, err := enrollment.Enroll(ctx, e.hub, enrollment.Request{Name: "h", Kubeconfig: e.reachable, Labels: map[string]string{"env": "prod"}}); err != nil {
			t.Fatal(err)
		}
		for _, req := range []enrollment.JoinRequest{
			{Name: "h", Labels: map[string]string{"env": "dev"}, HubConfig: e.hubCfg},
			{Name: "h", UpdateGroup: "canary", HubConfig: e.hubCfg},
		} {
			if _, err := enrollment.Join(ctx, e.hub, req); err == nil || !strings.Contains(err.Error(), "already in the fleet") {
				t.Errorf("joining with labels %v, group %q: %v", req.Labels, req.UpdateGroup, err)
			}
		}
		if mc := e.member(t, "h"); mc.Labels["env"] != "prod" || mc.Spec.UpdateGroup != "" {
			t.Errorf("a refused join changed the member: labels %v group %q", mc.Labels, mc.Spec.UpdateGroup)
		}
		e.gone(t, agentIdentity("h")...)

		joined, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "h", HubConfig: e.hubCfg})
		if err != nil {
			t.Fatal(err)
		}
		mc := e.member(t, "h")
		if joined.CreatedMember || mc.Spec.Access.Mode != fleetv1.AccessKubeconfig || mc.Spec.Access.KubeconfigSecretRef == nil {
			t.Errorf("joined %+v, access %+v", joined, mc.Spec.Access)
		}
	})

	t.Run("join refuses a member being deleted", func(t *testing.T) {
		mc := &fleetv1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "dying", Finalizers: []string{"test.flotilla.dev/hold"}},
			Spec:       fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent}},
		}
		if err := e.hub.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
		if err := e.hub.Delete(ctx, mc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// The test's context is over by now.
			patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
			if err := e.hub.Patch(context.Background(), mc, patch); err != nil {
				t.Error(err)
			}
		})
		if _, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "dying", HubConfig: e.hubCfg}); err == nil || !strings.Contains(err.Error(), "being deleted") {
			t.Errorf("joining a member being deleted: %v", err)
		}
		e.gone(t, agentIdentity("dying")...)
	})

	t.Run("leave removes an Agent-mode member, its Works and its agent's access", func(t *testing.T) {
		e.createWork(t, "j", "w1")
		agentKubeconfig := firstToken
		left, err := enrollment.Leave(ctx, e.hub, enrollment.LeaveRequest{Name: "j", Wait: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if !left.DeletedMember || len(left.Abandoned) != 0 {
			t.Errorf("left %+v", left)
		}
		e.gone(t, append(agentIdentity("j"), &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "j"}},
			&fleetv1.Work{ObjectMeta: metav1.ObjectMeta{Name: "w1", Namespace: fleetv1.MemberNamespace("j")}})...)
		// Its access ends with its RBAC, before its token expires.
		agentCfg, err := clientcmd.RESTConfigFromKubeConfig(agentKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		agent, err := client.New(agentCfg, client.Options{Scheme: fleetscheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, "the agent denied its Works", func() error {
			err := agent.List(ctx, &fleetv1.WorkList{}, client.InNamespace(fleetv1.MemberNamespace("j")))
			if err == nil {
				return errors.New("listing its Works succeeded, want Forbidden")
			}
			if !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("listing its Works: %w, want Forbidden", err)
			}
			return nil
		})
		// A token of a deleted service account is refused, once the API
		// server's token cache (10 s) lets go of it.
		revoking := time.Now()
		testenv.Eventually(t, 30*time.Second, "the agent's token revoked", func() error {
			_, err := whoAmI(ctx, agentKubeconfig)
			if err == nil {
				return errors.New("the agent's token still authenticates, want Unauthorized")
			}
			if !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("the agent's token: %w, want Unauthorized", err)
			}
			return nil
		})
		t.Logf("the agent's token was refused %s after the leave", time.Since(revoking).Round(time.Millisecond))
		if _, err := enrollment.Leave(ctx, e.hub, enrollment.LeaveRequest{Name: "j"}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("leaving again: %v", err)
		}
	})

	t.Run("leave keeps a hubless member, hubless, and releases Works no agent removed", func(t *testing.T) {
		mc := e.member(t, "h")
		patch := client.MergeFrom(mc.DeepCopy())
		now := metav1.NewTime(time.Now())
		mc.Status.AgentLastHeartbeatTime = &now
		meta.SetStatusCondition(&mc.Status.Conditions, metav1.Condition{Type: fleetv1.MemberAgentConnected, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonHeartbeatReceived, LastTransitionTime: now})
		if err := e.hub.Status().Patch(ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
		// No agent runs to remove what this Work placed and drop its finalizer.
		e.createWork(t, "h", "held", fleetv1.AgentFinalizer)
		left, err := enrollment.Leave(ctx, e.hub, enrollment.LeaveRequest{Name: "h", Wait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if left.DeletedMember || !slices.Equal(left.Abandoned, []string{"held"}) {
			t.Errorf("left %+v", left)
		}
		e.gone(t, append(agentIdentity("h"), &fleetv1.Work{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: fleetv1.MemberNamespace("h")}})...)
		mc = e.member(t, "h")
		if mc.Spec.Access.Mode != fleetv1.AccessKubeconfig || mc.Status.AgentLastHeartbeatTime != nil ||
			meta.FindStatusCondition(mc.Status.Conditions, fleetv1.MemberAgentConnected) != nil || mc.Annotations[fleetv1.LeavingAnnotation] != "" {
			t.Errorf("member after leave: annotations %v access %+v status %+v", mc.Annotations, mc.Spec.Access, mc.Status)
		}
	})

	t.Run("a rejoin clears the mark of a leave that did not finish", func(t *testing.T) {
		mc := e.member(t, "h")
		patch := client.MergeFrom(mc.DeepCopy())
		if mc.Annotations == nil {
			mc.Annotations = map[string]string{}
		}
		mc.Annotations[fleetv1.LeavingAnnotation] = "true"
		if err := e.hub.Patch(ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
		if _, err := enrollment.Join(ctx, e.hub, enrollment.JoinRequest{Name: "h", HubConfig: e.hubCfg}); err != nil {
			t.Fatal(err)
		}
		if mc := e.member(t, "h"); mc.Annotations[fleetv1.LeavingAnnotation] != "" {
			t.Errorf("annotations after the rejoin: %v", mc.Annotations)
		}
	})
}

// execPluginKubeconfig is reachable with its client certificate handed out
// by an exec credential plugin (a shell printing an ExecCredential).
func execPluginKubeconfig(t *testing.T, reachable []byte) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(reachable)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	user := cfg.AuthInfos[ctx.AuthInfo]
	cred := fmt.Sprintf(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":%q,"clientKeyData":%q}}`,
		user.ClientCertificateData, user.ClientKeyData)
	path := filepath.Join(t.TempDir(), "credential.json")
	if err := os.WriteFile(path, []byte(cred), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AuthInfos[ctx.AuthInfo] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/cat", Args: []string{path}, InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
