package backup

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// damage is how a refused archive's objects are named.
var damage = regexp.MustCompile(`^objects\[\d+\](\.apiVersion|\.kind|\.metadata\.name)?: `)

// FuzzRead feeds files to the reader of `flotilla hub restore`: no panic;
// a file is refused as unreadable JSON, as another format (naming its
// format field), as encrypted with nothing to open it, or as damaged with
// every problem naming the object and field; whatever it accepts, a
// restore can recreate (every object has an apiVersion, kind and name, and
// no object is there twice), and it reads back the same after Write.
func FuzzRead(f *testing.F) {
	f.Add(`{"format": "flotilla.dev/backup/v1", "createdAt": "2026-12-01T00:00:00Z", "objects": [{"apiVersion": "fleet.flotilla.dev/v1alpha1", "kind": "MemberCluster", "metadata": {"name": "dev-1"}, "spec": {"access": {"mode": "Agent"}}, "status": {"kubernetesVersion": "v1.36.3"}}]}`)
	f.Add(`{"format": "flotilla.dev/backup/v1", "objects": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "flotilla-system"}}]}`)
	f.Add(`{"format": "flotilla.dev/backup/v1", "objects": [{"apiVersion": "a/b/c", "kind": "X", "metadata": {"name": "x"}}, {"apiVersion": "v1", "kind": "X", "metadata": {"name": "y"}}, {"apiVersion": "v1", "kind": "X", "metadata": {"name": "y"}}]}`)
	f.Add(`{"format": "flotilla.dev/backup/v1", "objects": [{"kind": "X", "metadata": "not a map"}]}`)
	f.Add(`{"format": "velero/v1"}`)
	f.Add("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n")
	f.Add(`{"format": "flotilla.dev/backup/v1", "objects": [`)
	f.Fuzz(func(t *testing.T, file string) {
		a, err := Read(strings.NewReader(file), Decryption{})
		if err != nil {
			msg := err.Error()
			switch {
			case errors.Is(err, ErrEncrypted), strings.HasPrefix(msg, "reading the backup: "), strings.HasPrefix(msg, "decrypting the backup: "):
			case strings.HasPrefix(msg, "the file is not a Flotilla backup of format"):
				if !strings.Contains(msg, "(format ") {
					t.Fatalf("refused with %q, which does not name the format field", msg)
				}
			case strings.HasPrefix(msg, "the backup is damaged: "):
				for _, line := range strings.Split(strings.TrimPrefix(msg, "the backup is damaged: "), "\n") {
					if !damage.MatchString(line) {
						t.Fatalf("the problem %q names no object and field", line)
					}
				}
			default:
				t.Fatalf("refused with %q, which says neither what nor where", msg)
			}
			return
		}
		for i := range a.Objects {
			o := &a.Objects[i]
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("accepted objects[%d] without an apiVersion, kind or name: %v", i, o.Object)
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, a, Encryption{}); err != nil {
			t.Fatalf("an archive Read accepts cannot be written: %v", err)
		}
		again, err := Read(&buf, Decryption{})
		if err != nil {
			t.Fatalf("an archive Read accepted does not read back after Write: %v", err)
		}
		if len(again.Objects) != len(a.Objects) {
			t.Fatalf("read back %d objects of %d", len(again.Objects), len(a.Objects))
		}
	})
}
