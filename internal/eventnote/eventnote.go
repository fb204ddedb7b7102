// Package eventnote keeps Event notes within what the API server accepts.
//
// events.k8s.io/v1 refuses an Event whose note is longer than 1 kB, and the
// recorder drops a refused Event silently, so a long error (a probe's or a
// command's output) would leave no Event at all. Truncated, it still says
// what happened.
package eventnote

import (
	"fmt"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// MaxLength is the API server's limit on an Event's note, in bytes.
const MaxLength = 1024

const ellipsis = "…"

// Truncate shortens note to at most MaxLength bytes, ending it with an
// ellipsis when something was cut, without splitting a UTF-8 character.
func Truncate(note string) string {
	if len(note) <= MaxLength {
		return note
	}
	cut := MaxLength - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + ellipsis
}

// Bounded wraps a recorder so that every note it records fits.
func Bounded(r events.EventRecorder) events.EventRecorder { return bounded{r} }

type bounded struct{ next events.EventRecorder }

func (b bounded) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	b.next.Eventf(regarding, related, eventtype, reason, action, "%s", Truncate(fmt.Sprintf(note, args...)))
}
