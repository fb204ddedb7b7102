package localcluster

import (
	"slices"
	"testing"
)

func TestTheLocalCatalogueHasAnOlderAndANewerImagePerVersion(t *testing.T) {
	got := NodeImages("v1.37.2")
	want := []string{"flotilla-node-v1.37.2-202611.1", "flotilla-node-v1.37.2-202612.1"}
	if !slices.Equal(got, want) {
		t.Fatalf("NodeImages(v1.37.2) = %q, want %q, oldest first", got, want)
	}
	if InitialNodeImage("v1.37.2") != want[0] {
		t.Errorf("new nodes start on %s, want the older %s", InitialNodeImage("v1.37.2"), want[0])
	}
}
