// Package clusterapi is the upgrade provider of members that are Cluster
// API Clusters with a managed topology (a ClusterClass): it upgrades a
// member by setting the Cluster's spec.topology.version (and the class
// variable that selects the machines' image) on the management cluster,
// and follows the control plane and the MachineDeployments as Cluster
// API's controllers roll them. It reads and writes the management cluster
// with the Cluster API v1beta2 types (sigs.k8s.io/cluster-api/api).
//
// See docs/clusterapi.md.
package clusterapi

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	controlplanev1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// KubeconfigSecretKey is the key of the `<cluster>-kubeconfig` Secret that
// holds the workload cluster's kubeconfig, by Cluster API's convention.
const KubeconfigSecretKey = "value"

// Scheme holds the types the provider reads on a management cluster.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, clusterv1.AddToScheme, controlplanev1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // the schemes are static: a failure is a programming error
		}
	}
	return s
}

// Provider upgrades Cluster API Clusters through their management cluster.
type Provider struct {
	secrets upgrade.SecretReader
	// config adjusts the management cluster's client configuration (tests
	// count the requests); nil leaves it.
	config func(*rest.Config)
}

var (
	_ upgrade.Provider          = (*Provider)(nil)
	_ upgrade.Describer         = (*Provider)(nil)
	_ upgrade.KubeconfigFetcher = (*Provider)(nil)
)

// Factory builds the provider of a member whose spec.provider is ClusterAPI;
// it reads the management cluster's kubeconfig from the hub Secret the
// member's settings name.
func Factory(spec *fleetv1.ProviderSpec, env upgrade.FactoryEnv) (upgrade.Provider, error) {
	if spec.ClusterAPI == nil {
		return nil, errors.New("provider ClusterAPI needs spec.provider.clusterAPI")
	}
	return &Provider{secrets: env.Secrets}, nil
}

// settings are a member's Cluster API settings.
func settings(m upgrade.Member) (*fleetv1.ClusterAPIProvider, error) {
	if m.Provider.ClusterAPI == nil {
		return nil, fmt.Errorf("member %s has no spec.provider.clusterAPI", m.Name)
	}
	return m.Provider.ClusterAPI, nil
}

// management is a client of the member's management cluster.
func (p *Provider) management(ctx context.Context, s *fleetv1.ClusterAPIProvider) (client.Client, error) {
	if p.secrets == nil {
		return nil, errors.New("no hub to read the management cluster's kubeconfig Secret from")
	}
	// The ref may be empty: `member create` reads the kubeconfig from its
	// --management-kubeconfig file before it stores the Secret.
	ref := s.ManagementKubeconfigSecretRef
	data, err := p.secrets(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("the management cluster's kubeconfig: %w", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("the management cluster's kubeconfig (Secret %s/%s): %w", ref.Namespace, ref.Name, err)
	}
	if p.config != nil {
		p.config(cfg)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("a client of the management cluster: %w", err)
	}
	return c, nil
}

// cluster reads the member's Cluster and its ClusterClass (nil when the
// class is not found).
func cluster(ctx context.Context, c client.Client, s *fleetv1.ClusterAPIProvider) (*clusterv1.Cluster, *clusterv1.ClusterClass, error) {
	cl := &clusterv1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, cl); err != nil {
		return nil, nil, fmt.Errorf("reading Cluster %s/%s on the management cluster: %w", s.Namespace, s.Name, err)
	}
	ref := cl.Spec.Topology.ClassRef
	if ref.Name == "" {
		return cl, nil, nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = cl.Namespace
	}
	class := &clusterv1.ClusterClass{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, class); err != nil {
		if apierrors.IsNotFound(err) {
			return cl, nil, nil
		}
		return nil, nil, fmt.Errorf("reading ClusterClass %s/%s: %w", ns, ref.Name, err)
	}
	return cl, class, nil
}

