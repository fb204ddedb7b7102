// Package healthcheck runs the health checks of an update strategy against a
// member: nodes Ready, no failed pods, workloads available, PVCs bound, an
// operator's command (the seed's validation script works as one) and HTTP
// probes. A check is retried until it passes or its timeout ends.
package healthcheck

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
)

// DefaultTimeout applies to a check that sets no timeout.
const DefaultTimeout = 5 * time.Minute

// retryInterval is the pause between two attempts of a failing check.
const retryInterval = 2 * time.Second

// Target is the member a check runs against.
type Target struct {
	Member string
	Stage  string
	Client kubernetes.Interface
	// Kubeconfig reaches the member; Command checks get it as $KUBECONFIG.
	Kubeconfig []byte
	// WorkDir holds a directory of its own for each Command check, with the
	// member's kubeconfig in it.
	WorkDir string
	// Programs decides whether Command checks may run; nil refuses them.
	Programs hubexec.Permitter
}

// Result is the outcome of one check.
type Result struct {
	Check  string
	Passed bool
	// Output explains a failure: what was not healthy, or the command's output.
	Output string
}

// Summary is one line for a status message.
func (r Result) Summary() string {
	if r.Passed {
		return "check " + r.Check + " passed"
	}
	return "check " + r.Check + " failed: " + r.Output
}

// RunAll runs the checks one after the other and stops at the first that
// fails for good. It returns every result it got.
func RunAll(ctx context.Context, checks []fleetv1.HealthCheck, t Target) []Result {
	var results []Result
	for _, c := range checks {
		r := Run(ctx, c, t)
		results = append(results, r)
		if !r.Passed {
			break
		}
	}
	return results
}

