package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetquery"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
)

// Exit codes of `flotilla query`.
const (
	queryExitUnhealthy  = 2
	queryExitUnanswered = 3
)

// queryOptions are the flags `query nodes` and `query pods` share.
type queryOptions struct {
	selector    string
	timeout     time.Duration
	concurrency int
	summary     bool
}

func (q *queryOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&q.selector, "selector", "l", "", "only members matching this label selector, e.g. env=prod")
	cmd.Flags().DurationVar(&q.timeout, "member-timeout", fleetquery.DefaultTimeout, "how long each member has to answer; a member that does not is a row saying so")
	cmd.Flags().IntVar(&q.concurrency, "concurrency", fleetquery.DefaultConcurrency, "how many members are asked at once")
	cmd.Flags().BoolVar(&q.summary, "summary", false, "one row per member in the shape of the seed's KQL join: ClusterName, NodeCount (Ready), FailedPodCount")
}

func (q *queryOptions) validate() error {
	if _, err := labels.Parse(q.selector); err != nil {
		return fmt.Errorf("invalid --selector: %w", err)
	}
	if q.timeout <= 0 {
		return fmt.Errorf("--member-timeout must be positive")
	}
	if q.concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	return nil
}

// gather lists the members the selector picks and asks each of them.
func (q *queryOptions) gather(ctx context.Context, hub client.Reader, want fleetquery.Want) ([]fleetquery.Answer, error) {
	sel, _ := labels.Parse(q.selector)
	list := &fleetv1.MemberClusterList{}
	if err := hub.List(ctx, list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	access := &memberaccess.Clients{Hub: hub}
	connect := func(ctx context.Context, m *fleetv1.MemberCluster) (kubernetes.Interface, error) {
		mem, err := access.For(ctx, m)
		if err != nil {
			return nil, err
		}
		return mem.Client, nil
	}
	return fleetquery.Gather(ctx, list.Items, connect, want, fleetquery.Options{Timeout: q.timeout, Concurrency: q.concurrency}), nil
}

// queryExit turns a verdict into the command's exit status: 3 when a
// member did not answer, else 2 when one is unhealthy, else success.
func queryExit(v fleetquery.Verdict) error {
	switch {
	case len(v.Unanswered) > 0:
		return exitCodeError{err: fmt.Errorf("%d members did not answer: %s", len(v.Unanswered), strings.Join(v.Unanswered, ", ")), code: queryExitUnanswered}
	case len(v.Unhealthy) > 0:
		return exitCodeError{err: fmt.Errorf("%d members have nodes not Ready or failed pods: %s", len(v.Unhealthy), strings.Join(v.Unhealthy, ", ")), code: queryExitUnhealthy}
	}
	return nil
}

const queryExitDoc = `Exit status: 0 when every member answered and nothing is unhealthy; 2 when a
row shows a node not Ready or a pod Failed or Unknown (also from an agent's
summary); 3 when a member did not answer within --member-timeout or answered
an error (takes precedence over 2); 1 for anything else (no hub, bad flags).`

func newQueryCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Ask every member at once: nodes, pods, or the fleet's health summary",
		Long: `Fan out to the fleet's members concurrently and print one table with a
MEMBER column. Members the hub reaches with a kubeconfig are read live with the
hub's credentials for them; members only an agent reaches (access mode Agent)
are answered from the summary the agent last reported in the MemberCluster's
status, and their rows say "the agent's summary". Each member has
--member-timeout to answer; one that does not is a row saying so.

` + queryExitDoc,
	}
	cmd.AddCommand(newQueryNodesCommand(g), newQueryPodsCommand(g))
	return cmd
}

func newQueryNodesCommand(g *globalOptions) *cobra.Command {
	var (
		q        queryOptions
		notReady bool
	)
	cmd := &cobra.Command{
		Use:   "nodes [--not-ready] [-l member-selector] [--summary]",
		Short: "List the nodes of every member, or only those not Ready",
		Long: `List the nodes of every member (MEMBER, NODE, STATUS, KUBELET), or with
--not-ready only the nodes whose Ready condition is not True. --summary prints
the seed's KQL join instead (ClusterName, NodeCount Ready, FailedPodCount),
which also reads every member's pods.

` + queryExitDoc,
		Example: `  flotilla query nodes --not-ready
  flotilla query nodes -l env=prod -o json
  flotilla query nodes --summary`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return q.validate() },
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			if q.summary {
				return runSummary(cmd, g, hub, &q)
			}
			answers, err := q.gather(cmd.Context(), hub, fleetquery.Want{Nodes: true})
			if err != nil {
				return err
			}
			rows := fleetquery.NodeRows(answers, notReady)
			if err := render(cmd.OutOrStdout(), g.output, rows, func() *table { return nodeTable(rows) }); err != nil {
				return err
			}
			return queryExit(fleetquery.NodeVerdict(rows))
		}),
	}
	q.bind(cmd)
	cmd.Flags().BoolVar(&notReady, "not-ready", false, "only nodes that are not Ready")
	return cmd
}

