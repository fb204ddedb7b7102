package hubaccess

import (
	"errors"
	"testing"
)

func withFallback(t *testing.T, fallback func() (string, bool)) {
	t.Helper()
	old := Fallback
	Fallback = fallback
	t.Cleanup(func() { Fallback = old })
}

func TestKubeconfigPathPrefersTheFlagThenTheEnvironmentThenTheFallback(t *testing.T) {
	withFallback(t, func() (string, bool) { return "/local/hub.kubeconfig", true })
	cases := []struct {
		name, flag, env, want string
	}{
		{"flag", "/flag/hub.kubeconfig", "/env/hub.kubeconfig", "/flag/hub.kubeconfig"},
		{"environment", "", "/env/hub.kubeconfig", "/env/hub.kubeconfig"},
		{"fallback", "", "", "/local/hub.kubeconfig"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvKubeconfig, tc.env)
			got, err := KubeconfigPath(tc.flag)
			if err != nil || got != tc.want {
				t.Fatalf("KubeconfigPath(%q) = %q, %v; want %q", tc.flag, got, err, tc.want)
			}
		})
	}
}

func TestKubeconfigPathWithoutAnyHubSaysHowToName(t *testing.T) {
	t.Setenv(EnvKubeconfig, "")
	for name, fallback := range map[string]func() (string, bool){
		"no fallback":              nil,
		"a fallback that finds no": func() (string, bool) { return "", false },
	} {
		t.Run(name, func(t *testing.T) {
			withFallback(t, fallback)
			if _, err := KubeconfigPath(""); !errors.Is(err, ErrNoHub) {
				t.Fatalf("err = %v, want ErrNoHub", err)
			}
		})
	}
}
