package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentCommandRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	hub := filepath.Join(dir, "hub.kubeconfig")
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`
	if err := os.WriteFile(hub, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no member name", []string{"--member-kubeconfig", hub}, "--member-name is required"},
		{"no member kubeconfig", []string{"--member-name", "m1"}, "--member-kubeconfig is required"},
		{"bad member name", []string{"--member-name", "Not_A_Label", "--member-kubeconfig", hub}, `member name "Not_A_Label"`},
		{"missing kubeconfig file", []string{"--member-name", "m1", "--member-kubeconfig", filepath.Join(dir, "nope")}, "reading the member kubeconfig"},
		{"unknown context", []string{"--member-name", "m1", "--member-kubeconfig", hub, "--member-context", "other"}, "other"},
		{"zero heartbeat", []string{"--member-name", "m1", "--member-kubeconfig", hub, "--heartbeat-period", "0s"}, "--heartbeat-period must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := NewRootCommand()
			root.SetArgs(append([]string{"agent", "--hub-kubeconfig", hub, "--state-dir", dir}, tc.args...))
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
