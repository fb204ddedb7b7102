package admission

import (
	"encoding/base64"
	"strings"
	"testing"
)

// base64Forms are the parts of the base64 encoding of any data holding s
// that depend on s alone: one per offset of s modulo 3.
func base64Forms(s string) []string {
	var out []string
	for offset := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", offset) + s + "\x00\x00\x00"))
		first := (8*offset + 5) / 6
		last := 8 * (offset + len(s)) / 6
		out = append(out, enc[first:last])
	}
	return out
}

func TestTheCredentialsPolicyLooksForEveryBase64FormOfExec(t *testing.T) {
	p, err := Exec()
	if err != nil {
		t.Fatal(err)
	}
	var adds string
	for _, pol := range p.Policies {
		if pol.Name == "flotilla-exec-credentials" {
			for _, v := range pol.Spec.Variables {
				if v.Name == "adds" {
					adds = v.Expression
				}
			}
		}
	}
	if adds == "" {
		t.Fatal("no variable adds in policy flotilla-exec-credentials")
	}
	for _, key := range []string{"exec:", `"exec":`} {
		forms := base64Forms(key)
		for _, f := range forms {
			if !strings.Contains(adds, "'"+f+"'") {
				t.Errorf("the policy does not look for %q (a base64 form of %q)", f, key)
			}
		}
		// Each form is found in the encoding of a kubeconfig with key at
		// that offset.
		for offset, f := range forms {
			data := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 30+offset) + key + " {}\n"))
			if !strings.Contains(data, f) {
				t.Errorf("%q at offset %d encodes to %s, which lacks %q", key, offset, data, f)
			}
		}
	}
}

func TestEachPolicyHasItsBinding(t *testing.T) {
	p, err := Exec()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Policies) != 4 || len(p.Objects()) != 8 {
		t.Fatalf("%d policies, %d objects; want 4 policies, each with its binding", len(p.Policies), len(p.Objects()))
	}
	for i, b := range p.Bindings {
		if b.Spec.PolicyName != p.Policies[i].Name || len(b.Spec.ValidationActions) != 1 || b.Spec.ValidationActions[0] != "Deny" {
			t.Errorf("binding %s: %+v", b.Name, b.Spec)
		}
	}
}
