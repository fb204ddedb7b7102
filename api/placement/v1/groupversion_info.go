// Package v1 is placement.kubernetes-fleet.io/v1: ClusterResourcePlacement,
// ClusterResourceOverride and ResourceOverride with the schema and field
// names of the public Fleet hub API, so that manifests written for Azure
// Kubernetes Fleet Manager's hub apply to a Flotilla hub unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=placement.kubernetes-fleet.io
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "placement.kubernetes-fleet.io", Version: "v1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