// Run waits the check's settle period, then attempts it until it passes or
// its timeout ends.
func Run(ctx context.Context, c fleetv1.HealthCheck, t Target) Result {
	timeout := time.Duration(c.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	name := c.Name
	if name == "" {
		name = string(c.Type)
	}
	if c.Type == fleetv1.CheckCommand {
		// Refused for good: no retrying until the timeout.
		if err := permitCommand(ctx, name, t); err != nil {
			return Result{Check: name, Output: err.Error()}
		}
	}
	if settle := time.Duration(c.SettleSeconds) * time.Second; settle > 0 {
		select {
		case <-ctx.Done():
			return Result{Check: name, Output: ctx.Err().Error()}
		case <-time.After(settle):
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		attemptCtx, cancel := context.WithDeadline(ctx, deadline)
		output, err := attempt(attemptCtx, c, t)
		cancel()
		if err == nil {
			return Result{Check: name, Passed: true, Output: output}
		}
		if time.Now().Add(retryInterval).After(deadline) || ctx.Err() != nil {
			return Result{Check: name, Output: fmt.Sprintf("%v (still failing after %s)", err, timeout)}
		}
		select {
		case <-ctx.Done():
			return Result{Check: name, Output: err.Error()}
		case <-time.After(retryInterval):
		}
	}
}

// attempt runs a check once; a nil error means it passed.
func attempt(ctx context.Context, c fleetv1.HealthCheck, t Target) (string, error) {
	switch c.Type {
	case fleetv1.CheckNodesReady:
		return nodesReady(ctx, t.Client)
	case fleetv1.CheckNoFailedPods:
		return noFailedPods(ctx, t.Client, c.Namespaces)
	case fleetv1.CheckWorkloadsAvailable:
		return workloadsAvailable(ctx, t.Client, c.Workloads)
	case fleetv1.CheckPVCsBound:
		return pvcsBound(ctx, t.Client, c.Namespaces)
	case fleetv1.CheckCommand:
		if err := permitCommand(ctx, c.Name, t); err != nil {
			return "", err
		}
		return command(ctx, c.Command, t)
	case fleetv1.CheckHTTP:
		return httpCheck(ctx, c.HTTP)
	}
	return "", fmt.Errorf("unknown check type %q", c.Type)
}

func nodesReady(ctx context.Context, cs kubernetes.Interface) (string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	var notReady []string
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready || n.Spec.Unschedulable {
			notReady = append(notReady, n.Name)
		}
	}
	if len(notReady) > 0 {
		return "", fmt.Errorf("NotReady or cordoned nodes: %s", strings.Join(notReady, " "))
	}
	return fmt.Sprintf("%d nodes Ready", len(nodes.Items)), nil
}

// namespacesOrAll returns the namespaces to look in; "" lists every one.
func namespacesOrAll(ns []string) []string {
	if len(ns) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return ns
}

func noFailedPods(ctx context.Context, cs kubernetes.Interface, namespaces []string) (string, error) {
	var failed []string
	for _, ns := range namespacesOrAll(namespaces) {
		for _, phase := range []corev1.PodPhase{corev1.PodFailed, corev1.PodUnknown} {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=" + string(phase)})
			if err != nil {
				return "", err
			}
			for _, p := range pods.Items {
				if p.Status.Phase != phase {
					continue
				}
				failed = append(failed, p.Namespace+"/"+p.Name+" ("+string(phase)+")")
			}
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return "", fmt.Errorf("%d failed pods: %s", len(failed), strings.Join(firstN(failed, 5), ", "))
	}
	return "no failed pods", nil
}

func pvcsBound(ctx context.Context, cs kubernetes.Interface, namespaces []string) (string, error) {
	var unbound []string
	total := 0
	for _, ns := range namespacesOrAll(namespaces) {
		pvcs, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		total += len(pvcs.Items)
		for _, p := range pvcs.Items {
			if p.Status.Phase != corev1.ClaimBound {
				unbound = append(unbound, fmt.Sprintf("%s/%s (%s)", p.Namespace, p.Name, p.Status.Phase))
			}
		}
	}
	if len(unbound) > 0 {
		return "", fmt.Errorf("%d PVCs not Bound: %s", len(unbound), strings.Join(firstN(unbound, 5), ", "))
	}
	return fmt.Sprintf("%d PVCs Bound", total), nil
}

func workloadsAvailable(ctx context.Context, cs kubernetes.Interface, sel *fleetv1.WorkloadSelector) (string, error) {
	if sel == nil {
		sel = &fleetv1.WorkloadSelector{}
	}
	opts := metav1.ListOptions{}
	if sel.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(sel.LabelSelector)
		if err != nil {
			return "", fmt.Errorf("invalid workload selector: %w", err)
		}
		opts.LabelSelector = s.String()
	}
	ns := sel.Namespace
	var missing []string
	count := 0
	want := func(kind string) bool { return sel.Kind == "" || strings.EqualFold(sel.Kind, kind) }
	if want("Deployment") {
		list, err := cs.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, d := range list.Items {
			count++
			if !deploymentAvailable(&d) {
				missing = append(missing, fmt.Sprintf("Deployment %s/%s %d/%d available", d.Namespace, d.Name, d.Status.AvailableReplicas, replicas(d.Spec.Replicas)))
			}
		}
	}
	if want("StatefulSet") {
		list, err := cs.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, s := range list.Items {
			count++
			if s.Status.ObservedGeneration < s.Generation || s.Status.AvailableReplicas < replicas(s.Spec.Replicas) {
				missing = append(missing, fmt.Sprintf("StatefulSet %s/%s %d/%d available", s.Namespace, s.Name, s.Status.AvailableReplicas, replicas(s.Spec.Replicas)))
			}
		}
	}
	if want("DaemonSet") {
		list, err := cs.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, d := range list.Items {
			count++
			if d.Status.ObservedGeneration < d.Generation || d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
				missing = append(missing, fmt.Sprintf("DaemonSet %s/%s %d/%d available", d.Namespace, d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled))
			}
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s", strings.Join(firstN(missing, 5), "; "))
	}
	return fmt.Sprintf("%d workloads available", count), nil
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= replicas(d.Spec.Replicas)
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// permitCommand asks the hub whether a Command check may run.
func permitCommand(ctx context.Context, name string, t Target) error {
	what := "the Command check " + name
	if t.Programs == nil {
		return &hubexec.RefusedError{What: what, Reason: hubexec.ReasonExecNotAllowed}
	}
	return t.Programs.Permit(ctx, what)
}

// command runs a Command check's program in a directory of its own, with
// only the environment it is documented to get (hubexec.Env), in a process
// group of its own that is killed when ctx ends. Its output is capped and
// cleaned of the member's credentials.
func command(ctx context.Context, argv []string, t Target) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("a Command check needs a command")
	}
	parent := t.WorkDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, "check-"+t.Member+"-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, t.Kubeconfig, 0o600); err != nil {
		return "", err
	}

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = hubexec.Env(dir,
		"KUBECONFIG="+kubeconfig,
		"CLUSTER="+t.Member,
		"STAGE="+t.Stage,
		"FLOTILLA_MEMBER="+t.Member,
	)
	out := &hubexec.Tail{Limit: hubexec.OutputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	// The whole group goes at the deadline: a script's kubectl too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	text := hubexec.Redact(out.String(), hubexec.Credentials(t.Kubeconfig))
	if err != nil {
		if text == "" {
			return "", fmt.Errorf("%s: %w", argv[0], err)
		}
		return "", fmt.Errorf("%s: %w: %s", argv[0], err, lastLines(text, 10))
	}
	return text, nil
}

func httpCheck(ctx context.Context, h *fleetv1.HTTPCheck) (string, error) {
	if h == nil || h.URL == "" {
		return "", fmt.Errorf("an HTTP check needs a url")
	}
	want := int(h.ExpectedStatus)
	if want == 0 {
		want = http.StatusOK
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, http.NoBody)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return "", fmt.Errorf("GET %s answered %d, want %d", h.URL, resp.StatusCode, want)
	}
	return fmt.Sprintf("GET %s answered %d", h.URL, resp.StatusCode), nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
