package hubexec

import (
	"encoding/base64"
	"strings"
	"testing"
)

const testKey = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBkgZXhhbXBsZSBrZXkgbWF0ZXJpYWwgZm9yIHRlc3RzoAoGCCqGSM49
AwEHoUQDQgAEexampleexampleexampleexampleexampleexampleexampleexa==
-----END EC PRIVATE KEY-----
`

func kubeconfigWith(user string) []byte {
	return []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users:
- name: u
  user:
` + user)
}

func TestCredentialsFindsEveryKindOfSecret(t *testing.T) {
	key64 := base64.StdEncoding.EncodeToString([]byte(testKey))
	cases := []struct {
		name, user string
		want       []string
	}{
		{"token", "    token: sha256~s3cr3t-token-value\n", []string{"sha256~s3cr3t-token-value"}},
		{"password", "    username: admin\n    password: hunter2-long\n", []string{"hunter2-long"}},
		{"client key, as PEM, base64 and its lines", "    client-key-data: " + key64 + "\n", []string{strings.TrimSpace(testKey), key64, "MHcCAQEEIBkgZXhhbXBsZSBrZXkgbWF0ZXJpYWwgZm9yIHRlc3RzoAoGCCqGSM49"}},
		{"exec plugin environment", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: get-token, env: [{name: SECRET, value: plugin-secret-value}], interactiveMode: Never}\n", []string{"plugin-secret-value"}},
		{"a one-letter password is not a secret to hunt", "    username: a\n    password: x\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Credentials(kubeconfigWith(tc.user))
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("Credentials() = %q, missing %q", got, w)
				}
			}
			if tc.want == nil && len(got) != 0 {
				t.Errorf("Credentials() = %q, want none", got)
			}
		})
	}
	if got := Credentials([]byte("not: [a kubeconfig")); got != nil {
		t.Errorf("Credentials(garbage) = %q, want nil", got)
	}
}

func TestRedact(t *testing.T) {
	cases := []struct {
		name, text string
		secrets    []string
		want       string
	}{
		{"no secrets", "all fine", nil, "all fine"},
		{"a token in a line", "using token abcd1234 now", []string{"abcd1234"}, "using token [redacted] now"},
		{"every occurrence", "x=abcd1234 y=abcd1234", []string{"abcd1234"}, "x=[redacted] y=[redacted]"},
		{"the longest first", "key AAAABBBBCCCC end", []string{"BBBB", "AAAABBBBCCCC"}, "key [redacted] end"},
		{"several", "t=tok-123 p=pass-456", []string{"tok-123", "pass-456"}, "t=[redacted] p=[redacted]"},
		{"an empty secret is ignored", "text", []string{""}, "text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.text, tc.secrets); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestRedactAKubeconfigPrintedBack(t *testing.T) {
	key64 := base64.StdEncoding.EncodeToString([]byte(testKey))
	kc := kubeconfigWith("    token: sha256~s3cr3t-token-value\n    client-key-data: " + key64 + "\n")
	out := Redact("$ kubectl config view --raw\n"+string(kc)+"\n$ cat key.pem\n"+testKey, Credentials(kc))
	for _, leak := range []string{"s3cr3t-token-value", key64, "MHcCAQEEIBkgZXhhbXBsZSBrZXkg"} {
		if strings.Contains(out, leak) {
			t.Errorf("output still holds %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "server: \"https://10.0.0.1:6443\"") && !strings.Contains(out, "https://10.0.0.1:6443") {
		t.Errorf("redaction removed more than credentials:\n%s", out)
	}
}

func TestTailKeepsTheLastBytes(t *testing.T) {
	tail := &Tail{Limit: 8}
	for _, w := range []string{"0123", "4567", "89ab"} {
		if _, err := tail.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tail.String(), "(4 earlier bytes of output dropped)\n456789ab"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	all := &Tail{}
	_, _ = all.Write([]byte("everything "))
	if got := all.String(); got != "everything" {
		t.Errorf("unlimited Tail = %q", got)
	}
}

func TestEnvIsOnlyWhatTheProgramNeeds(t *testing.T) {
	t.Setenv("PATH", "/opt/bin:/usr/bin")
	t.Setenv("HUB_SECRET", "must-not-leak")
	env := Env("/work/op", "CLUSTER=dev-1")
	want := []string{"PATH=/opt/bin:/usr/bin", "HOME=/work/op", "TMPDIR=/work/op", "CLUSTER=dev-1"}
	if strings.Join(env, " ") != strings.Join(want, " ") {
		t.Errorf("Env() = %q, want %q", env, want)
	}
}
