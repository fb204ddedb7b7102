package enrollment

import (
	"strings"
	"testing"
)

// FuzzRESTConfig feeds kubeconfig files and --context values to the parser
// of `flotilla member create`: no panic; every refusal says it is the
// kubeconfig that is invalid; whatever it accepts names a server.
func FuzzRESTConfig(f *testing.F) {
	good := `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: abc}
contexts:
- name: dev
  context: {cluster: dev, user: admin}
current-context: dev
`
	f.Add(good, "")
	f.Add(good, "dev")
	f.Add(good, "prod")
	f.Add(strings.Replace(good, "current-context: dev", "", 1), "")
	f.Add(strings.Replace(good, `server: "https://127.0.0.1:6443"`, `server: "::not a url"`, 1), "")
	f.Add(strings.Replace(good, "{cluster: dev, user: admin}", "{cluster: missing, user: admin}", 1), "")
	f.Add("apiVersion: v1\nkind: Config\nusers: [{name: u, user: {client-certificate-data: bm90IGEgY2VydA==}}]\n", "")
	f.Add("{", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, kubeconfig, kubeContext string) {
		cfg, err := RESTConfig([]byte(kubeconfig), kubeContext)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid kubeconfig: ") {
				t.Fatalf("refused with %q, which does not say the kubeconfig is at fault", err)
			}
			return
		}
		if cfg.Host == "" {
			t.Fatalf("accepted a kubeconfig that names no server:\n%s", kubeconfig)
		}
	})
}