func newQueryPodsCommand(g *globalOptions) *cobra.Command {
	var (
		q             queryOptions
		phaseFlag     string
		namespace     string
		allNamespaces bool
	)
	cmd := &cobra.Command{
		Use:   "pods [--phase Failed,Unknown] [-A | -n NS] [-l member-selector] [--summary]",
		Short: "List the pods of every member, by phase and namespace",
		Long: `List the pods of every member (MEMBER, NAMESPACE, POD, PHASE, NODE, REASON),
in every namespace unless -n names one, and with --phase only those in the
given phases. An agent-only member reports just its count of pods Failed or
Unknown (in every namespace), shown as one row. --summary prints the seed's
KQL join (ClusterName, NodeCount Ready, FailedPodCount).

` + queryExitDoc,
		Example: `  flotilla query pods --phase Failed,Unknown -A
  flotilla query pods -n payments -l region=westeurope
  flotilla query pods --summary -o yaml`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if allNamespaces && namespace != "" {
				return fmt.Errorf("-A and -n cannot be used together")
			}
			if _, err := fleetquery.ParsePhases(phaseFlag); err != nil {
				return fmt.Errorf("invalid --phase: %w", err)
			}
			return q.validate()
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			if q.summary {
				return runSummary(cmd, g, hub, &q)
			}
			phases, _ := fleetquery.ParsePhases(phaseFlag)
			answers, err := q.gather(cmd.Context(), hub, fleetquery.Want{Pods: true, Namespace: namespace})
			if err != nil {
				return err
			}
			rows := fleetquery.PodRows(answers, phases)
			if err := render(cmd.OutOrStdout(), g.output, rows, func() *table { return podTable(rows) }); err != nil {
				return err
			}
			return queryExit(fleetquery.PodVerdict(rows))
		}),
	}
	q.bind(cmd)
	cmd.Flags().StringVar(&phaseFlag, "phase", "", "only pods in these phases, comma-separated (Pending, Running, Succeeded, Failed, Unknown); default all")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "only pods in this namespace (default: every namespace)")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "pods in every namespace (the default)")
	return cmd
}

func runSummary(cmd *cobra.Command, g *globalOptions, hub client.Reader, q *queryOptions) error {
	answers, err := q.gather(cmd.Context(), hub, fleetquery.Want{Nodes: true, Pods: true})
	if err != nil {
		return err
	}
	rows := fleetquery.Summary(answers)
	if err := render(cmd.OutOrStdout(), g.output, rows, func() *table { return summaryTable(rows) }); err != nil {
		return err
	}
	return queryExit(fleetquery.SummaryVerdict(rows))
}

func count(n *int32) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(int(*n))
}

func nodeTable(rows []fleetquery.NodeRow) *table {
	t := &table{headers: []string{"MEMBER", "NODE", "STATUS", "KUBELET", "SOURCE", "NOTE"}}
	for _, r := range rows {
		status := r.Status
		if r.Source == fleetquery.SourceAgent {
			status = count(r.ReadyNodes) + "/" + count(r.TotalNodes) + " Ready"
		}
		t.add(r.Member, orDash(r.Node), orDash(status), orDash(r.KubeletVersion), string(r.Source), orDash(r.Note))
	}
	return t
}

func podTable(rows []fleetquery.PodRow) *table {
	t := &table{headers: []string{"MEMBER", "NAMESPACE", "POD", "PHASE", "NODE", "REASON", "SOURCE", "NOTE"}}
	for _, r := range rows {
		phase := r.Phase
		if r.FailedPods != nil {
			phase = count(r.FailedPods) + " Failed/Unknown"
		}
		t.add(r.Member, orDash(r.Namespace), orDash(r.Pod), orDash(phase), orDash(r.Node), orDash(r.Reason), string(r.Source), orDash(r.Note))
	}
	return t
}

// summaryTable is the seed's join: ClusterName, NodeCount, FailedPodCount,
// with a Note column only when a row needs one.
func summaryTable(rows []fleetquery.SummaryRow) *table {
	t := &table{headers: []string{"ClusterName", "NodeCount", "FailedPodCount"}}
	notes := false
	for _, r := range rows {
		notes = notes || r.Note != ""
	}
	if notes {
		t.headers = append(t.headers, "Note")
	}
	for _, r := range rows {
		cells := []string{r.ClusterName, count(r.NodeCount), count(r.FailedPodCount)}
		if notes {
			cells = append(cells, r.Note)
		}
		t.add(cells...)
	}
	return t
}
