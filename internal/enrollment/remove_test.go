package enrollment_test

import (
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestDeletingAMemberRevokesItsAgentsToken: `member delete` of a joined
// member removes the agent's ServiceAccount and RBAC, and the token it holds
// is refused.
func TestDeletingAMemberRevokesItsAgentsToken(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"m1"}})
	ctx := t.Context()
	memberKubeconfig, err := env.Member("m1").Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	joined, err := enrollment.Join(ctx, env.Hub.Client, enrollment.JoinRequest{Name: "gone", MemberKubeconfig: memberKubeconfig, HubConfig: env.Hub.Config})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	works := &fleetv1.WorkList{}
	if err := agent.List(ctx, works, client.InNamespace(fleetv1.MemberNamespace("gone"))); err != nil {
		t.Fatalf("the joined agent cannot list its Works: %v", err)
	}
	if err := enrollment.Remove(ctx, env.Hub.Client, "gone"); err != nil {
		t.Fatal(err)
	}
	// The API server caches token reviews for a few seconds.
	took := testenv.Eventually(t, 30*time.Second, "the deleted member's agent token refused", func() error {
		err := agent.List(ctx, works, client.InNamespace(fleetv1.MemberNamespace("gone")))
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return nil
		}
		if err == nil {
			return errors.New("the agent still lists its Works")
		}
		return err
	})
	t.Logf("refused %s after the delete", took.Round(time.Millisecond))
}
