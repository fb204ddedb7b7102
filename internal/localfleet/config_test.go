package localfleet

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

var testToolchain = toolchain.Toolchain{
	CacheDir: "/nonexistent",
	Versions: toolchain.Versions{Kubernetes: []string{"v1.36.3", "v1.37.2"}, Etcd: "v3.6.16", Kwok: "v0.7.0"},
}

func TestParseAndResolveConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
hub: {kubernetesVersion: "1.37"}
members:
- name: dev-1
  kubernetesVersion: "1.36"
  labels: {env: dev, region: westeurope}
  updateGroup: group-dev-clusters
  nodes: 2
- name: prod-1
  nodes: 0
- name: prod-2
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Resolve(testToolchain)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hub.KubernetesVersion != "v1.37.2" {
		t.Errorf("hub version %q", got.Hub.KubernetesVersion)
	}
	want := []struct {
		name, version string
		nodes         int
	}{{"dev-1", "v1.36.3", 2}, {"prod-1", "v1.36.3", 0}, {"prod-2", "v1.36.3", 3}}
	for i, w := range want {
		m := got.Members[i]
		if m.Name != w.name || m.KubernetesVersion != w.version || *m.Nodes != w.nodes {
			t.Errorf("member %d = %s %s %d nodes, want %+v", i, m.Name, m.KubernetesVersion, *m.Nodes, w)
		}
	}
	if got.Members[0].Labels["region"] != "westeurope" || got.Members[0].UpdateGroup != "group-dev-clusters" {
		t.Errorf("labels or group lost: %+v", got.Members[0])
	}
}

func TestDefaultsPutHubOnNewestAndMembersOnOldest(t *testing.T) {
	got, err := MembersConfig(2).Resolve(testToolchain)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hub.KubernetesVersion != "v1.37.2" {
		t.Errorf("hub on %s, want the newest", got.Hub.KubernetesVersion)
	}
	for i, m := range got.Members {
		if want := "member-" + string(rune('1'+i)); m.Name != want {
			t.Errorf("member %d named %q, want %q", i, m.Name, want)
		}
		if m.KubernetesVersion != "v1.36.3" || m.UpdateGroup != DefaultUpdateGroup || *m.Nodes != 3 {
			t.Errorf("member %+v: want v1.36.3, group %s, 3 nodes", m, DefaultUpdateGroup)
		}
	}
}

func TestInvalidConfigs(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":    {"members: [{name: a, nodez: 3}]", "unknown field"},
		"unknown version":  {"members: [{name: a, kubernetesVersion: '1.20'}]", `unsupported Kubernetes version "1.20"`},
		"hub version":      {"hub: {kubernetesVersion: '2.0'}", "hub.kubernetesVersion: unsupported"},
		"duplicate names":  {"members: [{name: a}, {name: a}]", `members[1].name: the name "a" is used twice`},
		"bad name":         {"members: [{name: Dev_1}]", `invalid name "Dev_1"`},
		"missing name":     {"members: [{nodes: 1}]", "members[0].name: a member needs a name"},
		"bad group":        {"members: [{name: a, updateGroup: 'Group A'}]", "invalid update group"},
		"bad label key":    {"members: [{name: a, labels: {'-x': y}}]", "invalid label key"},
		"bad label value":  {"members: [{name: a, labels: {x: 'a b'}}]", "invalid value"},
		"negative nodes":   {"members: [{name: a, nodes: -1}]", "cannot be negative"},
		"pods on no nodes": {"members: [{name: a, nodes: 0, pods: 2}]", "need nodes"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				_, err = cfg.Resolve(testToolchain)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	cfg, _ := ParseConfig([]byte("members: [{name: A}, {name: b, kubernetesVersion: '9.9'}]"))
	_, err := cfg.Resolve(testToolchain)
	if err == nil || !strings.Contains(err.Error(), `"A"`) || !strings.Contains(err.Error(), `"9.9"`) {
		t.Fatalf("want both problems in one error, got %v", err)
	}
}

func TestFleetNameIsValidated(t *testing.T) {
	for _, name := range []string{"Flotilla", "a.b", "../x", strings.Repeat("a", 60)} {
		if _, err := absLayout(Layout{StateDir: t.TempDir(), Name: name}); err == nil {
			t.Errorf("fleet name %q accepted", name)
		}
	}
}
