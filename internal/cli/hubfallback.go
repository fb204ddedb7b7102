package cli

import (
	"os"

	"github.com/flotilla-dev/flotilla/internal/hubaccess"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
)

// Commands find the hub of the running local fleet when neither
// --hub-kubeconfig nor $FLOTILLA_HUB_KUBECONFIG names one. Set in init so
// that every command tree (the binary's, tests', the docs generator's) finds
// the same hub, and before any command runs.
func init() { hubaccess.Fallback = runningLocalFleetHub }

// runningLocalFleetHub is the hub kubeconfig of the default local fleet, if
// that fleet is up.
func runningLocalFleetHub() (string, bool) {
	path := localfleet.Layout{StateDir: localfleet.DefaultStateDir(), Name: localfleet.DefaultName}.HubKubeconfig()
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	return path, true
}
