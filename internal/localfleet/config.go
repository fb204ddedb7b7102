package localfleet

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// DefaultUpdateGroup is the group of the members made by MembersConfig.
const DefaultUpdateGroup = "default"

// Config declares a local fleet: its hub and its members.
type Config struct {
	// Hubful runs a member agent beside every member, for placement.
	Hubful  bool           `json:"hubful,omitempty"`
	Hub     HubConfig      `json:"hub"`
	Members []MemberConfig `json:"members"`
}

// HubConfig declares the hub.
type HubConfig struct {
	// KubernetesVersion defaults to the newest supported.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// MemberConfig declares one member.
type MemberConfig struct {
	// Name names the member on the hub; a DNS label.
	Name string `json:"name"`
	// KubernetesVersion defaults to the oldest supported, so that members
	// have an upgrade ahead of them.
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	UpdateGroup       string            `json:"updateGroup,omitempty"`
	// Nodes defaults to localcluster.DefaultNodes; 0 means none.
	Nodes *int `json:"nodes,omitempty"`
	// Pods is the number of simulated pods.
	Pods int `json:"pods,omitempty"`
	// NodeImage is the image the nodes start on; empty means the older of
	// the local catalogue's images for the member's version
	// (localcluster.InitialNodeImage), so that a node image upgrade has
	// somewhere to go.
	NodeImage string `json:"nodeImage,omitempty"`
	// RuntimeConfig is the member API server's --runtime-config, e.g.
	// "networking.k8s.io/v1beta1=true" to turn on a beta API that is off by
	// default (to rehearse flotilla preflight). An API the member's next
	// version removes makes that version's API server refuse to start.
	RuntimeConfig string `json:"runtimeConfig,omitempty"`
}

// LoadConfig reads a fleet declaration from a YAML file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads a fleet declaration; unknown fields are errors, so that
// a typo does not silently fall back to a default.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// MembersConfig declares n members, member-1 to member-n, in one update
// group, on the default versions.
func MembersConfig(n int) Config {
	var cfg Config
	for i := 1; i <= n; i++ {
		cfg.Members = append(cfg.Members, MemberConfig{
			Name:        fmt.Sprintf("member-%d", i),
			UpdateGroup: DefaultUpdateGroup,
		})
	}
	return cfg
}

// Resolve validates cfg and returns it with every default filled in and
// every version in full ("v1.36.3"). All problems are reported at once.
func (cfg Config) Resolve(tc toolchain.Toolchain) (Config, error) {
	var errs []error
	out := Config{Hubful: cfg.Hubful, Hub: cfg.Hub}
	if out.Hub.KubernetesVersion == "" {
		out.Hub.KubernetesVersion = tc.NewestKubernetes()
	}
	v, err := tc.ResolveKubernetes(out.Hub.KubernetesVersion)
	if err != nil {
		errs = append(errs, fmt.Errorf("hub.kubernetesVersion: %w", err))
	}
	out.Hub.KubernetesVersion = v

	seen := map[string]bool{}
	for i, m := range cfg.Members {
		// Each problem names its field, as members[2].updateGroup.
		fail := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("members[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case m.Name == "":
			fail("name", "a member needs a name")
		case seen[m.Name]:
			fail("name", "the name %q is used twice", m.Name)
		default:
			if msgs := validation.IsDNS1123Label(m.Name); len(msgs) > 0 {
				fail("name", "invalid name %q: %s", m.Name, strings.Join(msgs, "; "))
			}
		}
		seen[m.Name] = true

		if m.KubernetesVersion == "" {
			m.KubernetesVersion = tc.OldestKubernetes()
		}
		if v, err := tc.ResolveKubernetes(m.KubernetesVersion); err != nil {
			fail("kubernetesVersion", "%v", err)
		} else {
			m.KubernetesVersion = v
		}
		if m.UpdateGroup != "" {
			if msgs := validation.IsDNS1123Label(m.UpdateGroup); len(msgs) > 0 {
				fail("updateGroup", "invalid update group %q: %s", m.UpdateGroup, strings.Join(msgs, "; "))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
			val := m.Labels[k]
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				fail("labels", "invalid label key %q: %s", k, strings.Join(msgs, "; "))
			}
			if msgs := validation.IsValidLabelValue(val); len(msgs) > 0 {
				fail("labels", "invalid value %q of label %s: %s", val, k, strings.Join(msgs, "; "))
			}
		}
		if m.Nodes == nil {
			n := localcluster.DefaultNodes
			m.Nodes = &n
		}
		switch {
		case *m.Nodes < 0:
			fail("nodes", "node counts cannot be negative")
		case m.Pods < 0:
			fail("pods", "pod counts cannot be negative")
		case m.Pods > 0 && *m.Nodes == 0:
			fail("pods", "simulated pods need nodes to run on")
		}
		out.Members = append(out.Members, m)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid local fleet:\n%w", err)
	}
	return out, nil
}