// observe reads the member's Cluster and everything the upgrade rolls.
func observe(ctx context.Context, c client.Client, s *fleetv1.ClusterAPIProvider) (Observed, error) {
	cl, class, err := cluster(ctx, c, s)
	if err != nil {
		return Observed{}, err
	}
	o := Observed{Cluster: cl, Class: class}
	if o.ControlPlane, err = controlPlane(ctx, c, cl); err != nil {
		return o, err
	}
	owned := []client.ListOption{client.InNamespace(cl.Namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: cl.Name}}
	mds := &clusterv1.MachineDeploymentList{}
	if err := c.List(ctx, mds, owned...); err != nil {
		return o, fmt.Errorf("listing the Cluster's MachineDeployments: %w", err)
	}
	o.MachineDeployments = mds.Items
	mps := &clusterv1.MachinePoolList{}
	if err := c.List(ctx, mps, owned...); err != nil && !isNoKind(err) {
		return o, fmt.Errorf("listing the Cluster's MachinePools: %w", err)
	}
	o.MachinePools = mps.Items
	return o, nil
}

// isNoKind reports an API the management cluster does not serve (MachinePools
// are optional in Cluster API).
func isNoKind(err error) bool {
	return apierrors.IsNotFound(err) || runtime.IsNotRegisteredError(err) || apimeta.IsNoMatchError(err)
}

// controlPlane reads the Cluster's control plane by spec.controlPlaneRef:
// a KubeadmControlPlane with its type, any other provider's object by the
// control plane contract's field paths; nil when the Cluster names none
// or it does not exist yet.
func controlPlane(ctx context.Context, c client.Client, cl *clusterv1.Cluster) (*ControlPlane, error) {
	ref := cl.Spec.ControlPlaneRef
	if ref.Name == "" {
		return nil, nil
	}
	key := client.ObjectKey{Namespace: cl.Namespace, Name: ref.Name}
	if ref.APIGroup == controlplanev1.GroupVersion.Group && ref.Kind == "KubeadmControlPlane" {
		kcp := &controlplanev1.KubeadmControlPlane{}
		if err := c.Get(ctx, key, kcp); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading KubeadmControlPlane %s: %w", key, err)
		}
		return fromKCP(kcp), nil
	}
	// The contract names the group and kind; the version is the one the
	// management cluster prefers.
	mapping, err := c.RESTMapper().RESTMapping(schema.GroupKind{Group: ref.APIGroup, Kind: ref.Kind})
	if err != nil {
		return nil, fmt.Errorf("the control plane %s %s: %w", ref.Kind, ref.Name, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(mapping.GroupVersionKind)
	if err := c.Get(ctx, key, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", ref.Kind, key, err)
	}
	return fromContract(u), nil
}

// fromKCP is a KubeadmControlPlane as the contract's fields.
func fromKCP(kcp *controlplanev1.KubeadmControlPlane) *ControlPlane {
	return &ControlPlane{
		Kind: "KubeadmControlPlane", Name: kcp.Name,
		SpecVersion: kcp.Spec.Version, Versions: kcp.Status.Versions,
		Desired: kcp.Spec.Replicas, Replicas: kcp.Status.Replicas,
		ReadyReplicas: kcp.Status.ReadyReplicas, UpToDateReplicas: kcp.Status.UpToDateReplicas,
		Generation: kcp.Generation, ObservedGeneration: kcp.Status.ObservedGeneration,
		Conditions: kcp.Status.Conditions,
	}
}

// fromContract reads another provider's control plane by the v1beta2
// control plane contract's field paths.
func fromContract(u *unstructured.Unstructured) *ControlPlane {
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, path...)
		return s
	}
	num := func(path ...string) *int32 {
		n, ok, err := unstructured.NestedInt64(u.Object, path...)
		if !ok || err != nil {
			return nil
		}
		v := int32(n) // replica counts are int32 in every Cluster API contract
		return &v
	}
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	var versions []clusterv1.StatusVersion
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "versions")
	for _, item := range list {
		entry, ok := item.(map[string]any)
		if !ok {
			continue
		}
		v, _, _ := unstructured.NestedString(entry, "version")
		n, _, _ := unstructured.NestedInt64(entry, "replicas")
		versions = append(versions, clusterv1.StatusVersion{Version: v, Replicas: int32(n)}) // replica counts are int32 in the contract
	}
	return &ControlPlane{
		Versions: versions,
		Kind:     u.GetKind(), Name: u.GetName(),
		SpecVersion: str("spec", "version"), Version: str("status", "version"),
		Desired: num("spec", "replicas"), Replicas: num("status", "replicas"),
		ReadyReplicas: num("status", "readyReplicas"), UpToDateReplicas: num("status", "upToDateReplicas"),
		Generation: u.GetGeneration(), ObservedGeneration: observed,
	}
}

