package localupgrade

import (
	"os"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

func TestReadFaultsReturnsWhatWriteFaultsWrote(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(localcluster.StateFile(dir), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := Faults{FailUpgrade: true, NodesNotReadyAfterUpgrade: true}
	if err := WriteFaults(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFaults(dir)
	if err != nil || got != want {
		t.Fatalf("ReadFaults = %+v, %v; want %+v", got, err, want)
	}
}

func TestReadFaultsOfAClusterWithoutFaultsIsNone(t *testing.T) {
	got, err := ReadFaults(t.TempDir())
	if err != nil || got.Any() {
		t.Fatalf("ReadFaults = %+v, %v; want no faults", got, err)
	}
}
