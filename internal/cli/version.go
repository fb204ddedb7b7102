package cli

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is the module version this binary was built from.
func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print flotilla's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"version": buildVersion()}
			return render(cmd.OutOrStdout(), g.output, v, func() *table {
				return &table{headers: []string{"VERSION"}, rows: [][]string{{v["version"]}}}
			})
		},
	}
}
