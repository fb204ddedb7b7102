package fleetquery

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NodeRow is one node of one member, or one row standing for a member that
// gave no node list (an agent's summary, no answer, an error).
type NodeRow struct {
	Member string `json:"member"`
	Source Source `json:"source"`
	// Node is empty on a member's summary or failure row.
	Node string `json:"node,omitempty"`
	// Status is Ready, NotReady or Unknown (no Ready condition).
	Status         string `json:"status,omitempty"`
	KubeletVersion string `json:"kubeletVersion,omitempty"`
	// ReadyNodes and TotalNodes are set on agent summary rows.
	ReadyNodes *int32 `json:"readyNodes,omitempty"`
	TotalNodes *int32 `json:"totalNodes,omitempty"`
	// Note says what a summary or failure row means.
	Note string `json:"note,omitempty"`
}

// PodRow is one pod of one member, or one row standing for a member that
// gave no pod list.
type PodRow struct {
	Member    string `json:"member"`
	Source    Source `json:"source"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Node      string `json:"node,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// FailedPods is set on agent summary rows: the agent's count of pods
	// Failed or Unknown, in every namespace.
	FailedPods *int32 `json:"failedPods,omitempty"`
	Note       string `json:"note,omitempty"`
}

// SummaryRow is the seed's KQL join, one row per member: Ready nodes and
// pods neither Running, Succeeded nor Pending (so Failed or Unknown). The
// JSON keys are the seed's column names.
type SummaryRow struct {
	ClusterName string `json:"ClusterName"`
	// NodeCount counts Ready nodes; nil when the member did not answer.
	NodeCount      *int32 `json:"NodeCount"`
	FailedPodCount *int32 `json:"FailedPodCount"`
	// TotalNodes is every node, Ready or not, for the health verdict.
	TotalNodes *int32 `json:"TotalNodes,omitempty"`
	Source     Source `json:"Source"`
	Note       string `json:"Note,omitempty"`
}

// NodeStatus is Ready, NotReady or Unknown: a node's Ready condition.
func NodeStatus(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "Ready"
			}
			return "NotReady"
		}
	}
	return "Unknown"
}

// Failed reports whether a pod counts as failed in the seed's sense:
// neither Running, Succeeded nor Pending.
func Failed(p *corev1.Pod) bool {
	switch p.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodPending:
		return false
	}
	return true
}

func agentNote(a *Answer, what string) string {
	note := "the agent's summary: " + what
	if a.Heartbeat != nil {
		note += ", reported " + a.Heartbeat.UTC().Format("2006-01-02T15:04:05Z")
	} else {
		note += ", never reported"
	}
	return note
}

// NodeRows lists the nodes of every answer; notReadyOnly keeps the nodes
// that are not Ready. Members without a live list get one row each.
func NodeRows(answers []Answer, notReadyOnly bool) []NodeRow {
	rows := []NodeRow{}
	for i := range answers {
		a := &answers[i]
		switch a.Source {
		case SourceLive:
			nodes := slices.Clone(a.Nodes)
			sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
			for j := range nodes {
				n := &nodes[j]
				st := NodeStatus(n)
				if notReadyOnly && st == "Ready" {
					continue
				}
				rows = append(rows, NodeRow{Member: a.Member, Source: SourceLive, Node: n.Name, Status: st, KubeletVersion: n.Status.NodeInfo.KubeletVersion})
			}
		case SourceAgent:
			ready, total := a.Status.Nodes.Ready, a.Status.Nodes.Total
			if notReadyOnly && ready == total && a.Heartbeat != nil {
				continue
			}
			rows = append(rows, NodeRow{Member: a.Member, Source: SourceAgent, ReadyNodes: &ready, TotalNodes: &total,
				Note: agentNote(a, fmt.Sprintf("%d of %d nodes Ready", ready, total))})
		default:
			rows = append(rows, NodeRow{Member: a.Member, Source: a.Source, Note: a.Err})
		}
	}
	return rows
}

// ParsePhases reads --phase: comma-separated pod phases, case-insensitive.
func ParsePhases(s string) ([]corev1.PodPhase, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	known := []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
	var out []corev1.PodPhase
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		i := slices.IndexFunc(known, func(p corev1.PodPhase) bool { return strings.EqualFold(string(p), part) })
		if i < 0 {
			return nil, fmt.Errorf("unknown pod phase %q: use Pending, Running, Succeeded, Failed or Unknown", part)
		}
		if !slices.Contains(out, known[i]) {
			out = append(out, known[i])
		}
	}
	return out, nil
}

