// Package fleetquery answers "what's the state of my fleet right now?" across
// members: it fans out to every member concurrently, each within a bound, and
// turns what came back into rows with the member's name on each. Members the
// hub reaches with a kubeconfig are read live; members only an agent reaches
// are answered from the summary the agent last reported in the
// MemberCluster's status, and their rows say so. A member that does not
// answer within the bound is a row saying so, never a hang.
//
// Gather does the I/O; the rows (NodeRows, PodRows, Summary) are pure.
package fleetquery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Source says where a row's facts come from.
type Source string

const (
	// SourceLive: read from the member's API server just now.
	SourceLive Source = "live"
	// SourceAgent: the summary the member agent last reported to the hub.
	SourceAgent Source = "agent"
	// SourceNoAnswer: the member did not answer within the bound.
	SourceNoAnswer Source = "no-answer"
	// SourceError: the member answered with an error, or has no way in.
	SourceError Source = "error"
)

// DefaultTimeout bounds each member's answer.
const DefaultTimeout = 10 * time.Second

// DefaultConcurrency is how many members are asked at once.
const DefaultConcurrency = 8

// Want is what to read from each member.
type Want struct {
	Nodes bool
	Pods  bool
	// Namespace restricts the pods read; empty reads every namespace.
	Namespace string
}

// Connect returns a client for a member the hub reaches directly.
type Connect func(ctx context.Context, m *fleetv1.MemberCluster) (kubernetes.Interface, error)

// Answer is what one member gave back.
type Answer struct {
	Member string
	Source Source
	// Status is the member's MemberCluster status, for agent summaries.
	Status fleetv1.MemberClusterStatus
	Nodes  []corev1.Node
	Pods   []corev1.Pod
	// Err says why the member gave no live answer (no-answer and error).
	Err string
	// Heartbeat is when the agent's summary was reported.
	Heartbeat *metav1.Time
}

// Options bound the fan-out.
type Options struct {
	// Timeout bounds each member; zero means DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds how many members are asked at once; zero means
	// DefaultConcurrency.
	Concurrency int
}

// AgentOnly reports whether the hub has no kubeconfig for the member, so
// that only its agent's report says anything about it.
func AgentOnly(m *fleetv1.MemberCluster) bool {
	return m.Spec.Access.Mode == fleetv1.AccessAgent || m.Spec.Access.KubeconfigSecretRef == nil
}

// Gather asks every member concurrently, at most opts.Concurrency at once
// and each for at most opts.Timeout, and returns one answer per member in
// name order. It returns after at most about
// ceil(len/concurrency) × timeout even when members hang.
func Gather(ctx context.Context, members []fleetv1.MemberCluster, connect Connect, want Want, opts Options) []Answer {
	timeout, limit := opts.Timeout, opts.Concurrency
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	answers := make([]Answer, len(members))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range members {
		m := &members[i]
		if AgentOnly(m) {
			answers[i] = Answer{Member: m.Name, Source: SourceAgent, Status: m.Status, Heartbeat: agentHeartbeat(m)}
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			answers[i] = ask(ctx, m, connect, want, timeout)
		})
	}
	wg.Wait()
	sort.SliceStable(answers, func(i, j int) bool { return answers[i].Member < answers[j].Member })
	return answers
}

func agentHeartbeat(m *fleetv1.MemberCluster) *metav1.Time {
	if m.Status.AgentLastHeartbeatTime != nil {
		return m.Status.AgentLastHeartbeatTime
	}
	return m.Status.LastHeartbeatTime
}

// ask reads one member within timeout. The read runs in its own goroutine,
// so a client that ignores its context still cannot hold the caller past
// the bound.
func ask(ctx context.Context, m *fleetv1.MemberCluster, connect Connect, want Want, timeout time.Duration) Answer {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan Answer, 1)
	go func() { done <- read(ctx, m, connect, want) }()
	select {
	case a := <-done:
		if a.Source == SourceNoAnswer || (a.Source == SourceError && ctx.Err() != nil) {
			return noAnswer(m.Name, timeout, a.Err)
		}
		return a
	case <-ctx.Done():
		return noAnswer(m.Name, timeout, "")
	}
}

func noAnswer(member string, timeout time.Duration, detail string) Answer {
	msg := fmt.Sprintf("did not answer within %s", timeout)
	if detail != "" {
		msg += ": " + detail
	}
	return Answer{Member: member, Source: SourceNoAnswer, Err: msg}
}

func read(ctx context.Context, m *fleetv1.MemberCluster, connect Connect, want Want) Answer {
	a := Answer{Member: m.Name, Source: SourceLive}
	fail := func(what string, err error) Answer {
		a.Source = SourceError
		a.Err = what + err.Error()
		if isUnanswered(err) {
			a.Source = SourceNoAnswer
		}
		return a
	}
	cs, err := connect(ctx, m)
	if err != nil {
		return fail("", err)
	}
	if want.Nodes {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fail("listing nodes: ", err)
		}
		a.Nodes = nodes.Items
	}
	if want.Pods {
		pods, err := cs.CoreV1().Pods(want.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fail("listing pods: ", err)
		}
		a.Pods = pods.Items
	}
	return a
}

// isUnanswered reports whether err means the member's API server did not
// answer at all (refused, timed out) rather than answering with an error.
func isUnanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	return containsAny(err.Error(), "connection refused", "no such host", "i/o timeout", "Client.Timeout", "connection reset")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
