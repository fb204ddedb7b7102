package agent_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
)

// TestAgentHubIdentity proves what the hub identity `member join` gives an
// agent may do, and what it may not: the Works of its own namespace and its
// own MemberCluster's status, the Secrets of its namespace by name (the
// data of placed Secrets), nothing of another member, no other Secret.
func TestAgentHubIdentity(t *testing.T) {
	e := startEnv(t)
	ctx := t.Context()
	memberKubeconfig, err := e.member.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	// Another member, joined the same way, with a Work of its own.
	const otherName = "m2"
	otherNamespace := fleetv1.MemberNamespace(otherName)
	if _, err := enrollment.Join(ctx, e.hub.Client, enrollment.JoinRequest{Name: otherName, MemberKubeconfig: memberKubeconfig, HubConfig: e.hub.Config}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{workNamespace, otherNamespace} {
		w := &fleetv1.Work{
			ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: ns},
			Spec:       fleetv1.WorkSpec{Placement: "p", Manifests: []runtime.RawExtension{manifest(t, configMap("c", map[string]string{"a": "1"}))}},
		}
		if err := e.hub.Client.Create(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	// Secrets the agent must never read: members' credentials, and one in
	// its own namespace.
	if err := e.hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, ns := range []string{enrollment.Namespace, workNamespace, otherNamespace} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}, StringData: map[string]string{"k": "v"}}
		if err := e.hub.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	agentClient, err := client.New(e.agentHub, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	work := func(ns string) *fleetv1.Work {
		w := &fleetv1.Work{}
		if err := e.hub.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "w"}, w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	memberCluster := func(name string) *fleetv1.MemberCluster {
		mc := &fleetv1.MemberCluster{}
		if err := e.hub.Client.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
			t.Fatal(err)
		}
		return mc
	}
	statusPatch := func(obj client.Object) error {
		return agentClient.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"status":{"conditions":null}}`)))
	}
	labelPatch := func(obj client.Object) error {
		return agentClient.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
	}

	t.Run("may use its own Works and its own MemberCluster's status", func(t *testing.T) {
		for what, do := range map[string]func() error{
			"list its Works": func() error { return agentClient.List(ctx, &fleetv1.WorkList{}, client.InNamespace(workNamespace)) },
			"get its Work": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Namespace: workNamespace, Name: "w"}, &fleetv1.Work{})
			},
			"patch its Work (the finalizer)": func() error { return labelPatch(work(workNamespace)) },
			"write its Work's status":        func() error { return statusPatch(work(workNamespace)) },
			"get its MemberCluster": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Name: memberName}, &fleetv1.MemberCluster{})
			},
			"write its MemberCluster's status": func() error { return statusPatch(memberCluster(memberName)) },
			// The data of the Secrets placed on it.
			"get a Secret in its own namespace": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Namespace: workNamespace, Name: "s"}, &corev1.Secret{})
			},
		} {
			if err := do(); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
	})

	t.Run("is denied another member's Works, Secrets and other MemberClusters", func(t *testing.T) {
		for what, do := range map[string]func() error{
			"list another member's Works": func() error { return agentClient.List(ctx, &fleetv1.WorkList{}, client.InNamespace(otherNamespace)) },
			"get another member's Work": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Namespace: otherNamespace, Name: "w"}, &fleetv1.Work{})
			},
			"patch another member's Work":        func() error { return labelPatch(work(otherNamespace)) },
			"write another member's Work status": func() error { return statusPatch(work(otherNamespace)) },
			"list the Works of every namespace":  func() error { return agentClient.List(ctx, &fleetv1.WorkList{}) },
			"create a Work in its namespace": func() error {
				return agentClient.Create(ctx, &fleetv1.Work{ObjectMeta: metav1.ObjectMeta{Name: "made-by-agent", Namespace: workNamespace}, Spec: fleetv1.WorkSpec{Placement: "p"}})
			},
			"delete its Work": func() error { return agentClient.Delete(ctx, work(workNamespace)) },
			"get a member's credentials": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: "s"}, &corev1.Secret{})
			},
			"list Secrets in the credentials namespace": func() error {
				return agentClient.List(ctx, &corev1.SecretList{}, client.InNamespace(enrollment.Namespace))
			},
			"list Secrets in its own namespace": func() error {
				return agentClient.List(ctx, &corev1.SecretList{}, client.InNamespace(workNamespace))
			},
			"get a Secret in another member's namespace": func() error {
				return agentClient.Get(ctx, client.ObjectKey{Namespace: otherNamespace, Name: "s"}, &corev1.Secret{})
			},
			"list every Secret":                              func() error { return agentClient.List(ctx, &corev1.SecretList{}) },
			"get another MemberCluster":                      func() error { return agentClient.Get(ctx, client.ObjectKey{Name: otherName}, &fleetv1.MemberCluster{}) },
			"write another MemberCluster's status":           func() error { return statusPatch(memberCluster(otherName)) },
			"update another MemberCluster":                   func() error { return labelPatch(memberCluster(otherName)) },
			"list every MemberCluster":                       func() error { return agentClient.List(ctx, &fleetv1.MemberClusterList{}) },
			"change its own MemberCluster beyond its status": func() error { return labelPatch(memberCluster(memberName)) },
			"delete its own MemberCluster":                   func() error { return agentClient.Delete(ctx, memberCluster(memberName)) },
		} {
			if err := do(); !apierrors.IsForbidden(err) {
				t.Errorf("%s: %v, want Forbidden", what, err)
			}
		}
	})
}
