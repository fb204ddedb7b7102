package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestHubBackupNeedsAFileAndRefusesAPassphraseWithRecipients(t *testing.T) {
	hub := fakeHub()
	if _, _, err := runCLI(hub, "hub", "backup"); err == nil || !strings.Contains(err.Error(), "-o FILE|DIR/ is required") {
		t.Fatalf("backup without -o: %v", err)
	}
	t.Setenv(envBackupPassphrase, "secret")
	file := filepath.Join(t.TempDir(), "b.json")
	if _, _, err := runCLI(hub, "hub", "backup", "-o", file, "--recipient", "age1xyz"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("passphrase and recipient: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatal("a refused backup wrote a file")
	}
	if _, _, err := runCLI(hub, "hub", "restore"); err == nil || !strings.Contains(err.Error(), "-f FILE is required") {
		t.Fatalf("restore without -f: %v", err)
	}
}

func TestAHubBackupRestoresOntoAnotherHub(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fleet.json.age")
	t.Setenv(envBackupPassphrase, "quarterly")
	out, _, err := runCLI(fakeHub(member("dev-1", "dev")), "hub", "backup", "-o", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1 MemberCluster") {
		t.Fatalf("backup said %q", out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "dev-1") {
		t.Fatal("the encrypted backup shows a member's name")
	}
	fresh := fakeHub()
	if _, _, err := runCLI(fresh, "hub", "restore", "-f", file); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Get(t.Context(), client.ObjectKey{Name: "dev-1"}, &fleetv1.MemberCluster{}); err != nil {
		t.Fatalf("the member was not restored: %v", err)
	}
	if _, _, err := runCLI(fresh, "hub", "restore", "-f", file); err == nil || !strings.Contains(err.Error(), "exist on the hub") {
		t.Fatalf("a second restore: %v", err)
	}
}

func TestJoinWritesAgentChartValuesOnlyItsOwnerCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prod-eu-1.agent-values.yaml")
	kubeconfig := []byte("apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user: {token: abc}\n")
	if err := writeAgentValues(path, "prod-eu-1", kubeconfig); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v agentChartValues
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.MemberName != "prod-eu-1" || v.Hub.Kubeconfig != string(kubeconfig) {
		t.Fatalf("values %+v", v)
	}
	if c := helmInstallCommand(path, "prod-eu-1"); !strings.Contains(c, "--values "+path) || !strings.Contains(c, "--kube-context prod-eu-1") {
		t.Fatalf("helm command %q", c)
	}
}

func TestABackupIntoADirectoryIsNamedByTimeAndOlderOnesArePruned(t *testing.T) {
	dir := t.TempDir()
	for _, old := range []string{"fleet-20261101T030000Z.json", "fleet-20261102T030000Z.json", "fleet-20261103T030000Z.json", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, old), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(fakeHub(member("dev-1", "dev")), "hub", "backup", "-o", dir+"/", "--keep", "2")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 || names[0] != "fleet-20261103T030000Z.json" || !strings.HasPrefix(names[1], "fleet-2026") || names[2] != "notes.txt" {
		t.Fatalf("files after the backup: %v\n%s", names, out)
	}
}
