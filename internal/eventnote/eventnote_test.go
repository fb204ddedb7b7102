package eventnote

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		name      string
		note      string
		wantLen   int
		wantShort bool
	}{
		{name: "empty", note: "", wantLen: 0},
		{name: "short", note: "probe failed", wantLen: len("probe failed")},
		{name: "exactly the limit", note: strings.Repeat("a", MaxLength), wantLen: MaxLength},
		{name: "one over", note: strings.Repeat("a", MaxLength+1), wantLen: MaxLength, wantShort: true},
		{name: "multi-byte at the cut", note: strings.Repeat("a", MaxLength-4) + strings.Repeat("é", 10), wantShort: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.note)
			if len(got) > MaxLength {
				t.Fatalf("len = %d, over %d", len(got), MaxLength)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("not valid UTF-8: %q", got[len(got)-8:])
			}
			if tc.wantLen != 0 && len(got) != tc.wantLen {
				t.Errorf("len = %d, want %d", len(got), tc.wantLen)
			}
			if strings.HasSuffix(got, ellipsis) != tc.wantShort {
				t.Errorf("ellipsis = %v, want %v", !tc.wantShort, tc.wantShort)
			}
		})
	}
}

// recorderFunc receives each formatted note.
type recorderFunc func(note string)

func (f recorderFunc) Eventf(_, _ runtime.Object, _, _, _, note string, args ...any) {
	f(fmt.Sprintf(note, args...))
}

func TestBoundedFormatsThenTruncates(t *testing.T) {
	var got string
	r := Bounded(recorderFunc(func(note string) { got = note }))
	r.Eventf(nil, nil, "Warning", "ProbeFailed", "Probe", "probe: %s", strings.Repeat("x", 3000))
	if len(got) > MaxLength || !strings.HasPrefix(got, "probe: x") {
		t.Fatalf("note = %d bytes, starts %q", len(got), got[:10])
	}
	r.Eventf(nil, nil, "Normal", "Ok", "Probe", "100%% ready")
	if got != "100% ready" {
		t.Fatalf("note = %q", got)
	}
}
