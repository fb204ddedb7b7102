package hub

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// leaseName is the hub's leader-election Lease in the fleet namespace.
const leaseName = "flotilla-hub"

// leaderLock is the hub's Lease, held under the hub's instance name, so that
// `kubectl get lease flotilla-hub` names the same process as the upgrade
// attempts in update runs' status (controller-runtime's own lock would use
// the host name and a random suffix).
func leaderLock(cfg *rest.Config, instance string, renewDeadline time.Duration) (resourcelock.Interface, error) {
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// One hung request must not outlast the renew deadline, or the leader
	// loses the lease to a slow answer; controller-runtime's default is 10 s.
	if renewDeadline == 0 {
		renewDeadline = 10 * time.Second
	}
	cfg.Timeout = max(renewDeadline/2, time.Second)
	coordination, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: enrollment.Namespace, Name: leaseName},
		Client:     coordination,
		LockConfig: resourcelock.ResourceLockConfig{Identity: instance},
	}, nil
}
