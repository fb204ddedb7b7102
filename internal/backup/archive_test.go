package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func sampleArchive() *Archive {
	u := unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Secret")
	u.SetNamespace("flotilla-system")
	u.SetName("member-dev-1")
	u.Object["data"] = map[string]any{"kubeconfig": "c2VjcmV0"}
	return &Archive{Format: FormatVersion, CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Objects: []unstructured.Unstructured{u}}
}

func TestAPlainArchiveRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sampleArchive(), Encryption{}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf, Decryption{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Objects) != 1 || got.Objects[0].GetName() != "member-dev-1" {
		t.Fatalf("read back %+v", got)
	}
}

func TestAPassphraseArchiveHidesItsSecretsAndOpensOnlyWithThePassphrase(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sampleArchive(), Encryption{Passphrase: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "c2VjcmV0") || strings.Contains(buf.String(), "member-dev-1") {
		t.Fatal("the encrypted file shows its contents")
	}
	data := buf.Bytes()
	if _, err := Read(bytes.NewReader(data), Decryption{}); !errors.Is(err, ErrEncrypted) {
		t.Fatalf("read without a passphrase: %v, want ErrEncrypted", err)
	}
	if _, err := Read(bytes.NewReader(data), Decryption{Passphrase: "wrong"}); err == nil {
		t.Fatal("a wrong passphrase opened the backup")
	}
	got, err := Read(bytes.NewReader(data), Decryption{Passphrase: "correct horse"})
	if err != nil || got.Objects[0].GetName() != "member-dev-1" {
		t.Fatalf("read with the passphrase: %v", err)
	}
}

func TestARecipientArchiveOpensWithTheIdentity(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, sampleArchive(), Encryption{Recipients: []string{id.Recipient().String()}}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf, Decryption{Identities: "# a key file\n" + id.String() + "\n"})
	if err != nil || len(got.Objects) != 1 {
		t.Fatalf("read with the identity: %v", err)
	}
}

func TestPassphraseAndRecipientsTogetherAreRefused(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	err := Write(&bytes.Buffer{}, sampleArchive(), Encryption{Passphrase: "p", Recipients: []string{id.Recipient().String()}})
	if err == nil {
		t.Fatal("mixing a passphrase and recipients was accepted")
	}
}

func TestAFileThatIsNotABackupIsRefused(t *testing.T) {
	if _, err := Read(strings.NewReader(`{"format": "something/else", "objects": []}`), Decryption{}); err == nil || !strings.Contains(err.Error(), "not a Flotilla backup") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Read(strings.NewReader(`not json`), Decryption{}); err == nil {
		t.Fatal("garbage was read as a backup")
	}
}

func TestObjectsAreOrderedOwnersFirst(t *testing.T) {
	mk := func(kind, name string) unstructured.Unstructured {
		u := unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetName(name)
		return u
	}
	objs := []unstructured.Unstructured{mk("Work", "w"), mk("Gate", "g"), mk("UpdateRun", "r"), mk("Secret", "s"), mk("Namespace", "n"), mk("MemberCluster", "m")}
	sortForRestore(objs)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if got := strings.Join(kinds, ","); got != "Namespace,Secret,MemberCluster,UpdateRun,Gate,Work" {
		t.Fatalf("order %s", got)
	}
}
