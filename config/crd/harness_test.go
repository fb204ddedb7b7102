package crd_test

import (
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hub is the API server the tests of this package share: they only create
// objects, each with a name of its own.
var hub = testenv.NewShared(testenv.Options{CRDs: testenv.AllCRDs})

func TestMain(m *testing.M) { os.Exit(hub.Run(m)) }

// hubClient returns a client for a real kube-apiserver with the fleet CRDs
// installed.
func hubClient(t *testing.T) client.Client {
	t.Helper()
	return hub.Env(t).Hub.Client
}
