package hub

import (
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
)

func TestEventNotesAreCappedToWhatTheAPIServerAccepts(t *testing.T) {
	for _, note := range []string{"", "short", strings.Repeat("x", maxEventNote), strings.Repeat("→", 600), strings.Repeat("a", 5000)} {
		got := capNote(note)
		if len(got) > maxEventNote || !utf8.ValidString(got) {
			t.Errorf("capNote(%d bytes) = %d bytes, valid UTF-8 %v", len(note), len(got), utf8.ValidString(got))
		}
		if len(note) <= maxEventNote && got != note {
			t.Errorf("a note of %d bytes was changed", len(note))
		}
	}
	fake := events.NewFakeRecorder(1)
	cappedNotes{fake}.Eventf(&corev1.Pod{}, nil, corev1.EventTypeWarning, "Failed", "Upgrade", "member %s: %s", "m-1", strings.Repeat("output ", 500))
	if got := <-fake.Events; len(got) > maxEventNote+len("Warning Failed ") || !strings.Contains(got, "member m-1: output") {
		t.Errorf("recorded %d bytes: %.80q", len(got), got)
	}
}
