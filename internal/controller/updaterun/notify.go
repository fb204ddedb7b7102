package updaterun

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/notify"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// notify hands the step's transitions to the strategy's webhooks. A
// webhook whose secret cannot be read gets nothing (unsigned events could
// be forged by anyone who can reach the receiver), with a Warning Event.
func (r *Reconciler) notify(ctx context.Context, run *fleetv1.UpdateRun, hooks []fleetv1.Notification, transitions []rollout.Transition) {
	if r.Notifier == nil || len(hooks) == 0 || len(transitions) == 0 {
		return
	}
	var targets []notify.Target
	for _, h := range hooks {
		t := notify.Target{URL: h.URL, Events: h.Events}
		if h.SecretRef != nil {
			secret, err := r.notificationSecret(ctx, *h.SecretRef)
			if err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "reading a webhook's secret", "url", h.URL)
				r.Recorder.Eventf(run, nil, corev1.EventTypeWarning, "NotificationSecretMissing", "Notify", "not notifying %s: %v", h.URL, err)
				continue
			}
			t.Secret = secret
		}
		targets = append(targets, t)
	}
	now := r.now()
	for _, t := range transitions {
		r.Notifier.Send(ctx, targets, notify.Event{
			Type: string(t.Kind) + string(t.To), UpdateRun: run.Name, Kind: string(t.Kind), Path: t.Path,
			From: string(t.From), To: string(t.To), Message: t.Message, Time: now.UTC().Truncate(time.Second),
		})
	}
}

func (r *Reconciler) notificationSecret(ctx context.Context, ref fleetv1.NotificationSecretRef) ([]byte, error) {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: ref.Name}, secret); err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", enrollment.Namespace, ref.Name, err)
	}
	key := ref.Key
	if key == "" {
		key = "secret"
	}
	value, ok := secret.Data[key]
	if !ok || len(value) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no key %q", enrollment.Namespace, ref.Name, key)
	}
	return value, nil
}
