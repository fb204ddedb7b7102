// Package backup saves the fleet's state from a hub into one file and
// restores it onto another: members and their credentials, strategies, runs
// and gates with their status, placements, overrides, snapshots, bindings and
// Works, the hub objects placements select, and the hub-side identities of
// member agents. The file holds
// credentials; it can be encrypted with age, to a passphrase or to
// recipients.
package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// FormatVersion names the layout of an archive; Read refuses others.
const FormatVersion = "flotilla.dev/backup/v1"

// Archive is a hub's fleet state at one moment.
type Archive struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"createdAt"`
	// Hub is the API server the archive was taken from.
	Hub string `json:"hub,omitempty"`
	// Objects are in restore order, each with its status.
	Objects []unstructured.Unstructured `json:"objects"`
}

// Encryption says how a written archive is protected. The zero value
// writes plain JSON.
type Encryption struct {
	// Passphrase encrypts with age's scrypt recipient.
	Passphrase string
	// Recipients are age public keys (age1...).
	Recipients []string
}

func (e Encryption) recipients() ([]age.Recipient, error) {
	var out []age.Recipient
	if e.Passphrase != "" {
		r, err := age.NewScryptRecipient(e.Passphrase)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, s := range e.Recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", s, err)
		}
		out = append(out, r)
	}
	if e.Passphrase != "" && len(out) > 1 {
		// age refuses to mix a passphrase with other recipients.
		return nil, errors.New("encrypt to a passphrase or to recipients, not both")
	}
	return out, nil
}

// Decryption holds what can open an encrypted archive.
type Decryption struct {
	Passphrase string
	// Identities are age secret keys (AGE-SECRET-KEY-1...) or the text of
	// an age identity file.
	Identities string
}

func (d Decryption) identities() ([]age.Identity, error) {
	var out []age.Identity
	if d.Passphrase != "" {
		id, err := age.NewScryptIdentity(d.Passphrase)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if d.Identities != "" {
		ids, err := age.ParseIdentities(bytes.NewBufferString(d.Identities))
		if err != nil {
			return nil, fmt.Errorf("age identities: %w", err)
		}
		out = append(out, ids...)
	}
	return out, nil
}

// Write writes the archive as JSON, ASCII-armoured age when enc asks for it.
func Write(w io.Writer, a *Archive, enc Encryption) error {
	recipients, err := enc.recipients()
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(a, "", " ")
	if err != nil {
		return err
	}
	if len(recipients) == 0 {
		_, err := w.Write(append(body, '\n'))
		return err
	}
	aw := armor.NewWriter(w)
	ew, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return err
	}
	if _, err := ew.Write(body); err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	return aw.Close()
}

// ErrEncrypted says an archive is encrypted and nothing to open it was given.
var ErrEncrypted = errors.New("the backup is encrypted: give its passphrase or an age identity")

// Read reads an archive written by Write.
func Read(r io.Reader, dec Decryption) (*Archive, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(armor.Header))
	var body io.Reader = br
	if string(head) == armor.Header {
		ids, err := dec.identities()
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, ErrEncrypted
		}
		plain, err := age.Decrypt(armor.NewReader(br), ids...)
		if err != nil {
			return nil, fmt.Errorf("decrypting the backup: %w", err)
		}
		body = plain
	}
	a := &Archive{}
	if err := json.NewDecoder(body).Decode(a); err != nil {
		return nil, fmt.Errorf("reading the backup: %w", err)
	}
	if a.Format != FormatVersion {
		return nil, fmt.Errorf("the file is not a Flotilla backup of format %s (format %q)", FormatVersion, a.Format)
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("the backup is damaged: %w", err)
	}
	return a, nil
}

// check refuses objects a restore could not recreate, before the restore
// starts: otherwise it would stop at the first of them with the objects
// before it restored and those after it not.
func (a *Archive) check() error {
	var errs []error
	seen := map[string]int{}
	for i := range a.Objects {
		o := &a.Objects[i]
		at := fmt.Sprintf("objects[%d]", i)
		gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
		switch {
		case o.GetAPIVersion() == "":
			errs = append(errs, fmt.Errorf("%s.apiVersion: required", at))
		case err != nil || gv.Version == "":
			errs = append(errs, fmt.Errorf("%s.apiVersion: %q is not a group/version", at, o.GetAPIVersion()))
		}
		if o.GetKind() == "" {
			errs = append(errs, fmt.Errorf("%s.kind: required", at))
		}
		if o.GetName() == "" {
			errs = append(errs, fmt.Errorf("%s.metadata.name: required", at))
		}
		if _, ok := o.Object["metadata"].(map[string]any); !ok {
			continue // named as missing above
		}
		key := o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		if j, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: the same object as objects[%d]", at, j))
		}
		seen[key] = i
	}
	return errors.Join(errs...)
}
