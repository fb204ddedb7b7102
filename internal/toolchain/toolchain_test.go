package toolchain

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedVersionsParse(t *testing.T) {
	tc := Default()
	if len(tc.Versions.Kubernetes) < 2 {
		t.Fatalf("want at least two Kubernetes versions, got %v", tc.Versions.Kubernetes)
	}
	if tc.OldestKubernetes() == tc.NewestKubernetes() {
		t.Fatalf("oldest and newest are both %s", tc.OldestKubernetes())
	}
}

func TestParseVersions(t *testing.T) {
	v, err := ParseVersions(`# comment
KUBE_VERSIONS="v1.37.2 v1.9.1 v1.36.3"
ETCD_VERSION=v3.6.16
KWOK_VERSION='v0.7.0'
CONTROLLER_GEN_VERSION=v0.23.0
`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v1.9.1", "v1.36.3", "v1.37.2"}; !slices.Equal(v.Kubernetes, want) {
		t.Errorf("Kubernetes = %v, want %v (oldest first)", v.Kubernetes, want)
	}
	if v.Etcd != "v3.6.16" || v.Kwok != "v0.7.0" || v.ControllerGen != "v0.23.0" {
		t.Errorf("got %+v", v)
	}

	for _, bad := range []string{
		"",
		"KUBE_VERSIONS=v1.36.3\nETCD_VERSION=v3.6.16",
		"KUBE_VERSIONS=1.36.3\nETCD_VERSION=v3.6.16\nKWOK_VERSION=v0.7.0",
		"just words",
	} {
		if _, err := ParseVersions(bad); err == nil {
			t.Errorf("ParseVersions(%q) succeeded, want an error", bad)
		}
	}
}

func testToolchain(t *testing.T) Toolchain {
	return Toolchain{
		CacheDir: t.TempDir(),
		Versions: Versions{Kubernetes: []string{"v1.36.1", "v1.36.3", "v1.37.2"}, Etcd: "v3.6.16", Kwok: "v0.7.0"},
	}
}

func TestResolveKubernetes(t *testing.T) {
	tc := testToolchain(t)
	for _, c := range [][2]string{
		{"1.36", "v1.36.3"},
		{"v1.36", "v1.36.3"},
		{"1.36.1", "v1.36.1"},
		{"v1.36.3", "v1.36.3"},
		{" 1.37 ", "v1.37.2"},
	} {
		in, want := c[0], c[1]
		got, err := tc.ResolveKubernetes(in)
		if err != nil || got != want {
			t.Errorf("ResolveKubernetes(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1", "v1", "1.3", "1.35", "1.36.2", "1.36.3.1", "latest"} {
		if got, err := tc.ResolveKubernetes(bad); err == nil {
			t.Errorf("ResolveKubernetes(%q) = %q, want an error", bad, got)
		}
	}
}

func TestMissingBinaryNamesMakeTools(t *testing.T) {
	tc := testToolchain(t)
	_, _, err := tc.KubeAPIServer("1.37")
	var missing *MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("want a *MissingError, got %v", err)
	}
	if !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "kube-apiserver-v1.37.2") {
		t.Errorf("error should name the binary and `make tools`: %v", err)
	}
	// Every kube-apiserver, kube-controller-manager, etcd and kwok.
	if got, want := len(tc.Missing()), len(tc.Versions.Kubernetes)+3; got != want {
		t.Errorf("Missing() has %d entries, want %d", got, want)
	}

	bin := filepath.Join(tc.BinDir(), "kube-apiserver-v1.37.2")
	if err := os.MkdirAll(tc.BinDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, path, err := tc.KubeAPIServer("v1.37")
	if err != nil || v != "v1.37.2" || path != bin {
		t.Errorf("KubeAPIServer = %q, %q, %v; want v1.37.2, %s", v, path, err, bin)
	}
}

func TestDefaultCacheDirHonoursEnv(t *testing.T) {
	t.Setenv(CacheEnv, "/somewhere/else")
	if got := DefaultCacheDir(); got != "/somewhere/else" {
		t.Errorf("DefaultCacheDir() = %q", got)
	}
}
