// Package enrollment adds clusters to a fleet and removes them: it stores a
// member's credentials on the hub and creates its MemberCluster, checking
// first that the credentials reach the member, so that nothing is half-created.
package enrollment

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Namespace is the hub namespace that holds member credentials.
const Namespace = "flotilla-system"

// MemberLabel marks a Secret as the credentials of the member it names.
const MemberLabel = "fleet.flotilla.dev/member"

// KubeconfigKey is the Secret key that holds a member's kubeconfig.
const KubeconfigKey = "kubeconfig"

// SecretName is the name of the Secret that holds member's kubeconfig.
func SecretName(member string) string { return "member-" + member + "-kubeconfig" }

// Request describes a cluster to enroll.
type Request struct {
	Name string
	// Kubeconfig is the content of a kubeconfig file that reaches the member.
	Kubeconfig []byte
	// Context of Kubeconfig to use; empty means its current context.
	Context     string
	UpdateGroup string
	Labels      map[string]string
	Provider    *fleetv1.ProviderSpec
	// HeartbeatPeriodSeconds, when not zero, overrides the default.
	HeartbeatPeriodSeconds int32
	// ProbeTimeout bounds the reachability check; zero means 10s.
	ProbeTimeout time.Duration
	// AllowExecCredential stores a kubeconfig whose user gets its
	// credentials from an exec plugin. The hub would run that program
	// (docs/upgrades.md, "Who may make the hub run a program"), so it is
	// refused unless asked for.
	AllowExecCredential bool
	// ManagementKubeconfig, for a Cluster API member, is the management
	// cluster's kubeconfig: stored in its own Secret beside the member's,
	// which Provider.ClusterAPI then names.
	ManagementKubeconfig []byte
}

// ManagementSecretName names the Secret with a Cluster API member's
// management-cluster kubeconfig.
func ManagementSecretName(member string) string { return "member-" + member + "-management-kubeconfig" }

// RESTConfig builds a client config from kubeconfig bytes and an optional context.
func RESTConfig(kubeconfig []byte, kubeContext string) (*rest.Config, error) {
	raw, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("invalid kubeconfig: %w", err)
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, kubeContext, overrides, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("invalid kubeconfig: %w", err)
	}
	return cfg, nil
}

// CheckReachable confirms the kubeconfig reaches a Kubernetes API server and
// returns the server's version.
func CheckReachable(ctx context.Context, cfg *rest.Config, timeout time.Duration) (string, error) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("cannot reach the member's API server at %s: %w", cfg.Host, err)
	}
	return v.GitVersion, nil
}

// Enroll checks that req's kubeconfig reaches the member, then creates the
// credentials Secret and the MemberCluster. If the MemberCluster cannot be
// created, the Secret is removed again.
func Enroll(ctx context.Context, hub client.Client, req Request) (*fleetv1.MemberCluster, error) {
	if req.Name == "" {
		return nil, fmt.Errorf("a member needs a name")
	}
	existing := &fleetv1.MemberCluster{}
	switch err := hub.Get(ctx, client.ObjectKey{Name: req.Name}, existing); {
	case err == nil:
		return nil, fmt.Errorf("member %q already exists", req.Name)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("looking up member %q: %w", req.Name, err)
	}
	cfg, err := RESTConfig(req.Kubeconfig, req.Context)
	if err != nil {
		return nil, err
	}
	if cfg.ExecProvider != nil && !req.AllowExecCredential {
		return nil, fmt.Errorf("the kubeconfig's user gets its credentials from the exec plugin %q: stored on the hub, the hub would run that program beside every member's credentials (only with flotilla hub --allow-exec, and only an admin may store it). "+
			"Use a kubeconfig with a token or client certificate (flotilla member join gives an agent its own), or pass --allow-exec-credential to store it anyway", cfg.ExecProvider.Command)
	}
	if _, err := CheckReachable(ctx, cfg, req.ProbeTimeout); err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, hub); err != nil {
		return nil, err
	}

	secrets := []*corev1.Secret{memberSecret(SecretName(req.Name), req.Name, req.Kubeconfig)}
	provider := req.Provider.DeepCopy()
	if provider != nil && provider.ClusterAPI != nil && req.ManagementKubeconfig != nil {
		mgmt := memberSecret(ManagementSecretName(req.Name), req.Name, req.ManagementKubeconfig)
		secrets = append(secrets, mgmt)
		provider.ClusterAPI.ManagementKubeconfigSecretRef = fleetv1.SecretKeyReference{Namespace: Namespace, Name: mgmt.Name, Key: KubeconfigKey}
	}
	// Leave nothing half-created.
	removeSecrets := func(err error) error {
		for _, secret := range secrets {
			if secret.UID == "" {
				continue
			}
			if cleanupErr := hub.Delete(context.WithoutCancel(ctx), secret); cleanupErr != nil && !apierrors.IsNotFound(cleanupErr) {
				err = errors.Join(err, fmt.Errorf("removing secret %s/%s again: %w", Namespace, secret.Name, cleanupErr))
			}
		}
		return err
	}
	for _, secret := range secrets {
		if err := hub.Create(ctx, secret); err != nil {
			if apierrors.IsAlreadyExists(err) {
				err = fmt.Errorf("secret %s/%s already exists: remove it or choose another member name", Namespace, secret.Name)
			} else {
				err = fmt.Errorf("storing the member's kubeconfig: %w", err)
			}
			return nil, removeSecrets(err)
		}
	}
	secret := secrets[0]

	member := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: req.Labels},
		Spec: fleetv1.MemberClusterSpec{
			UpdateGroup: req.UpdateGroup,
			Access: fleetv1.MemberAccess{
				Mode: fleetv1.AccessKubeconfig,
				KubeconfigSecretRef: &fleetv1.SecretKeyReference{
					Namespace: Namespace, Name: secret.Name, Key: KubeconfigKey,
				},
				Context: req.Context,
			},
			Provider:               provider,
			HeartbeatPeriodSeconds: req.HeartbeatPeriodSeconds,
		},
	}
	if err := hub.Create(ctx, member); err != nil {
		return nil, removeSecrets(fmt.Errorf("creating member %q: %w", req.Name, err))
	}
	// The Secrets go away with their member.
	for _, secret := range secrets {
		secret.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: fleetv1.GroupVersion.String(), Kind: "MemberCluster",
			Name: member.Name, UID: member.UID,
		}}
		if err := hub.Update(ctx, secret); err != nil {
			return member, fmt.Errorf("member %q created, but linking its Secret %s to it failed: %w", req.Name, secret.Name, err)
		}
	}
	return member, nil
}

