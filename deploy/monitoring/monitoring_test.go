// Package monitoring_test checks the Prometheus alert rules and the Grafana
// dashboard of deploy/monitoring: the rules parse and validate as Prometheus
// loads them (promtool's rulefmt and PromQL parser), and every metric they
// and the dashboard's queries name is one Flotilla exports.
package monitoring_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
)

var promql = parser.NewParser(parser.Options{})

// metricsOf are the names of the series expr selects.
func metricsOf(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// checkExported fails for a metric name Flotilla does not export; a
// histogram's series are its name with _bucket, _sum or _count.
func checkExported(t *testing.T, where, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "flotilla_") {
		t.Errorf("%s: %q is not a Flotilla metric", where, name)
		return
	}
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if slices.Contains(fleetmetrics.Names, strings.TrimSuffix(name, suffix)) && (suffix == "" || strings.HasSuffix(name, suffix)) {
			return
		}
	}
	t.Errorf("%s: metric %s is not one Flotilla exports (internal/fleetmetrics.Names)", where, name)
}

func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("flotilla-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, promql, nil)
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			names := metricsOf(t, r.Expr)
			if len(names) == 0 {
				t.Errorf("alert %s selects no metric", r.Alert)
			}
			for _, n := range names {
				checkExported(t, "alert "+r.Alert, n)
			}
		}
	}
	for _, want := range []string{"FlotillaUpdateRunFailed", "FlotillaMemberUnhealthy", "FlotillaDriftStorm", "FlotillaAgentDisconnected"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
}

func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("flotilla-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	if dashboard.UID == "" || len(dashboard.Panels) == 0 {
		t.Fatalf("dashboard uid %q with %d panels", dashboard.UID, len(dashboard.Panels))
	}
	used := map[string]bool{}
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, n := range metricsOf(t, q.Expr) {
				checkExported(t, "panel "+p.Title, n)
				used[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
	}
	// Every metric is on the dashboard somewhere.
	for _, n := range fleetmetrics.Names {
		if !used[n] && n != fleetmetrics.MemberAgentConnected {
			t.Errorf("metric %s is on no panel", n)
		}
	}
}
