package enrollment

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

// AgentServiceAccount is the name of the agent's identity in its member namespace.
const AgentServiceAccount = "flotilla-agent"

// agentTokenLifetime is how long an agent's hub token is valid. The agent
// renews it itself at 80% of its life (a TokenRequest for its own
// ServiceAccount); a week lets it ride out a long hub outage, after which a
// rejoin issues a new one.
const agentTokenLifetime = 7 * 24 * time.Hour

// JoinRequest describes a member that gets an agent.
type JoinRequest struct {
	Name string
	// MemberKubeconfig, for a member the hub does not know yet, is checked
	// for reachability (it stays with the agent and is not stored on the hub).
	MemberKubeconfig []byte
	MemberContext    string
	UpdateGroup      string
	Labels           map[string]string
	// HubConfig is how the operator reaches the hub; the agent's kubeconfig
	// points to the same server with the same CA.
	HubConfig *rest.Config
}

// Joined is the result of a join: the agent's kubeconfig for the hub.
type Joined struct {
	Member         *fleetv1.MemberCluster
	HubKubeconfig  []byte
	CreatedMember  bool
	AgentNamespace string
}

// Join makes a member hubful: a namespace on the hub for its Works, an agent
// identity that may read only that namespace and write only its own
// MemberCluster status, and a kubeconfig for the agent. A member the hub
// does not know is created in Agent mode; a hubless member keeps its stored
// credentials, so upgrades go on working. Joining twice issues a fresh token.
func Join(ctx context.Context, hub client.Client, req JoinRequest) (*Joined, error) {
	if req.Name == "" {
		return nil, fmt.Errorf("a member needs a name")
	}
	out := &Joined{AgentNamespace: fleetv1.MemberNamespace(req.Name)}
	member := &fleetv1.MemberCluster{}
	switch err := hub.Get(ctx, client.ObjectKey{Name: req.Name}, member); {
	case apierrors.IsNotFound(err):
		if len(req.MemberKubeconfig) == 0 {
			return nil, fmt.Errorf("member %q is not in the fleet: pass --member-kubeconfig so that it can be checked and added", req.Name)
		}
		cfg, err := RESTConfig(req.MemberKubeconfig, req.MemberContext)
		if err != nil {
			return nil, err
		}
		if _, err := CheckReachable(ctx, cfg, 0); err != nil {
			return nil, err
		}
		member = &fleetv1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: req.Labels},
			Spec: fleetv1.MemberClusterSpec{
				UpdateGroup: req.UpdateGroup,
				Access:      fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
			},
		}
		if err := hub.Create(ctx, member); err != nil {
			return nil, fmt.Errorf("creating member %q: %w", req.Name, err)
		}
		out.CreatedMember = true
	case err != nil:
		return nil, fmt.Errorf("looking up member %q: %w", req.Name, err)
	default:
		if member.DeletionTimestamp != nil {
			return nil, fmt.Errorf("member %q is being deleted", req.Name)
		}
		if req.UpdateGroup != "" || len(req.Labels) > 0 {
			return nil, fmt.Errorf("member %q is already in the fleet: change its labels and update group with 'flotilla member update', then join it without them", req.Name)
		}
		if member.Annotations[fleetv1.LeavingAnnotation] != "" {
			// A rejoin after a leave: placement may pick the member again.
			patch := client.MergeFrom(member.DeepCopy())
			delete(member.Annotations, fleetv1.LeavingAnnotation)
			if err := hub.Patch(ctx, member, patch); err != nil {
				return nil, fmt.Errorf("clearing the leaving mark of %q: %w", req.Name, err)
			}
		}
	}
	out.Member = member

	kubeconfig, err := setUpAgentIdentity(ctx, hub, member, req.HubConfig)
	if err != nil {
		if out.CreatedMember {
			// Leave nothing half-created.
			cleanupCtx := context.WithoutCancel(ctx)
			if delErr := hub.Delete(cleanupCtx, member); delErr != nil && !apierrors.IsNotFound(delErr) {
				err = errors.Join(err, fmt.Errorf("removing member %q again: %w", req.Name, delErr))
			}
			if delErr := deleteAgentIdentity(cleanupCtx, hub, req.Name); delErr != nil {
				err = errors.Join(err, delErr)
			}
		}
		return nil, err
	}
	out.HubKubeconfig = kubeconfig
	return out, nil
}

