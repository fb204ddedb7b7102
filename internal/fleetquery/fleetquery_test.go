package fleetquery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func node(name string, ready corev1.ConditionStatus) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.NodeInfo.KubeletVersion = "v1.36.3"
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
	}
	return n
}

func pod(ns, name string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{Phase: phase}}
}

func direct(name string) fleetv1.MemberCluster {
	return fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{
		Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{Namespace: "flotilla-system", Name: name}}}}
}

func agentMember(name string, ready, total, failed int32) fleetv1.MemberCluster {
	m := fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent}}}
	m.Status.Nodes = fleetv1.NodeSummary{Ready: ready, Total: total}
	m.Status.FailedPods = failed
	t := metav1.NewTime(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC))
	m.Status.AgentLastHeartbeatTime = &t
	return m
}

func i32(v int32) *int32 { return &v }

func TestNodeStatusAndFailed(t *testing.T) {
	for _, tc := range []struct {
		status corev1.ConditionStatus
		want   string
	}{{corev1.ConditionTrue, "Ready"}, {corev1.ConditionFalse, "NotReady"}, {corev1.ConditionUnknown, "NotReady"}, {"", "Unknown"}} {
		n := node("n", tc.status)
		if got := NodeStatus(&n); got != tc.want {
			t.Errorf("NodeStatus(%q) = %s, want %s", tc.status, got, tc.want)
		}
	}
	for phase, want := range map[corev1.PodPhase]bool{corev1.PodRunning: false, corev1.PodSucceeded: false, corev1.PodPending: false, corev1.PodFailed: true, corev1.PodUnknown: true} {
		p := pod("a", "b", phase)
		if Failed(&p) != want {
			t.Errorf("Failed(%s) = %v, want %v", phase, !want, want)
		}
	}
}

func TestRowsAndVerdicts(t *testing.T) {
	answers := []Answer{
		{Member: "a", Source: SourceLive, Nodes: []corev1.Node{node("a-2", corev1.ConditionFalse), node("a-1", corev1.ConditionTrue)},
			Pods: []corev1.Pod{pod("x", "ok", corev1.PodRunning), pod("x", "bad", corev1.PodFailed), pod("y", "lost", corev1.PodUnknown)}},
		{Member: "b", Source: SourceLive, Nodes: []corev1.Node{node("b-1", corev1.ConditionTrue)}, Pods: []corev1.Pod{pod("x", "ok", corev1.PodSucceeded)}},
		{Member: "c", Source: SourceAgent, Status: agentMember("c", 2, 3, 4).Status, Heartbeat: agentMember("c", 2, 3, 4).Status.AgentLastHeartbeatTime},
		{Member: "d", Source: SourceNoAnswer, Err: "did not answer within 10s"},
	}
	t.Run("nodes", func(t *testing.T) {
		rows := NodeRows(answers, false)
		var got []string
		for _, r := range rows {
			got = append(got, r.Member+"/"+r.Node+"/"+r.Status+"/"+string(r.Source))
		}
		want := "a/a-1/Ready/live a/a-2/NotReady/live b/b-1/Ready/live c///agent d///no-answer"
		if strings.Join(got, " ") != want {
			t.Errorf("rows = %v, want %s", got, want)
		}
		if !strings.Contains(rows[3].Note, "the agent's summary: 2 of 3 nodes Ready, reported 2026-12-01T16:00:00Z") {
			t.Errorf("agent note = %q", rows[3].Note)
		}
		notReady := NodeRows(answers, true)
		if len(notReady) != 3 || notReady[0].Node != "a-2" {
			t.Errorf("--not-ready rows = %+v", notReady)
		}
		v := NodeVerdict(rows)
		if strings.Join(v.Unhealthy, ",") != "a,c" || strings.Join(v.Unanswered, ",") != "d" {
			t.Errorf("verdict = %+v", v)
		}
	})
	t.Run("pods", func(t *testing.T) {
		phases, err := ParsePhases("failed, Unknown")
		if err != nil {
			t.Fatal(err)
		}
		rows := PodRows(answers, phases)
		var got []string
		for _, r := range rows {
			got = append(got, r.Member+"/"+r.Namespace+"/"+r.Pod+"/"+r.Phase)
		}
		if want := "a/x/bad/Failed a/y/lost/Unknown c/// d///"; strings.Join(got, " ") != want {
			t.Errorf("rows = %v, want %s", got, want)
		}
		if rows[2].FailedPods == nil || *rows[2].FailedPods != 4 {
			t.Errorf("agent row = %+v", rows[2])
		}
		if all := PodRows(answers, nil); len(all) != 6 {
			t.Errorf("all phases: %d rows, want 6", len(all))
		}
		running := PodRows(answers, []corev1.PodPhase{corev1.PodRunning})
		if running[1].Member != "c" || !strings.Contains(running[1].Note, "only a count") {
			t.Errorf("agent row for Running = %+v", running[1])
		}
		if v := PodVerdict(rows); strings.Join(v.Unhealthy, ",") != "a,c" || strings.Join(v.Unanswered, ",") != "d" {
			t.Errorf("verdict = %+v", v)
		}
		if _, err := ParsePhases("Crashing"); err == nil {
			t.Error("ParsePhases accepted an unknown phase")
		}
	})
	t.Run("summary", func(t *testing.T) {
		rows := Summary(answers)
		want := []SummaryRow{
			{ClusterName: "a", NodeCount: i32(1), TotalNodes: i32(2), FailedPodCount: i32(2)},
			{ClusterName: "b", NodeCount: i32(1), TotalNodes: i32(1), FailedPodCount: i32(0)},
			{ClusterName: "c", NodeCount: i32(2), TotalNodes: i32(3), FailedPodCount: i32(4)},
			{ClusterName: "d"},
		}
		for i, w := range want {
			r := rows[i]
			if r.ClusterName != w.ClusterName || count(r.NodeCount) != count(w.NodeCount) || count(r.TotalNodes) != count(w.TotalNodes) || count(r.FailedPodCount) != count(w.FailedPodCount) {
				t.Errorf("row %d = %s %s/%s %s, want %s %s/%s %s", i, r.ClusterName, count(r.NodeCount), count(r.TotalNodes), count(r.FailedPodCount),
					w.ClusterName, count(w.NodeCount), count(w.TotalNodes), count(w.FailedPodCount))
			}
		}
		if v := SummaryVerdict(rows); strings.Join(v.Unhealthy, ",") != "a,c" || strings.Join(v.Unanswered, ",") != "d" {
			t.Errorf("verdict = %+v", v)
		}
	})
}

