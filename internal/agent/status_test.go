package agent

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/applydecision"
	"github.com/flotilla-dev/flotilla/internal/conditions"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return u.Object
}

func TestWorkStatusSummarises(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	work := &fleetv1.Work{ObjectMeta: metav1.ObjectMeta{Name: "w", Generation: 4}}
	manifest := func(applied bool, reason string, available bool) fleetv1.ManifestStatus {
		m := fleetv1.ManifestStatus{Identifier: placementv1.ResourceIdentifier{Version: "v1", Kind: "ConfigMap", Name: "c", Namespace: "n"}}
		conditions.Set(&m.Conditions, conditions.Of(fleetv1.WorkApplied, applied, reason, ""), 4, now)
		conditions.Set(&m.Conditions, conditions.Of(fleetv1.WorkAvailable, available, fleetv1.WorkReasonNotTrackable, ""), 4, now)
		return m
	}
	strategy := applydecision.WithDefaults(nil)
	for _, tc := range []struct {
		name                    string
		manifests               []fleetv1.ManifestStatus
		applied, available      metav1.ConditionStatus
		appliedReason, avReason string
	}{
		{"all applied", []fleetv1.ManifestStatus{manifest(true, fleetv1.WorkReasonApplied, true)}, metav1.ConditionTrue, metav1.ConditionTrue, fleetv1.WorkReasonAllApplied, fleetv1.WorkReasonAllAvailable},
		{"empty", nil, metav1.ConditionTrue, metav1.ConditionTrue, fleetv1.WorkReasonAllApplied, fleetv1.WorkReasonAllAvailable},
		{"drifted", []fleetv1.ManifestStatus{manifest(true, fleetv1.WorkReasonApplied, true), manifest(false, fleetv1.WorkReasonDrifted, true)}, metav1.ConditionFalse, metav1.ConditionFalse, fleetv1.WorkReasonDrifted, fleetv1.WorkReasonNotApplied},
		{"not yet available", []fleetv1.ManifestStatus{manifest(true, fleetv1.WorkReasonApplied, false)}, metav1.ConditionTrue, metav1.ConditionFalse, fleetv1.WorkReasonAllApplied, fleetv1.WorkReasonNotYetAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := workStatus(work, tc.manifests, strategy, now)
			a := meta.FindStatusCondition(s.Conditions, fleetv1.WorkApplied)
			av := meta.FindStatusCondition(s.Conditions, fleetv1.WorkAvailable)
			if a == nil || av == nil || a.Status != tc.applied || a.Reason != tc.appliedReason || av.Status != tc.available || av.Reason != tc.avReason || a.ObservedGeneration != 4 {
				data, _ := json.Marshal(s.Conditions)
				t.Errorf("conditions %s", data)
			}
		})
	}
}

func TestAvailability(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object string
		want   bool
	}{
		{"config map", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`, true},
		{"deployment without pods", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","generation":1},"spec":{"replicas":2},"status":{"observedGeneration":1}}`, false},
		{"deployment rolled out", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","generation":1},"status":{"observedGeneration":1,"availableReplicas":1,"updatedReplicas":1}}`, true},
		{"daemon set behind", `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d","generation":2},"status":{"observedGeneration":1}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _, _ := workloadAvailable(&unstructured.Unstructured{Object: obj(t, tc.object)}); got != tc.want {
				t.Errorf("available %v, want %v", got, tc.want)
			}
		})
	}
}
