package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := newStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{
		Work: &fleetv1.Work{
			ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "flotilla-member-m1", Generation: 3},
			Spec:       fleetv1.WorkSpec{Placement: "p", Manifests: []runtime.RawExtension{{Raw: []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}`)}}},
		},
		Applied: []placementv1.ResourceIdentifier{{Version: "v1", Kind: "Namespace", Name: "n"}},
	}
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	// A second save replaces the first; a broken file is skipped, not fatal.
	rec.Work.Generation = 4
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "works", "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, errs := s.load()
	if len(errs) != 1 || len(got) != 1 {
		t.Fatalf("load: %d records, errors %v", len(got), errs)
	}
	if w := got[0].Work; w.Name != "w" || w.Generation != 4 || !bytes.Equal(w.Spec.Manifests[0].Raw, rec.Work.Spec.Manifests[0].Raw) || len(got[0].Applied) != 1 {
		t.Errorf("loaded %+v", got[0])
	}
	if err := s.remove("w"); err != nil {
		t.Fatal(err)
	}
	if err := s.remove("w"); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	if got, _ := s.load(); len(got) != 0 {
		t.Errorf("%d records after remove", len(got))
	}
}
