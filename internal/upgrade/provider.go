package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/clusterprobe"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Target is the upgrade a member is to get.
type Target struct {
	Type fleetv1.UpgradeType
	// KubernetesVersion is the full target version, e.g. v1.37.2; empty for NodeImageOnly.
	KubernetesVersion string
	// NodeImage is the node image the nodes are to run when they all run
	// one OS (what a command provider passes on); empty means the
	// provider's latest for the Kubernetes version.
	NodeImage string
	// NodeImages are the node images by OS of the member's nodes, as the
	// run's node image selection picked them.
	NodeImages []NodeImage
}

// Member is what a provider needs to know of a member.
type Member struct {
	Name string
	// Kubeconfig reaches the member's API server.
	Kubeconfig []byte
	// Client is a client for the member's API server.
	Client   kubernetes.Interface
	Provider fleetv1.ProviderSpec
}

// Phase is where an upgrade stands.
type Phase string

const (
	PhaseNotStarted Phase = "NotStarted"
	PhaseRunning    Phase = "Running"
	PhaseSucceeded  Phase = "Succeeded"
	PhaseFailed     Phase = "Failed"
)

// Progress reports an upgrade's phase with a message for the run's status.
type Progress struct {
	Phase     Phase
	Message   string
	StartedAt time.Time
}

// Provider upgrades members. Start must be idempotent for the same operation
// id: a hub that restarts mid-upgrade calls it again and must not start a
// second upgrade.
type Provider interface {
	// AvailableVersions lists the Kubernetes versions the member can be
	// upgraded to; nil means any.
	AvailableVersions(ctx context.Context, m Member) ([]string, error)
	// NodeImages lists the node images the member's nodes can run on a
	// Kubernetes version, per OS, oldest first; none means the provider
	// does not know node images.
	NodeImages(ctx context.Context, m Member, kubernetesVersion string) ([]NodeImage, error)
	Start(ctx context.Context, operationID string, m Member, t Target) error
	Progress(ctx context.Context, operationID string, m Member, t Target) (Progress, error)
	// Cancel stops an upgrade the run gave up on, where the provider can.
	Cancel(ctx context.Context, operationID string, m Member) error
}

// Versions is what a member runs now: its control plane, and the distinct
// kubelet versions and node images of its nodes.
type Versions struct {
	ControlPlane string
	Kubelets     []string
	NodeImages   []string
}

// VersionsFromStatus is what the hub last observed of a member.
func VersionsFromStatus(st fleetv1.MemberClusterStatus) Versions {
	v := Versions{ControlPlane: st.KubernetesVersion}
	for _, k := range st.Nodes.KubeletVersions {
		v.Kubelets = append(v.Kubelets, k.Version)
	}
	for _, i := range st.Nodes.NodeImages {
		v.NodeImages = append(v.NodeImages, i.Version)
	}
	return v
}

// ReadVersions asks the member's API server for its versions.
func ReadVersions(ctx context.Context, cs kubernetes.Interface) (Versions, error) {
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return Versions{}, fmt.Errorf("reading the member's version: %w", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, listAll)
	if err != nil {
		return Versions{}, fmt.Errorf("listing the member's nodes: %w", err)
	}
	o := clusterprobe.Summarise(v.GitVersion, nodes.Items, nil)
	return VersionsFromStatus(fleetv1.MemberClusterStatus{KubernetesVersion: o.KubernetesVersion, Nodes: o.Nodes}), nil
}

// AtTarget reports whether a member already runs the target, and if not, what differs.
func AtTarget(v Versions, t Target) (bool, string) {
	checkControlPlane := t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeControlPlaneOnly
	checkKubelets := t.Type == fleetv1.UpgradeFull
	checkImages := (t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeNodeImageOnly) && (t.NodeImage != "" || len(t.NodeImages) > 0)
	if checkControlPlane && !rollout.SameVersion(v.ControlPlane, t.KubernetesVersion) {
		return false, fmt.Sprintf("control plane is %s, target %s", v.ControlPlane, t.KubernetesVersion)
	}
	for _, k := range v.Kubelets {
		if checkKubelets && !rollout.SameVersion(k, t.KubernetesVersion) {
			return false, fmt.Sprintf("nodes run kubelet %s, target %s", k, t.KubernetesVersion)
		}
	}
	for _, img := range v.NodeImages {
		if checkImages && !t.hasNodeImage(img) {
			return false, fmt.Sprintf("nodes run image %s, target %s", img, t.nodeImageList())
		}
	}
	return true, ""
}

// DefaultCommandTimeout bounds an upgrade command that names no timeout.
const DefaultCommandTimeout = time.Hour

var unsafeID = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// OperationID names the upgrade of one member by one run.
func OperationID(run, member string) string {
	return unsafeID.ReplaceAllString(run+"_"+member, "-")
}

