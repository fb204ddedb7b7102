package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/preflight"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// memberPreflight is one member's pre-flight result.
type memberPreflight struct {
	Member   string              `json:"member"`
	From     string              `json:"from"`
	To       string              `json:"to"`
	Findings []preflight.Finding `json:"findings"`
	// Error says why the member could not be scanned.
	Error string `json:"error,omitempty"`
}

// scanMember runs the pre-flight scan against a member from this CLI,
// with the kubeconfig the hub keeps for it.
func scanMember(ctx context.Context, members *memberaccess.Clients, m *fleetv1.MemberCluster, target string) memberPreflight {
	res := memberPreflight{Member: m.Name, From: m.Status.KubernetesVersion, To: target}
	if m.Status.KubernetesVersion == "" {
		res.Error = "the member's version is not known yet (never probed)"
		return res
	}
	access, err := members.For(ctx, m)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	cfg, err := enrollment.RESTConfig(access.Kubeconfig, m.Spec.Access.Context)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	rep, err := preflight.Scan(ctx, cfg, m.Status.KubernetesVersion, target)
	if err != nil {
		res.Error = err.Error()
	}
	res.Findings = rep.Findings
	return res
}

func newPreflightCommand(g *globalOptions) *cobra.Command {
	var version, selectorFlag string
	cmd := &cobra.Command{
		Use:   "preflight --kubernetes-version V [-l selector]",
		Short: "Find what on each member still uses an API that Kubernetes version V removes",
		Long: `Scan members for uses of the APIs that an upgrade to --kubernetes-version
removes: requests the member's API server counted to deprecated APIs
(apiserver_requested_deprecated_apis), stored objects last applied with
kubectl through a removed apiVersion, and deployed Helm v3 releases whose
manifests use one. Which APIs a release removes comes from the Kubernetes API
packages' lifecycle data. The hub runs the same scan before each member's
control plane moves to a new minor (a strategy's preflight: Block, Warn or Off).
The scan reaches each member with the kubeconfig the hub keeps for it. Exits
non-zero when a member uses a removed API or could not be scanned.`,
		Example: `  flotilla preflight --kubernetes-version 1.37
  flotilla preflight --kubernetes-version v1.37.2 -l env=prod -o json`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if version == "" {
				return fmt.Errorf("--kubernetes-version is required")
			}
			if _, err := preflight.ParseRelease(version); err != nil {
				return fmt.Errorf("invalid --kubernetes-version: %w", err)
			}
			_, err := labels.Parse(selectorFlag)
			if err != nil {
				return fmt.Errorf("invalid --selector: %w", err)
			}
			return nil
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			sel, _ := labels.Parse(selectorFlag)
			list := &fleetv1.MemberClusterList{}
			if err := hub.List(cmd.Context(), list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return fmt.Errorf("listing members: %w", err)
			}
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			target := upgrade.NormalizeVersion(version)
			access := &memberaccess.Clients{Hub: hub}
			results := make([]memberPreflight, 0, len(list.Items))
			failed := 0
			for i := range list.Items {
				res := scanMember(cmd.Context(), access, &list.Items[i], target)
				if res.Error != "" || len(res.Findings) > 0 {
					failed++
				}
				results = append(results, res)
			}
			if err := render(cmd.OutOrStdout(), g.output, results, func() *table { return preflightTable(results) }); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d members use APIs %s removes or could not be scanned", failed, len(results), target)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&version, "kubernetes-version", "", "the target Kubernetes version (1.37 or v1.37.2)")
	cmd.Flags().StringVarP(&selectorFlag, "selector", "l", "", "only members matching this label selector")
	return cmd
}

func preflightTable(results []memberPreflight) *table {
	t := &table{headers: []string{"MEMBER", "FROM", "TO", "SOURCE", "KIND", "OBJECT", "API VERSION", "REMOVED IN", "USE INSTEAD"}}
	for _, r := range results {
		switch {
		case r.Error != "":
			t.add(r.Member, orDash(r.From), r.To, "error", r.Error, "-", "-", "-", "-")
		case len(r.Findings) == 0:
			t.add(r.Member, r.From, r.To, "-", "none", "-", "-", "-", "-")
		}
		for _, f := range r.Findings {
			t.add(r.Member, r.From, r.To, string(f.Source), f.Kind, orDash(f.Object()), f.APIVersion, f.RemovedIn, orDash(f.Replacement))
		}
	}
	return t
}
