// Package v1 is placement.kubernetes-fleet.io/v1: ClusterResourcePlacement,
// ClusterResourceOverride and ResourceOverride with the schema and field
// names of the public Fleet hub API, so that manifests written for Azure
// Kubernetes Fleet Manager's hub apply to a Flotilla hub unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=placement.kubernetes-fleet.io
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "placement.kubernetes-fleet.io", Version: "v1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// kinds are this package's kinds, each registered by its own file.
var kinds []runtime.Object

func register(objs ...runtime.Object) { kinds = append(kinds, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, kinds...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
