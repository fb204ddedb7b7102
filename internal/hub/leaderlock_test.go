package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestTheLeaseIsHeldUnderTheHubsInstanceName(t *testing.T) {
	testenv.RequireTools(t)
	env := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env.Hub.Config, Options{
			MetricsAddress: "0", HealthAddress: "0",
			LeaderElection: true, Instance: "hub-0",
			StateDir: t.TempDir(), DisableMembership: true,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})

	testenv.Eventually(t, time.Minute, "the hub holds its lease", func() error {
		lease := &coordinationv1.Lease{}
		if err := env.Hub.Client.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: leaseName}, lease); err != nil {
			return err
		}
		if holder := lease.Spec.HolderIdentity; holder == nil || *holder != "hub-0" {
			return fmt.Errorf("holder is %v, want hub-0", holder)
		}
		return nil
	})
}
