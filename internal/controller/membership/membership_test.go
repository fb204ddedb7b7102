package membership

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
)

func TestAgentMemberHeartbeat(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-time.Hour))
	for _, tc := range []struct {
		name          string
		lastHeartbeat *time.Time
		created       metav1.Time
		wantMissed    bool
		wantRequeue   time.Duration
	}{
		{name: "fresh heartbeat", lastHeartbeat: ptr.To(now.Add(-10 * time.Second)), created: created, wantRequeue: 20 * time.Second},
		{name: "heartbeat too old", lastHeartbeat: ptr.To(now.Add(-31 * time.Second)), created: created, wantMissed: true, wantRequeue: 10 * time.Second},
		{name: "new member without heartbeat", created: metav1.NewTime(now.Add(-5 * time.Second)), wantRequeue: 25 * time.Second},
		{name: "no heartbeat ever", created: created, wantMissed: true, wantRequeue: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &fleetv1.MemberCluster{
				ObjectMeta: metav1.ObjectMeta{Name: "m1", CreationTimestamp: tc.created},
				Spec:       fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent}, HeartbeatPeriodSeconds: 10},
			}
			if tc.lastHeartbeat != nil {
				hb := metav1.NewTime(*tc.lastHeartbeat)
				mc.Status.LastHeartbeatTime = &hb
				mc.Status.AgentLastHeartbeatTime = &hb
				mc.Status.Conditions = []metav1.Condition{
					{Type: fleetv1.MemberAgentConnected, Status: metav1.ConditionTrue, Reason: "HeartbeatReceived", LastTransitionTime: hb},
					{Type: fleetv1.MemberJoined, Status: metav1.ConditionTrue, Reason: "AgentJoined", LastTransitionTime: hb},
					{Type: fleetv1.MemberReachable, Status: metav1.ConditionTrue, Reason: "HeartbeatReceived", LastTransitionTime: hb},
				}
			}
			c := fake.NewClientBuilder().WithScheme(fleetscheme.New()).WithObjects(mc).WithStatusSubresource(mc).Build()
			r := &Reconciler{Client: c, Now: func() time.Time { return now }}
			res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "m1"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != tc.wantRequeue {
				t.Errorf("requeue after %s, want %s", res.RequeueAfter, tc.wantRequeue)
			}
			got := &fleetv1.MemberCluster{}
			if err := c.Get(t.Context(), client.ObjectKey{Name: "m1"}, got); err != nil {
				t.Fatal(err)
			}
			reachable := meta.FindStatusCondition(got.Status.Conditions, fleetv1.MemberReachable)
			missed := reachable != nil && reachable.Status == metav1.ConditionFalse && reachable.Reason == "HeartbeatMissed"
			if missed != tc.wantMissed {
				t.Errorf("Reachable %+v, want HeartbeatMissed=%v", reachable, tc.wantMissed)
			}
			if tc.wantMissed && meta.IsStatusConditionTrue(got.Status.Conditions, fleetv1.MemberHealthy) {
				t.Error("an unreachable member is Healthy")
			}
			if tc.lastHeartbeat != nil {
				agent := meta.FindStatusCondition(got.Status.Conditions, fleetv1.MemberAgentConnected)
				if disconnected := agent.Status == metav1.ConditionFalse; disconnected != tc.wantMissed {
					t.Errorf("AgentConnected %+v, want False=%v", agent, tc.wantMissed)
				}
			}
		})
	}
}