func agentClusterRoleName(member string) string { return "flotilla-agent-" + member }

// setUpAgentIdentity creates (or refreshes) the agent's namespace, service
// account and RBAC, and returns a kubeconfig with a fresh token.
func setUpAgentIdentity(ctx context.Context, hub client.Client, member *fleetv1.MemberCluster, hubConfig *rest.Config) ([]byte, error) {
	ns := fleetv1.MemberNamespace(member.Name)
	owner := metav1.OwnerReference{
		APIVersion: fleetv1.GroupVersion.String(), Kind: "MemberCluster", Name: member.Name, UID: member.UID,
	}
	labels := map[string]string{MemberLabel: member.Name}
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns, Labels: labels}},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns, Labels: labels},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"works"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
				{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"works/status"}, Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
				// The data of placed Secrets, which the hub keeps out of the
				// Works in Secrets of this namespace: read by name, never
				// listed or watched.
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
				// The agent renews its own token, and no one else's.
				{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{AgentServiceAccount}, Verbs: []string{"create"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: AgentServiceAccount},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: AgentServiceAccount, Namespace: ns}},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: agentClusterRoleName(member.Name), Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"memberclusters"}, ResourceNames: []string{member.Name}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"memberclusters/status"}, ResourceNames: []string{member.Name}, Verbs: []string{"get", "update", "patch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: agentClusterRoleName(member.Name), Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: agentClusterRoleName(member.Name)},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: AgentServiceAccount, Namespace: ns}},
		},
	}
	for _, obj := range objects {
		if err := createOrUpdateRules(ctx, hub, obj); err != nil {
			return nil, err
		}
	}
	cs, err := kubernetes.NewForConfig(hubConfig)
	if err != nil {
		return nil, err
	}
	seconds := int64(agentTokenLifetime / time.Second)
	token, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, AgentServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("issuing the agent's hub token: %w", err)
	}
	return agentKubeconfig(hubConfig, member.Name, token.Status.Token)
}

