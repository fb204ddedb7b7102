package updaterun

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/notify"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// A strategy's webhook gets the transitions it asked for, signed with its
// Secret; one whose Secret is missing gets nothing, and the run says why.
func TestAStrategysWebhookGetsTheTransitionsItAskedForSigned(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	hub := env.Hub.Client
	ctx := t.Context()
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify(body, []byte("hook-key"), r.Header.Get(notify.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e notify.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, e.Type+" run="+e.UpdateRun+" path="+e.Path)
		mu.Unlock()
	}))
	defer receiver.Close()

	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}); err != nil {
		t.Fatal(err)
	}
	if err := hub.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: enrollment.Namespace},
		Data: map[string][]byte{"secret": []byte("hook-key")}}); err != nil {
		t.Fatal(err)
	}
	createCloudMember(t, hub, "a", "prod", nil)
	cloud := &flakyCloud{failing: map[string]bool{}, ops: map[string]string{}, starts: map[string]int{}}
	runWithProvider(t, env.Hub, cloud, func(r *Reconciler, mgr ctrl.Manager) {
		r.Notifier, r.Secrets = notify.New(logr.Discard()), mgr.GetAPIReader()
	})
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "notifying"},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &fleetv1.UpdateStrategySpec{
				Stages: []fleetv1.UpdateStage{{Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod"}}}},
				Notifications: []fleetv1.Notification{
					{URL: receiver.URL, Events: []string{"StageCompleted", "RunCompleted"}, SecretRef: &fleetv1.NotificationSecretRef{Name: "hook"}},
					{URL: receiver.URL + "/unsigned", SecretRef: &fleetv1.NotificationSecretRef{Name: "missing"}},
				},
			},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}},
			State:                fleetv1.RunStarted,
		},
	}
	if err := hub.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	want := []string{"StageCompleted run=notifying path=prod", "RunCompleted run=notifying path=notifying"}
	testenv.Eventually(t, waitFor, "the webhook gets StageCompleted and RunCompleted", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("received %q", got)
			}
		}
		return nil
	})
	mu.Lock()
	if len(got) != len(want) {
		t.Errorf("received %q, want only %q", got, want)
	}
	mu.Unlock()
	testenv.Eventually(t, waitFor, "a Warning Event for the webhook without its Secret", func() error {
		events := &corev1.EventList{}
		if err := hub.List(ctx, events); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "NotificationSecretMissing" {
				return nil
			}
		}
		return fmt.Errorf("none among %d events", len(events.Items))
	})
}
