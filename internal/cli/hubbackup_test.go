package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestHubBackupNeedsAFileAndRefusesAPassphraseWithRecipients(t *testing.T) {
	hub := fakeHub()
	if _, _, err := runCLI(hub, "hub", "backup"); err == nil || !strings.Contains(err.Error(), "-o FILE is required") {
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
