// Package hubexec is how the hub runs programs that operators wrote into
// fleet objects (Exec upgrade providers, Command health checks, exec
// credential plugins of stored kubeconfigs): only when the hub allows it
// and the admission policy that limits who may write them is in force
// (Guard), with an environment of their own (Env), their output capped
// (Tail) and cleaned of the member's credentials (Redact).
package hubexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/config/admission"
)

// Flag is the `flotilla hub` flag that lets the hub run such programs.
const Flag = "--allow-exec"

// Reasons a program was refused, for conditions and Events.
const (
	// ReasonExecNotAllowed: the hub was started without --allow-exec.
	ReasonExecNotAllowed = "ExecNotAllowed"
	// ReasonExecPolicyMissing: the admission policy is not in force.
	ReasonExecPolicyMissing = "ExecPolicyMissing"
)

// DefaultPolicyCheckInterval is how long the outcome of reading the
// admission policy is reused.
const DefaultPolicyCheckInterval = 30 * time.Second

// RefusedError says why the hub did not run a program.
type RefusedError struct {
	// What runs the program, e.g. "spec.provider.exec of member dev-1".
	What string
	// Reason is ReasonExecNotAllowed or ReasonExecPolicyMissing.
	Reason string
	// Detail is what is wrong with the policy.
	Detail string
}

func (e *RefusedError) Error() string {
	if e.Reason == ReasonExecPolicyMissing {
		return fmt.Sprintf("%s runs a program on the hub, and the hub runs none while the admission policy that limits who may write them is not in force: %s (flotilla hub applies it at start; see docs/upgrades.md)", e.What, e.Detail)
	}
	return fmt.Sprintf("%s runs a program on the hub, and this hub was started without %s (hub chart value hub.allowExec), so it runs none; see docs/upgrades.md", e.What, Flag)
}

// Refused returns the refusal in err's chain, or nil.
func Refused(err error) *RefusedError {
	var r *RefusedError
	if errors.As(err, &r) {
		return r
	}
	return nil
}

// Guard decides whether the hub may run a program written into a fleet
// object. A nil Guard refuses every one.
type Guard struct {
	// Allow is --allow-exec.
	Allow bool
	// Reader reads the admission policies from the hub's API server; an
	// uncached reader, so that a deleted policy is noticed.
	Reader client.Reader
	// Policy is the policy that must be in force (config/admission).
	Policy admission.ExecPolicy
	// CheckInterval is how long a reading of the policy is reused; zero
	// means DefaultPolicyCheckInterval.
	CheckInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	checkedAt time.Time
	missing   string
}

// Permit returns nil when the hub may run the program that what names,
// else a *RefusedError that says why.
func (g *Guard) Permit(ctx context.Context, what string) error {
	if g == nil || !g.Allow {
		return &RefusedError{What: what, Reason: ReasonExecNotAllowed}
	}
	if missing := g.policyMissing(ctx); missing != "" {
		return &RefusedError{What: what, Reason: ReasonExecPolicyMissing, Detail: missing}
	}
	return nil
}

// Allowed reports whether the hub was started with --allow-exec, whatever
// the policy's state.
func (g *Guard) Allowed() bool { return g != nil && g.Allow }

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// policyMissing is what is wrong with the policy in force, or "" when it
// is what the hub ships; read again once CheckInterval has passed.
func (g *Guard) policyMissing(ctx context.Context) string {
	interval := g.CheckInterval
	if interval == 0 {
		interval = DefaultPolicyCheckInterval
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.checkedAt.IsZero() && g.now().Sub(g.checkedAt) < interval {
		return g.missing
	}
	g.missing = PolicyProblem(ctx, g.Reader, g.Policy)
	g.checkedAt = g.now()
	return g.missing
}

// PolicyProblem reads the policies and bindings of want from the API
// server and says what differs from want in what makes them refuse
// writes, or "" when they are in force as shipped.
func PolicyProblem(ctx context.Context, r client.Reader, want admission.ExecPolicy) string {
	if r == nil || len(want.Policies) == 0 {
		return "the hub has no way to read it"
	}
	var problems []string
	for i, p := range want.Policies {
		got := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := r.Get(ctx, client.ObjectKey{Name: p.Name}, got); err != nil {
			problems = append(problems, fmt.Sprintf("ValidatingAdmissionPolicy %s: %v", p.Name, err))
			continue
		}
		if !got.DeletionTimestamp.IsZero() {
			problems = append(problems, fmt.Sprintf("ValidatingAdmissionPolicy %s is being deleted", p.Name))
		}
		if got.Spec.FailurePolicy == nil || *got.Spec.FailurePolicy != admissionregistrationv1.Fail ||
			!equality.Semantic.DeepEqual(got.Spec.Validations, p.Spec.Validations) ||
			!equality.Semantic.DeepEqual(got.Spec.Variables, p.Spec.Variables) {
			problems = append(problems, fmt.Sprintf("ValidatingAdmissionPolicy %s differs from the one this hub ships", p.Name))
		}
		b := want.Bindings[i]
		gotBinding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		if err := r.Get(ctx, client.ObjectKey{Name: b.Name}, gotBinding); err != nil {
			problems = append(problems, fmt.Sprintf("ValidatingAdmissionPolicyBinding %s: %v", b.Name, err))
			continue
		}
		if gotBinding.Spec.PolicyName != p.Name || !slices.Contains(gotBinding.Spec.ValidationActions, admissionregistrationv1.Deny) ||
			!emptyMatch(gotBinding.Spec.MatchResources) {
			problems = append(problems, fmt.Sprintf("ValidatingAdmissionPolicyBinding %s does not deny what policy %s refuses", b.Name, p.Name))
		}
	}
	return strings.Join(problems, "; ")
}

// emptyMatch reports whether a binding's matchResources, as the API server
// defaults it, narrows nothing: the shipped bindings narrow nothing.
func emptyMatch(m *admissionregistrationv1.MatchResources) bool {
	if m == nil {
		return true
	}
	return len(m.ResourceRules) == 0 && len(m.ExcludeResourceRules) == 0 &&
		(m.NamespaceSelector == nil || (len(m.NamespaceSelector.MatchLabels) == 0 && len(m.NamespaceSelector.MatchExpressions) == 0)) &&
		(m.ObjectSelector == nil || (len(m.ObjectSelector.MatchLabels) == 0 && len(m.ObjectSelector.MatchExpressions) == 0))
}

// Permitter decides whether the hub may run the program that what names;
// *Guard is the hub's.
type Permitter interface {
	Permit(ctx context.Context, what string) error
}