func (p *Provider) AvailableVersions(ctx context.Context, m upgrade.Member) ([]string, error) {
	s, err := settings(m)
	if err != nil {
		return nil, err
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return nil, err
	}
	cl, class, err := cluster(ctx, c, s)
	if err != nil {
		return nil, err
	}
	return availableVersions(class, cl.Spec.Topology.Version), nil
}

func (p *Provider) NodeImages(ctx context.Context, m upgrade.Member, _ string) ([]upgrade.NodeImage, error) {
	s, err := settings(m)
	if err != nil {
		return nil, err
	}
	if s.NodeImageVariable == "" {
		return nil, nil
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return nil, err
	}
	_, class, err := cluster(ctx, c, s)
	if err != nil {
		return nil, err
	}
	return offeredImages(class, s.NodeImageVariable)
}

// Start asks Cluster API for the target: it patches the Cluster when, and
// only when, the Cluster does not already ask for it (the patch is the
// upgrade request). The patch carries the resourceVersion it was computed
// from, so a concurrent change makes it conflict, and Start decides again
// on the Cluster as it is then.
func (p *Provider) Start(ctx context.Context, _ string, m upgrade.Member, t upgrade.Target) error {
	s, err := settings(m)
	if err != nil {
		return err
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return err
	}
	// The controllers write the Cluster's status all along: a conflict
	// means reading it again and deciding again.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cl, class, err := cluster(ctx, c, s)
		if err != nil {
			return err
		}
		want, err := desiredCluster(cl, class, s.NodeImageVariable, t)
		if err != nil || want == nil {
			return err
		}
		if err := c.Patch(ctx, want, client.MergeFromWithOptions(cl, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("setting the topology of Cluster %s/%s: %w", s.Namespace, s.Name, err)
		}
		return nil
	})
}

func (p *Provider) Progress(ctx context.Context, _ string, m upgrade.Member, t upgrade.Target) (upgrade.Progress, error) {
	s, err := settings(m)
	if err != nil {
		return upgrade.Progress{}, err
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return upgrade.Progress{}, err
	}
	o, err := observe(ctx, c, s)
	if err != nil {
		return upgrade.Progress{}, err
	}
	return progressOf(o, s.NodeImageVariable, t), nil
}

// Cancel does nothing: Cluster API has no way to stop a rollout it
// started but setting the old version back, which is a downgrade it
// refuses. The run stops asking for more.
func (p *Provider) Cancel(context.Context, string, upgrade.Member) error { return nil }

func (p *Provider) Describe(ctx context.Context, m upgrade.Member) (upgrade.MemberView, error) {
	s, err := settings(m)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	o, err := observe(ctx, c, s)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	return viewOf(o, s.NodeImageVariable), nil
}

// FetchKubeconfig reads the workload cluster's kubeconfig from the
// `<cluster>-kubeconfig` Secret (key "value") that Cluster API writes
// beside the Cluster. Cluster API has one credential, so admin changes
// nothing.
func (p *Provider) FetchKubeconfig(ctx context.Context, m upgrade.Member, _ bool) ([]byte, error) {
	s, err := settings(m)
	if err != nil {
		return nil, err
	}
	c, err := p.management(ctx, s)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: s.Namespace, Name: s.Name + "-kubeconfig"}
	if err := c.Get(ctx, key, secret); err != nil {
		return nil, fmt.Errorf("reading Secret %s on the management cluster: %w", key, err)
	}
	data := secret.Data[KubeconfigSecretKey]
	if len(data) == 0 {
		return nil, fmt.Errorf("secret %s on the management cluster has no key %q", key, KubeconfigSecretKey)
	}
	return data, nil
}
