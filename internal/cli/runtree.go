package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// drawRun writes an update run's status as an indented tree with states,
// times and messages, for `updaterun show` and `watch`.
func drawRun(w io.Writer, r *fleetv1.UpdateRun, now time.Time) {
	up := r.Spec.ManagedClusterUpdate.Upgrade
	target := string(up.Type)
	if up.KubernetesVersion != "" {
		target += " → " + up.KubernetesVersion
	}
	strategy := r.Spec.UpdateStrategyName
	if strategy == "" {
		strategy = "inline strategy"
	}
	fmt.Fprintf(w, "Update run %s: %s (%s, %s)  %s  members %d/%d done\n",
		r.Name, runState(r), target, strategy, progressBar(r.Status.MembersDone, r.Status.MembersTotal, 20),
		r.Status.MembersDone, r.Status.MembersTotal)
	if r.Status.Message != "" {
		fmt.Fprintf(w, "  %s\n", r.Status.Message)
	}
	drawRunNodeImages(w, r)
	rows := &table{headers: []string{"", "STATE", "STARTED", "TOOK", "MESSAGE"}}
	line := func(indent int, label string, p fleetv1.Progress) {
		rows.add(strings.Repeat("  ", indent)+label, orDash(string(p.State)), clock(p.StartTime), took(p, now), p.Message)
	}
	gates := func(indent int, when string, gs []fleetv1.GateProgress) {
		for _, g := range gs {
			label := fmt.Sprintf("%s gate %s (%s)", when, g.Name, g.Type)
			if g.DisplayName != "" {
				label = fmt.Sprintf("%s gate %q %s (%s)", when, g.DisplayName, g.Name, g.Type)
			}
			line(indent, label, g.Progress)
		}
	}
	for _, st := range r.Status.Stages {
		line(1, "stage "+st.Name, st.Progress)
		gates(2, "before", st.BeforeGates)
		for _, gr := range st.Groups {
			line(2, "group "+gr.Name, gr.Progress)
			gates(3, "before", gr.BeforeGates)
			for _, m := range gr.Members {
				label := m.Name
				if m.FromVersion != "" || m.TargetVersion != "" {
					label += fmt.Sprintf("  %s → %s", orDash(m.FromVersion), orDash(m.TargetVersion))
				}
				line(3, label, m.Progress)
			}
			gates(3, "after", gr.AfterGates)
		}
		gates(2, "after", st.AfterGates)
		if st.AfterStageWait != nil {
			line(2, "after-stage wait", *st.AfterStageWait)
		}
	}
	if len(r.Status.Stages) == 0 {
		fmt.Fprintln(w, "  (no progress yet: start the run with `flotilla updaterun start`)")
		return
	}
	_ = rows.write(w)
}

func clock(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("15:04:05")
}

func took(p fleetv1.Progress, now time.Time) string {
	if p.StartTime == nil {
		return "-"
	}
	end := now
	if p.CompletedTime != nil {
		end = p.CompletedTime.Time
	}
	return end.Sub(p.StartTime.Time).Round(100 * time.Millisecond).String()
}

func progressBar(done, total int32, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	filled := int(done) * width / int(total)
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// drawRunNodeImages says how the run picks node images, and which ones a
// Consistent run chose when it started.
func drawRunNodeImages(w io.Writer, r *fleetv1.UpdateRun) {
	sel := r.Spec.ManagedClusterUpdate.NodeImageSelection
	if r.Spec.ManagedClusterUpdate.Upgrade.Type == fleetv1.UpgradeControlPlaneOnly || sel == nil {
		return
	}
	switch sel.Type {
	case fleetv1.NodeImageConsistent:
		if len(r.Status.NodeImages) == 0 {
			fmt.Fprintln(w, "  node images: Consistent, chosen when the run starts")
			return
		}
		fmt.Fprintln(w, "  node images: Consistent, chosen when the run started:")
		for _, c := range r.Status.NodeImages {
			fmt.Fprintf(w, "    %s nodes on %s: %s\n", c.OS, c.KubernetesVersion, c.Version)
		}
	case fleetv1.NodeImageCustom:
		names := make([]string, len(sel.CustomNodeImageVersions))
		for i, c := range sel.CustomNodeImageVersions {
			names[i] = c.Version
		}
		fmt.Fprintf(w, "  node images: Custom: %s\n", strings.Join(names, ", "))
	default:
		fmt.Fprintln(w, "  node images: Latest")
	}
}