// memberSecret is a Secret of member's credentials in the hub's namespace.
func memberSecret(name, member string, kubeconfig []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: Namespace,
			Labels:    map[string]string{MemberLabel: member},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KubeconfigKey: kubeconfig},
	}
}

// Remove deletes a member, its credentials and its agent's hub identity, so
// a token the agent still holds is refused from then on.
func Remove(ctx context.Context, hub client.Client, name string) error {
	member := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := hub.Delete(ctx, member); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("member %q not found", name)
		}
		return err
	}
	for _, secretName := range []string{SecretName(name), ManagementSecretName(name)} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: Namespace}}
		if err := hub.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("member %q deleted, but its Secret %s was not: %w", name, secretName, err)
		}
	}
	if err := deleteAgentIdentity(ctx, hub, name); err != nil {
		return fmt.Errorf("member %q deleted, but its agent's identity was not: %w", name, err)
	}
	return nil
}

// ensureNamespace makes the credentials namespace if it is missing. It
// looks first: an operator who may manage members but not create namespaces
// (flotilla-admin) is refused a create even of a namespace that exists.
func ensureNamespace(ctx context.Context, hub client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if err := hub.Get(ctx, client.ObjectKeyFromObject(ns), ns); err == nil {
		return nil
	}
	if err := hub.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s on the hub: %w", Namespace, err)
	}
	return nil
}

// StoreManagementKubeconfig creates or replaces the Secret with a Cluster
// API member's management-cluster kubeconfig, owned by the member, and
// returns the reference its provider settings use.
func StoreManagementKubeconfig(ctx context.Context, hub client.Client, member *fleetv1.MemberCluster, kubeconfig []byte) (fleetv1.SecretKeyReference, error) {
	ref := fleetv1.SecretKeyReference{Namespace: Namespace, Name: ManagementSecretName(member.Name), Key: KubeconfigKey}
	if _, err := RESTConfig(kubeconfig, ""); err != nil {
		return ref, fmt.Errorf("the management cluster's kubeconfig: %w", err)
	}
	secret := memberSecret(ref.Name, member.Name, kubeconfig)
	secret.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: fleetv1.GroupVersion.String(), Kind: "MemberCluster",
		Name: member.Name, UID: member.UID,
	}}
	err := hub.Create(ctx, secret)
	if apierrors.IsAlreadyExists(err) {
		existing := &corev1.Secret{}
		if err = hub.Get(ctx, client.ObjectKeyFromObject(secret), existing); err == nil {
			existing.Data = secret.Data
			err = hub.Update(ctx, existing)
		}
	}
	if err != nil {
		return ref, fmt.Errorf("storing the management cluster's kubeconfig in Secret %s/%s: %w", Namespace, ref.Name, err)
	}
	return ref, nil
}
