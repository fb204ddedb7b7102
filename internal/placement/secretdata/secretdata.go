// Package secretdata keeps the data of placed Secrets out of the objects
// that anyone allowed to read snapshots or Works can read. A Secret's data
// and stringData are split off its manifest into a payload kept in a hub
// Secret; the manifest and a keyed digest of the payload are all that
// snapshots and Works carry. The same functions put the two together again
// on the hub (for overrides) and in the member agent (to apply).
package secretdata

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SaltKey is the key, in a payload Secret, of the random key its digests
// are made with. No manifest key can take it: those always hold a '.'
// after a non-empty namespace.
const SaltKey = ".salt"

// Payload is the data of a set of Secrets, by Key.
type Payload map[string]json.RawMessage

// fields are what is split off a Secret.
var fields = []string{"data", "stringData"}

// IsSecret reports whether obj is a core Secret.
func IsSecret(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// Key names a Secret in a payload: <namespace>.<name>. A namespace has no
// '.', so the first one splits the key one way only.
func Key(namespace, name string) string { return namespace + "." + name }

// Split removes data and stringData from a Secret and returns them as its
// payload entry; nil when obj is not a Secret or has neither. obj is
// changed in place.
func Split(obj *unstructured.Unstructured) (json.RawMessage, error) {
	if !IsSecret(obj) {
		return nil, nil
	}
	removed := map[string]any{}
	for _, f := range fields {
		if v, ok := obj.Object[f]; ok {
			if v != nil {
				removed[f] = v
			}
			delete(obj.Object, f)
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(removed)
	if err != nil {
		return nil, fmt.Errorf("the data of Secret %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return raw, nil
}

// Join puts a payload entry back into its Secret manifest.
func Join(obj *unstructured.Unstructured, entry json.RawMessage) error {
	removed := map[string]any{}
	if err := json.Unmarshal(entry, &removed); err != nil {
		return fmt.Errorf("the data of Secret %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	for _, f := range fields {
		if v, ok := removed[f]; ok {
			obj.Object[f] = v
		}
	}
	return nil
}

// NewSalt is a fresh random digest key.
func NewSalt() ([]byte, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("making a digest key: %w", err)
	}
	return salt, nil
}

// Keyed is the HMAC-SHA256 of msg under salt, in hex. Unlike a plain hash
// it cannot be checked against guessed data by whoever reads it.
func Keyed(salt []byte, msg []byte) string {
	m := hmac.New(sha256.New, salt)
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// Digest is the keyed digest of a payload.
func Digest(salt []byte, p Payload) (string, error) {
	// Maps marshal with sorted keys: the same payload, the same digest.
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return Keyed(salt, raw), nil
}

// SecretData is a payload as the data of a Secret, with its salt.
func (p Payload) SecretData(salt []byte) map[string][]byte {
	out := make(map[string][]byte, len(p)+1)
	for k, v := range p {
		out[k] = v
	}
	out[SaltKey] = salt
	return out
}

// FromSecretData reads what SecretData wrote.
func FromSecretData(data map[string][]byte) (Payload, []byte, error) {
	salt, ok := data[SaltKey]
	if !ok {
		return nil, nil, fmt.Errorf("no %s key", SaltKey)
	}
	p := Payload{}
	for k, v := range data {
		if k == SaltKey {
			continue
		}
		if !strings.Contains(k, ".") || !json.Valid(v) {
			return nil, nil, fmt.Errorf("key %q is not the data of a Secret", k)
		}
		p[k] = v
	}
	return p, salt, nil
}

// Redacted is what stands for a Secret's value in reports.
const Redacted = "(redacted)"

// IsDataPath reports whether a JSON pointer into a Secret points at its
// data or stringData.
func IsDataPath(path string) bool {
	for _, f := range fields {
		if path == "/"+f || strings.HasPrefix(path, "/"+f+"/") {
			return true
		}
	}
	return false
}
