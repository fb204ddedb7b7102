package crd_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubClient returns a client for a real kube-apiserver with the fleet CRDs
// installed, stopped when the test ends.
func hubClient(t *testing.T) client.Client {
	t.Helper()
	return testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs}).Hub.Client
}
