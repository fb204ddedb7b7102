package secretdata

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret(fields map[string]any) *unstructured.Unstructured {
	obj := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "namespace": "vault"}, "type": "Opaque"}
	for k, v := range fields {
		obj[k] = v
	}
	return &unstructured.Unstructured{Object: obj}
}

func TestSplitAndJoin(t *testing.T) {
	s := secret(map[string]any{"data": map[string]any{"password": "cHc="}, "stringData": map[string]any{"user": "admin"}})
	entry, err := Split(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Object["data"]; ok {
		t.Error("data left in the manifest")
	}
	if _, ok := s.Object["stringData"]; ok {
		t.Error("stringData left in the manifest")
	}
	if s.Object["type"] != "Opaque" {
		t.Error("the type went with the data")
	}
	if err := Join(s, entry); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(s.Object, "data", "password"); got != "cHc=" {
		t.Errorf("data.password after Join: %q", got)
	}
	if got, _, _ := unstructured.NestedString(s.Object, "stringData", "user"); got != "admin" {
		t.Errorf("stringData.user after Join: %q", got)
	}

	if entry, err := Split(secret(nil)); err != nil || entry != nil {
		t.Errorf("a Secret without data: %s, %v", entry, err)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"a": "b"}}}
	if entry, err := Split(cm); err != nil || entry != nil || cm.Object["data"] == nil {
		t.Errorf("a ConfigMap is not split: %s, %v, %v", entry, err, cm.Object)
	}
}

func TestPayloadRoundTripAndDigest(t *testing.T) {
	p := Payload{Key("vault", "db"): json.RawMessage(`{"data":{"k":"dg=="}}`)}
	salt, err := NewSalt()
	if err != nil {
		t.Fatal(err)
	}
	back, gotSalt, err := FromSecretData(p.SecretData(salt))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := Digest(salt, p)
	d2, _ := Digest(gotSalt, back)
	if d1 != d2 {
		t.Errorf("digest changed over a round trip: %s, %s", d1, d2)
	}
	other, _ := NewSalt()
	if d3, _ := Digest(other, p); d3 == d1 {
		t.Error("the digest does not depend on the key")
	}
	if _, _, err := FromSecretData(map[string][]byte{"vault.db": []byte(`{}`)}); err == nil {
		t.Error("data without a salt was accepted")
	}
	if _, _, err := FromSecretData(map[string][]byte{SaltKey: salt, "nodot": []byte(`{}`)}); err == nil {
		t.Error("a key that names no Secret was accepted")
	}
}

func TestIsDataPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/data": true, "/data/password": true, "/stringData/x": true,
		"/metadata/labels/data": false, "/dataset": false, "/type": false,
	} {
		if got := IsDataPath(path); got != want {
			t.Errorf("IsDataPath(%q) = %v, want %v", path, got, want)
		}
	}
}
