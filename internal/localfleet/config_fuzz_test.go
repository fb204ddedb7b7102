package localfleet

import (
	"regexp"
	"strings"
	"testing"
)

// fieldPath is how a refused fleet config names the field at fault.
var fieldPath = regexp.MustCompile(`^(hub\.kubernetesVersion|members\[\d+\]\.(name|kubernetesVersion|updateGroup|labels|nodes|pods)): `)

// FuzzConfig feeds fleet declarations (YAML, as `flotilla local up
// --config` reads them) to ParseConfig and Resolve: no panic; every problem
// Resolve reports names its field; whatever it accepts has every default
// filled in, distinct member names and counts that make sense.
func FuzzConfig(f *testing.F) {
	f.Add("hub: {kubernetesVersion: '1.37'}\nmembers:\n- {name: dev-1, updateGroup: dev, labels: {env: dev}}\n- {name: prod-1, kubernetesVersion: v1.36.3, nodes: 5, pods: 20}\n")
	f.Add("hubful: true\nmembers: [{name: a}, {name: b}]\n")
	f.Add("members: [{name: a}, {name: a}]")
	f.Add("members: [{name: Dev_1, updateGroup: 'Group A', labels: {'-x': 'a b'}}]")
	f.Add("members: [{nodes: -1, pods: -2, kubernetesVersion: '9.9'}]")
	f.Add("members: [{name: a, nodes: 0, pods: 2}]")
	f.Add("hub: {kubernetesVersion: ''}\nmembers: [{name: a, kubernetesVersion: ' v1.36 '}]")
	f.Add("members: [{name: a, nodez: 3}]")
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := ParseConfig([]byte(doc))
		if err != nil {
			return // YAML that is not a fleet: the decoder's message says where
		}
		resolved, err := cfg.Resolve(testToolchain)
		if err != nil {
			lines := strings.Split(strings.TrimPrefix(err.Error(), "invalid local fleet:\n"), "\n")
			for _, line := range lines {
				if !fieldPath.MatchString(line) {
					t.Fatalf("the problem %q names no field (of %q)", line, err)
				}
			}
			return
		}
		if resolved.Hub.KubernetesVersion == "" || len(resolved.Members) != len(cfg.Members) {
			t.Fatalf("resolved to %+v", resolved)
		}
		names := map[string]bool{}
		for _, m := range resolved.Members {
			if names[m.Name] || m.Name == "" {
				t.Fatalf("accepted the member name %q twice or empty", m.Name)
			}
			names[m.Name] = true
			if m.Nodes == nil || *m.Nodes < 0 || m.Pods < 0 || (m.Pods > 0 && *m.Nodes == 0) {
				t.Fatalf("accepted the member %+v", m)
			}
			if !strings.HasPrefix(m.KubernetesVersion, "v") {
				t.Fatalf("member %s resolved to version %q", m.Name, m.KubernetesVersion)
			}
		}
	})
}
