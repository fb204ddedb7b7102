package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
)

// record is what the agent keeps of one Work: the Work as last seen on the
// hub and what it has placed for it. Persisted, it lets the agent keep
// enforcing the Work while the hub is unreachable, also across restarts.
type record struct {
	Work *fleetv1.Work `json:"work"`
	// Applied lists the objects placed for the Work and not removed since,
	// so that a manifest dropped from the Work can be deleted even after a
	// restart.
	Applied []placementv1.ResourceIdentifier `json:"applied,omitempty"`
	// SecretData is the data of the Work's Secret manifests, read from the
	// hub, and SecretDigest the digest it was read for: the agent applies
	// Secrets while the hub is down too. The state directory is the
	// agent's alone (0700, files 0600).
	SecretData   secretdata.Payload `json:"secretData,omitempty"`
	SecretDigest string             `json:"secretDigest,omitempty"`
}

// store keeps one file per Work under dir.
type store struct {
	dir string
}

func newStore(stateDir string) (*store, error) {
	dir := filepath.Join(stateDir, "works")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	return &store{dir: dir}, nil
}

func (s *store) path(name string) string { return filepath.Join(s.dir, name+".json") }

// save writes the record atomically: a crash leaves the old file or the new
// one, never half of one.
func (s *store) save(rec *record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-"+rec.Work.Name+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Sync(); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(rec.Work.Name))
}

func (s *store) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// load reads every record. A file that cannot be read is reported and
// skipped rather than stopping the agent.
func (s *store) load() ([]*record, []error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{err}
	}
	var (
		out  []*record
		errs []error
	)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec := &record{}
		if err := json.Unmarshal(data, rec); err != nil {
			errs = append(errs, fmt.Errorf("state file %s is not a Work record: %w", e.Name(), err))
			continue
		}
		if rec.Work == nil || rec.Work.Name == "" {
			errs = append(errs, fmt.Errorf("state file %s is not a Work record: it names no Work", e.Name()))
			continue
		}
		out = append(out, rec)
	}
	return out, errs
}