// CommandProvider upgrades a member by running a command for it, detached,
// through Operations, and succeeds when the command exits 0 and the member's
// API reports the target. The Exec and Local providers are CommandProviders.
type CommandProvider struct {
	Operations Operations
	// Command is the command that upgrades m to t, and how long it may run
	// (0: DefaultCommandTimeout). Its arguments may name the variables of
	// its environment (${FLOTILLA_MEMBER}, ...).
	Command func(m Member, t Target) ([]string, time.Duration, error)
	// Env are variables ("NAME=value") the command gets beside the
	// documented ones; it gets nothing else of the hub's environment.
	Env []string
	// Permit, when set, must allow the command before it starts: the
	// command of an Exec provider (spec.provider.exec, as the refusal says)
	// is an operator's program. RequirePermit sets it.
	Permit hubexec.Permitter
	// Available lists the versions m can reach; nil (or a nil func) means any.
	Available func(m Member) []string
	// Images lists the node images for a Kubernetes version, oldest first
	// (see Provider.NodeImages); nil means the provider does not know node
	// images.
	Images func(m Member, kubernetesVersion string) []NodeImage
}

func (p *CommandProvider) AvailableVersions(_ context.Context, m Member) ([]string, error) {
	if p.Available == nil {
		return nil, nil
	}
	return p.Available(m), nil
}

func (p *CommandProvider) NodeImages(_ context.Context, m Member, kubernetesVersion string) ([]NodeImage, error) {
	if p.Images == nil {
		return nil, nil
	}
	return p.Images(m, kubernetesVersion), nil
}

// workDir is the operation's own directory: the command's working
// directory and HOME, with the member's kubeconfig in it. It is removed
// once the command has exited.
func (p *CommandProvider) workDir(id string) string { return p.Operations.dir(id) + ".env" }

// env is the command's whole environment (hubexec.Env): the variables its
// documentation names, and Env.
func (p *CommandProvider) env(dir string, m Member, t Target) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, m.Kubeconfig, 0o600); err != nil {
		return nil, err
	}
	return hubexec.Env(dir, append([]string{
		"FLOTILLA_MEMBER=" + m.Name,
		"CLUSTER=" + m.Name,
		"KUBECONFIG=" + kubeconfig,
		"FLOTILLA_UPGRADE_TYPE=" + string(t.Type),
		"FLOTILLA_KUBERNETES_VERSION=" + t.KubernetesVersion,
		"FLOTILLA_NODE_IMAGE=" + t.NodeImage,
	}, p.Env...)...), nil
}

func (p *CommandProvider) Start(ctx context.Context, id string, m Member, t Target) error {
	if st, err := p.Operations.State(id); err != nil || st.Started {
		return err
	}
	if p.Permit != nil {
		if err := p.Permit.Permit(ctx, "spec.provider.exec of member "+m.Name); err != nil {
			return err
		}
	}
	command, _, err := p.Command(m, t)
	if err != nil {
		return err
	}
	dir := p.workDir(id)
	env, err := p.env(dir, m, t)
	if err != nil {
		return err
	}
	expanded := make([]string, len(command))
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	for i, arg := range command {
		expanded[i] = os.Expand(arg, func(k string) string {
			if v, ok := lookup[k]; ok {
				return v
			}
			return "${" + k + "}"
		})
	}
	return p.Operations.Start(id, dir, expanded, env)
}

func (p *CommandProvider) Progress(ctx context.Context, id string, m Member, t Target) (Progress, error) {
	st, err := p.Operations.State(id)
	if err != nil {
		return Progress{}, err
	}
	pr := Progress{StartedAt: st.StartedAt}
	st.Output = hubexec.Redact(st.Output, hubexec.Credentials(m.Kubeconfig))
	if st.Started && !st.Running {
		// The member's kubeconfig is not left on the hub's disk.
		_ = os.RemoveAll(p.workDir(id))
	}
	switch {
	case !st.Started:
		pr.Phase = PhaseNotStarted
		return pr, nil
	case st.Running:
		_, timeout, err := p.Command(m, t)
		if err != nil {
			return pr, err
		}
		if timeout <= 0 {
			timeout = DefaultCommandTimeout
		}
		if time.Since(st.StartedAt) > timeout {
			pr.Phase, pr.Message = PhaseFailed, fmt.Sprintf("upgrade timed out after %s: %s", timeout, lastLine(st.Output))
			if err := p.Operations.Cancel(id); err != nil {
				pr.Message += "; stopping it failed: " + err.Error()
			}
			return pr, nil
		}
		pr.Phase, pr.Message = PhaseRunning, lastLine(st.Output)
		return pr, nil
	case st.ExitCode != 0:
		pr.Phase, pr.Message = PhaseFailed, fmt.Sprintf("upgrade command exited %d: %s", st.ExitCode, lastLines(st.Output, 5))
		return pr, nil
	}
	v, err := ReadVersions(ctx, m.Client)
	if err != nil {
		pr.Phase, pr.Message = PhaseRunning, "upgrade command finished; waiting for the member's API: "+err.Error()
		return pr, nil //nolint:nilerr // the member may still be restarting: the caller polls again
	}
	if ok, why := AtTarget(v, t); !ok {
		pr.Phase, pr.Message = PhaseFailed, "upgrade command exited 0 but "+why
		return pr, nil
	}
	pr.Phase, pr.Message = PhaseSucceeded, "member reports the target"
	return pr, nil
}

func (p *CommandProvider) Cancel(_ context.Context, id string, _ Member) error {
	return p.Operations.Cancel(id)
}

func lastLine(s string) string { return lastLines(s, 1) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
