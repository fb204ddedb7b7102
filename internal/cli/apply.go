package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/internal/apply"
)

func newApplyCommand(g *globalOptions) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...]",
		Short: "Apply manifests to the hub: placements, overrides, and the resources they place",
		Long: `Apply Kubernetes manifests (YAML or JSON, several documents per file, '-' for
standard input) to the hub with server-side apply. Use it for
ClusterResourcePlacements, overrides and the hub resources they select, as
'kubectl apply' would. Every object is first checked by the hub with a dry
run: if one is refused, nothing is applied.`,
		Example: `  flotilla apply -f examples/placement/fintech.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("-f is required")
			}
			var objs []*unstructured.Unstructured
			for _, f := range files {
				read, err := apply.Read(f, cmd.InOrStdin())
				if err != nil {
					return err
				}
				objs = append(objs, read...)
			}
			if len(objs) == 0 {
				return fmt.Errorf("no objects in %v", files)
			}
			cfg, err := g.restConfig()
			if err != nil {
				return err
			}
			applier, err := apply.New(cfg)
			if err != nil {
				return err
			}
			done, err := applier.Apply(cmd.Context(), objs)
			for _, r := range done {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, or - for standard input")
	return cmd
}
