package v1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlacementRef names the placement an override applies to; empty means
// every placement that selects the overridden resources.
type PlacementRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// OverrideType is what an override rule does.
// +kubebuilder:validation:Enum=JSONPatch;Delete
type OverrideType string

const (
	// JSONPatchOverrideType patches the resource for the matching members.
	JSONPatchOverrideType OverrideType = "JSONPatch"
	// DeleteOverrideType keeps the resource off the matching members.
	DeleteOverrideType OverrideType = "Delete"
)

// JSONPatchOverrideOperator is a JSON patch (RFC 6902) operation.
// +kubebuilder:validation:Enum=add;remove;replace
type JSONPatchOverrideOperator string

const (
	JSONPatchOverrideOpAdd     JSONPatchOverrideOperator = "add"
	JSONPatchOverrideOpRemove  JSONPatchOverrideOperator = "remove"
	JSONPatchOverrideOpReplace JSONPatchOverrideOperator = "replace"
)

// OverrideClusterNameVariable in a patch value is replaced by the name of
// the member the resource goes to.
const OverrideClusterNameVariable = "${MEMBER-CLUSTER-NAME}"

// OverrideClusterLabelKeyVariablePrefix, followed by a label key and "}",
// in a patch value is replaced by the value of that label of the member
// the resource goes to (${MEMBER-CLUSTER-LABEL-KEY-region}). A member
// without the label fails the override, naming it.
const OverrideClusterLabelKeyVariablePrefix = "${MEMBER-CLUSTER-LABEL-KEY-"

// JSONPatchOverride is one JSON patch operation. Whether add and replace
// carry a value is checked by the placement controller, not by CEL: CEL
// cannot see into a schemaless field, and the API server refuses a CRD
// whose rules try.
type JSONPatchOverride struct {
	Op JSONPatchOverrideOperator `json:"op"`
	// Path is a JSON pointer; apiVersion, kind, status and the fields under
	// metadata other than labels and annotations cannot be patched.
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!(self == '/status' || self.startsWith('/status/') || self == '/kind' || self.startsWith('/kind/') || self == '/apiVersion' || self.startsWith('/apiVersion/'))",message="apiVersion, kind and status cannot be overridden"
	// +kubebuilder:validation:XValidation:rule="!(self == '/metadata' || self.startsWith('/metadata/')) || self == '/metadata/labels' || self == '/metadata/annotations' || self.startsWith('/metadata/labels/') || self.startsWith('/metadata/annotations/')",message="only metadata.labels and metadata.annotations can be overridden"
	Path string `json:"path"`
	// +optional
	Value apiextensionsv1.JSON `json:"value,omitempty"`
}

// OverrideRule patches (or deletes) resources for the members its
// clusterSelector matches; no selector means every member.
// +kubebuilder:validation:XValidation:rule="!has(self.overrideType) || self.overrideType != 'JSONPatch' || (has(self.jsonPatchOverrides) && size(self.jsonPatchOverrides) > 0)",message="a JSONPatch rule needs jsonPatchOverrides"
// +kubebuilder:validation:XValidation:rule="!has(self.overrideType) || self.overrideType != 'Delete' || !has(self.jsonPatchOverrides) || size(self.jsonPatchOverrides) == 0",message="a Delete rule takes no jsonPatchOverrides"
type OverrideRule struct {
	// +optional
	ClusterSelector *ClusterSelector `json:"clusterSelector,omitempty"`
	// +kubebuilder:default=JSONPatch
	// +optional
	OverrideType OverrideType `json:"overrideType,omitempty"`
	// +kubebuilder:validation:MaxItems=20
	// +optional
	JSONPatchOverrides []JSONPatchOverride `json:"jsonPatchOverrides,omitempty"`
}

// OverridePolicy is the ordered list of rules; later rules apply on top.
type OverridePolicy struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	OverrideRules []OverrideRule `json:"overrideRules"`
}

// ClusterResourceOverrideSpec patches cluster-scoped resources per member.
type ClusterResourceOverrideSpec struct {
	// +optional
	Placement *PlacementRef `json:"placement,omitempty"`
	// ClusterResourceSelectors pick the resources by name; a selected
	// Namespace is overridden itself, not the resources in it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	ClusterResourceSelectors []ClusterResourceSelector `json:"clusterResourceSelectors"`
	Policy                   *OverridePolicy           `json:"policy"`
}

// ClusterResourceOverride changes cluster-scoped resources for some members
// as they are placed.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cro,categories=fleet
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterResourceOverride struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterResourceOverrideSpec `json:"spec"`
}

// ClusterResourceOverrideList is a list of ClusterResourceOverrides.
//
// +kubebuilder:object:root=true
type ClusterResourceOverrideList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterResourceOverride `json:"items"`
}

// ResourceSelector names a namespaced resource in the override's namespace.
type ResourceSelector struct {
	Group string `json:"group"`
	// +kubebuilder:validation:MinLength=1
	Version string `json:"version"`
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// ResourceOverrideSpec patches namespaced resources per member.
type ResourceOverrideSpec struct {
	// +optional
	Placement *PlacementRef `json:"placement,omitempty"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	ResourceSelectors []ResourceSelector `json:"resourceSelectors"`
	Policy            *OverridePolicy    `json:"policy"`
}

// ResourceOverride changes namespaced resources, in its own namespace, for
// some members as they are placed.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=ro,categories=fleet
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceOverride struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ResourceOverrideSpec `json:"spec"`
}

// ResourceOverrideList is a list of ResourceOverrides.
//
// +kubebuilder:object:root=true
type ResourceOverrideList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceOverride `json:"items"`
}

func init() {
	register(&ClusterResourceOverride{}, &ClusterResourceOverrideList{},
		&ResourceOverride{}, &ResourceOverrideList{})
}
