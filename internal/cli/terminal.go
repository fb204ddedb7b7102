package cli

import (
	"io"
	"os"
)

// isTerminal reports whether w is a terminal, where `watch` redraws in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
