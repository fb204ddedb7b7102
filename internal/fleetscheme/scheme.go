// Package fleetscheme builds the runtime.Scheme that every hub client uses:
// the Kubernetes built-in kinds plus the fleet and placement APIs.
package fleetscheme

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// New returns a scheme with the built-in kinds, CRDs and the fleet API.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(fleetv1.AddToScheme(s))
	utilruntime.Must(placementv1.AddToScheme(s))
	return s
}
