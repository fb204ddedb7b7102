// Command kubectl is the upstream kubectl, built from the Go module proxy so
// that health-check scripts (the operator's bash gate) run on a machine with
// only Go.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	// kubectl prints its own errors; only the exit code is left to set.
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		os.Exit(1)
	}
}
