// Command flotilla is the fleet manager: the hub controllers, the member agent,
// local fleets and the operator CLI, in one binary.
package main

import (
	"os"

	"github.com/flotilla-dev/flotilla/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
