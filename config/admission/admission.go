// Package admission holds the ValidatingAdmissionPolicies the hub installs
// beside its CRDs: who may make the hub run a program (exec-policy.yaml).
package admission

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

//go:embed exec-policy.yaml
var execPolicy string

// ExecPolicy is the exec policy as objects to apply: each
// ValidatingAdmissionPolicy followed by its binding.
type ExecPolicy struct {
	Policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	Bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

// Objects are the policies and bindings, in the order to apply them.
func (p ExecPolicy) Objects() []client.Object {
	var out []client.Object
	for i := range p.Policies {
		out = append(out, p.Policies[i], p.Bindings[i])
	}
	return out
}

// Exec returns the exec policy: which writes need the permission to run
// programs on the hub.
func Exec() (ExecPolicy, error) {
	var p ExecPolicy
	for i, doc := range strings.Split(execPolicy, "\n---\n") {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			return ExecPolicy{}, fmt.Errorf("exec-policy.yaml document %d: %w", i, err)
		}
		switch kind.Kind {
		case "ValidatingAdmissionPolicy":
			o := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
				return ExecPolicy{}, fmt.Errorf("exec-policy.yaml document %d: %w", i, err)
			}
			p.Policies = append(p.Policies, o)
		case "ValidatingAdmissionPolicyBinding":
			o := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
				return ExecPolicy{}, fmt.Errorf("exec-policy.yaml document %d: %w", i, err)
			}
			p.Bindings = append(p.Bindings, o)
		default:
			return ExecPolicy{}, fmt.Errorf("exec-policy.yaml document %d: unexpected kind %q", i, kind.Kind)
		}
	}
	if len(p.Policies) == 0 || len(p.Policies) != len(p.Bindings) {
		return ExecPolicy{}, errors.New("exec-policy.yaml: want each policy followed by its binding")
	}
	for i, b := range p.Bindings {
		if b.Spec.PolicyName != p.Policies[i].Name {
			return ExecPolicy{}, fmt.Errorf("exec-policy.yaml: binding %s follows policy %s but binds %s", b.Name, p.Policies[i].Name, b.Spec.PolicyName)
		}
	}
	return p, nil
}