// PodRows lists the pods of every answer whose phase is one of phases (all
// when empty). An agent's summary only counts failed pods, so an agent row
// appears when phases is empty or asks for Failed or Unknown.
func PodRows(answers []Answer, phases []corev1.PodPhase) []PodRow {
	rows := []PodRow{}
	for i := range answers {
		a := &answers[i]
		switch a.Source {
		case SourceLive:
			pods := slices.Clone(a.Pods)
			sort.Slice(pods, func(i, j int) bool {
				if pods[i].Namespace != pods[j].Namespace {
					return pods[i].Namespace < pods[j].Namespace
				}
				return pods[i].Name < pods[j].Name
			})
			for j := range pods {
				p := &pods[j]
				if len(phases) > 0 && !slices.Contains(phases, p.Status.Phase) {
					continue
				}
				rows = append(rows, PodRow{Member: a.Member, Source: SourceLive, Namespace: p.Namespace, Pod: p.Name,
					Phase: string(p.Status.Phase), Node: p.Spec.NodeName, Reason: p.Status.Reason})
			}
		case SourceAgent:
			if len(phases) > 0 && !slices.Contains(phases, corev1.PodFailed) && !slices.Contains(phases, corev1.PodUnknown) {
				rows = append(rows, PodRow{Member: a.Member, Source: SourceAgent,
					Note: "the agent reports only a count of Failed or Unknown pods, not pods by phase"})
				continue
			}
			failed := a.Status.FailedPods
			rows = append(rows, PodRow{Member: a.Member, Source: SourceAgent, FailedPods: &failed,
				Note: agentNote(a, fmt.Sprintf("%d Failed or Unknown pods in all namespaces", failed))})
		default:
			rows = append(rows, PodRow{Member: a.Member, Source: a.Source, Note: a.Err})
		}
	}
	return rows
}

// Summary is the seed's join: per member, Ready nodes and failed pods.
func Summary(answers []Answer) []SummaryRow {
	rows := make([]SummaryRow, 0, len(answers))
	for i := range answers {
		a := &answers[i]
		row := SummaryRow{ClusterName: a.Member, Source: a.Source}
		switch a.Source {
		case SourceLive:
			var ready, total, failed int32
			for j := range a.Nodes {
				total++
				if NodeStatus(&a.Nodes[j]) == "Ready" {
					ready++
				}
			}
			for j := range a.Pods {
				if Failed(&a.Pods[j]) {
					failed++
				}
			}
			row.NodeCount, row.TotalNodes, row.FailedPodCount = &ready, &total, &failed
		case SourceAgent:
			ready, total, failed := a.Status.Nodes.Ready, a.Status.Nodes.Total, a.Status.FailedPods
			row.NodeCount, row.TotalNodes, row.FailedPodCount = &ready, &total, &failed
			row.Note = agentNote(a, fmt.Sprintf("%d of %d nodes Ready, %d Failed or Unknown pods", ready, total, failed))
		default:
			row.Note = a.Err
		}
		rows = append(rows, row)
	}
	return rows
}

// Verdict is what a query found, for the exit status.
type Verdict struct {
	// Unanswered names members that did not answer or answered an error.
	Unanswered []string
	// Unhealthy names members with a node not Ready or a failed pod.
	Unhealthy []string
}

// SummaryVerdict judges summary rows.
func SummaryVerdict(rows []SummaryRow) Verdict {
	var v Verdict
	for _, r := range rows {
		switch {
		case r.NodeCount == nil:
			v.Unanswered = append(v.Unanswered, r.ClusterName)
		case *r.NodeCount < *r.TotalNodes || *r.FailedPodCount > 0:
			v.Unhealthy = append(v.Unhealthy, r.ClusterName)
		}
	}
	return v
}

// NodeVerdict judges node rows: a member is unhealthy when a node row of
// it is not Ready (or its agent says so).
func NodeVerdict(rows []NodeRow) Verdict {
	var v Verdict
	for _, r := range rows {
		switch {
		case r.Source == SourceNoAnswer || r.Source == SourceError:
			v.Unanswered = appendOnce(v.Unanswered, r.Member)
		case r.Source == SourceAgent && *r.ReadyNodes < *r.TotalNodes, r.Source == SourceLive && r.Status != "Ready":
			v.Unhealthy = appendOnce(v.Unhealthy, r.Member)
		}
	}
	return v
}

// PodVerdict judges pod rows: a member is unhealthy when a pod row of it is
// failed in the seed's sense (or its agent counts one).
func PodVerdict(rows []PodRow) Verdict {
	var v Verdict
	for _, r := range rows {
		switch {
		case r.Source == SourceNoAnswer || r.Source == SourceError:
			v.Unanswered = appendOnce(v.Unanswered, r.Member)
		case r.Source == SourceAgent && r.FailedPods != nil && *r.FailedPods > 0,
			r.Source == SourceLive && r.Phase != string(corev1.PodRunning) && r.Phase != string(corev1.PodSucceeded) && r.Phase != string(corev1.PodPending):
			v.Unhealthy = appendOnce(v.Unhealthy, r.Member)
		}
	}
	return v
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
