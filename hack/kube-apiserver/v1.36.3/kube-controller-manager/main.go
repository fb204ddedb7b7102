// Command kube-controller-manager is the upstream Kubernetes controller
// manager, built from the Go module proxy beside kube-apiserver. Local
// clusters run only its namespace controller, so that a deleted namespace
// is emptied and goes away as on any conformant cluster.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