func count(n *int32) string {
	if n == nil {
		return "nil"
	}
	return strconv.Itoa(int(*n))
}

// TestGatherBoundsEveryMember: a member whose client hangs (ignoring its
// context) is a no-answer row after the bound, a refused one is a
// no-answer row at once, an agent-only member is its agent's summary, and
// the live one is read.
func TestGatherBoundsEveryMember(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	live := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p1"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "p2"}})
	connect := func(ctx context.Context, m *fleetv1.MemberCluster) (kubernetes.Interface, error) {
		switch m.Name {
		case "hangs":
			<-release
			return nil, errors.New("released")
		case "refuses":
			return nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
		case "denied":
			return nil, errors.New(`nodes is forbidden: User "x" cannot list resource "nodes"`)
		}
		return live, nil
	}
	members := []fleetv1.MemberCluster{direct("refuses"), direct("hangs"), agentMember("agent", 1, 1, 0), direct("live"), direct("denied")}
	start := time.Now()
	answers := Gather(context.Background(), members, connect, Want{Nodes: true, Pods: true, Namespace: "ns"}, Options{Timeout: 200 * time.Millisecond, Concurrency: 2})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Gather took %s with a 200ms bound", took)
	}
	got := map[string]Answer{}
	for _, a := range answers {
		got[a.Member] = a
	}
	if a := got["hangs"]; a.Source != SourceNoAnswer || a.Err != "did not answer within 200ms" {
		t.Errorf("hangs = %+v", a)
	}
	if a := got["refuses"]; a.Source != SourceNoAnswer || !strings.Contains(a.Err, "connection refused") {
		t.Errorf("refuses = %+v", a)
	}
	if a := got["denied"]; a.Source != SourceError || !strings.Contains(a.Err, "forbidden") {
		t.Errorf("denied = %+v", a)
	}
	if a := got["agent"]; a.Source != SourceAgent || a.Status.Nodes.Total != 1 {
		t.Errorf("agent = %+v", a)
	}
	if a := got["live"]; a.Source != SourceLive || len(a.Nodes) != 1 || len(a.Pods) != 1 || a.Pods[0].Name != "p1" {
		t.Errorf("live = %+v", a)
	}
	if answers[0].Member != "agent" || answers[4].Member != "refuses" {
		t.Errorf("answers not in name order: %v", answers)
	}
}

// TestGatherAsksAtMostConcurrencyMembersAtOnce: ten slow members, a bound of
// three at a time.
func TestGatherAsksAtMostConcurrencyMembersAtOnce(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	connect := func(ctx context.Context, m *fleetv1.MemberCluster) (kubernetes.Interface, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return fake.NewClientset(), nil
	}
	var members []fleetv1.MemberCluster
	for i := range 10 {
		members = append(members, direct(fmt.Sprintf("m-%d", i)))
	}
	answers := Gather(context.Background(), members, connect, Want{Nodes: true}, Options{Timeout: time.Second, Concurrency: 3})
	if most > 3 || most < 2 {
		t.Errorf("%d members asked at once, want at most 3 (and more than 1)", most)
	}
	for _, a := range answers {
		if a.Source != SourceLive {
			t.Errorf("%s: %+v", a.Member, a)
		}
	}
}