// createOrUpdateRules creates obj, or, for a Role or ClusterRole that
// exists (an agent joined by an older Flotilla), brings its rules to what
// this one grants.
func createOrUpdateRules(ctx context.Context, hub client.Client, obj client.Object) error {
	err := hub.Create(ctx, obj)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %T %s on the hub: %w", obj, obj.GetName(), err)
	}
	want := rulesOf(obj)
	if want == nil {
		return nil
	}
	current, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying %T", obj)
	}
	if err := hub.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
		return fmt.Errorf("reading %T %s on the hub: %w", obj, obj.GetName(), err)
	}
	if rules := rulesOf(current); !equality.Semantic.DeepEqual(*rules, *want) {
		*rules = *want
		if err := hub.Update(ctx, current); err != nil {
			return fmt.Errorf("updating the rules of %T %s on the hub: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// rulesOf is a Role's or ClusterRole's rules, nil for other objects.
func rulesOf(obj client.Object) *[]rbacv1.PolicyRule {
	switch o := obj.(type) {
	case *rbacv1.Role:
		return &o.Rules
	case *rbacv1.ClusterRole:
		return &o.Rules
	}
	return nil
}

// agentKubeconfig points at the operator's hub server and CA with the
// agent's token instead of the operator's credentials.
func agentKubeconfig(hubConfig *rest.Config, member, token string) ([]byte, error) {
	cluster := &clientcmdapi.Cluster{
		Server:                   hubConfig.Host,
		CertificateAuthorityData: hubConfig.CAData,
		CertificateAuthority:     hubConfig.CAFile,
		InsecureSkipTLSVerify:    hubConfig.Insecure,
		TLSServerName:            hubConfig.ServerName,
	}
	name := "flotilla-hub"
	user := "flotilla-agent-" + member
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: fleetv1.MemberNamespace(member)}
	cfg.CurrentContext = name
	return runtime.Encode(clientcmdlatest.Codec, cfg)
}

// LeaveRequest describes a member whose agent is removed.
type LeaveRequest struct {
	Name string
	// Wait bounds how long the agent gets to remove what it placed.
	Wait time.Duration
}

// Left says how a leave went.
type Left struct {
	// DeletedMember is true when the member was agent-only and is gone.
	DeletedMember bool
	// Abandoned lists Works whose placed objects the agent did not remove
	// within the wait (its finalizer was dropped, the objects stay).
	Abandoned []string
}

// Leave takes a member out of every placement, waits for its agent to
// remove what it placed, then revokes the agent's identity. A
// member in Agent mode is removed from the fleet; a member the hub also
// reaches with stored credentials stays, hubless.
func Leave(ctx context.Context, hub client.Client, req LeaveRequest) (*Left, error) {
	member := &fleetv1.MemberCluster{}
	if err := hub.Get(ctx, client.ObjectKey{Name: req.Name}, member); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("member %q not found", req.Name)
		}
		return nil, err
	}
	patch := client.MergeFrom(member.DeepCopy())
	if member.Annotations == nil {
		member.Annotations = map[string]string{}
	}
	member.Annotations[fleetv1.LeavingAnnotation] = "true"
	if err := hub.Patch(ctx, member, patch); err != nil {
		return nil, fmt.Errorf("marking member %q as leaving: %w", req.Name, err)
	}
	out := &Left{}
	ns := fleetv1.MemberNamespace(req.Name)
	if req.Wait == 0 {
		req.Wait = time.Minute
	}
	deadline := time.Now().Add(req.Wait)
	for {
		works := &fleetv1.WorkList{}
		if err := hub.List(ctx, works, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("listing the member's Works: %w", err)
		}
		if len(works.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var errs []error
			for i := range works.Items {
				w := &works.Items[i]
				out.Abandoned = append(out.Abandoned, w.Name)
				wp := client.MergeFrom(w.DeepCopy())
				w.Finalizers = nil
				if err := hub.Patch(ctx, w, wp); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("releasing Work %s: %w", w.Name, err))
					continue
				}
				if err := hub.Delete(ctx, w); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("deleting Work %s: %w", w.Name, err))
				}
			}
			if err := errors.Join(errs...); err != nil {
				// The agent keeps its identity until its Works are gone:
				// leaving again finishes the job.
				return nil, err
			}
			break
		}
		for i := range works.Items {
			// The placement controller deletes them too; this covers a hub
			// running without placement.
			if works.Items[i].DeletionTimestamp == nil {
				if err := hub.Delete(ctx, &works.Items[i]); err != nil && !apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("deleting Work %s: %w", works.Items[i].Name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err := deleteAgentIdentity(ctx, hub, req.Name); err != nil {
		return nil, err
	}
	if member.Spec.Access.Mode == fleetv1.AccessAgent {
		if err := hub.Delete(ctx, member); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting member %q: %w", req.Name, err)
		}
		out.DeletedMember = true
		return out, nil
	}
	// The member has no agent any more: no placement may pick it again,
	// whatever its last heartbeat said.
	if err := hub.Get(ctx, client.ObjectKey{Name: req.Name}, member); err != nil {
		return nil, fmt.Errorf("reading member %q: %w", req.Name, err)
	}
	statusPatch := statuspatch.New(hub, member)
	meta.RemoveStatusCondition(&member.Status.Conditions, fleetv1.MemberAgentConnected)
	member.Status.AgentLastHeartbeatTime = nil
	if err := statusPatch.Patch(ctx, member); err != nil {
		return nil, fmt.Errorf("clearing the agent status of %q: %w", req.Name, err)
	}
	patch = client.MergeFrom(member.DeepCopy())
	delete(member.Annotations, fleetv1.LeavingAnnotation)
	if err := hub.Patch(ctx, member, patch); err != nil {
		return nil, fmt.Errorf("clearing the leaving mark of %q: %w", req.Name, err)
	}
	return out, nil
}

// deleteAgentIdentity revokes the agent's access. Its namespace stays: a
// cluster without a namespace controller (a local fleet's hub) would keep a
// deleted namespace Terminating forever and block a later rejoin.
func deleteAgentIdentity(ctx context.Context, hub client.Client, name string) error {
	ns := fleetv1.MemberNamespace(name)
	for _, obj := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: agentClusterRoleName(name)}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: agentClusterRoleName(name)}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: AgentServiceAccount, Namespace: ns}},
	} {
		if err := hub.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the agent's %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}
