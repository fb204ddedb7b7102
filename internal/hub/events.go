package hub

import (
	"fmt"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// maxEventNote is the longest note the API server accepts on an Event, in
// bytes; a longer one gets the whole Event refused, and lost.
const maxEventNote = 1024

// cappedNotes records Events with their note cut to maxEventNote: a failed
// member's message carries its upgrade's output and is often longer.
type cappedNotes struct {
	events.EventRecorder
}

func (r cappedNotes) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", capNote(fmt.Sprintf(note, args...)))
}

// capNote cuts s to maxEventNote bytes at a character boundary, marking the cut.
func capNote(s string) string {
	if len(s) <= maxEventNote {
		return s
	}
	const mark = " …"
	cut := maxEventNote - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
