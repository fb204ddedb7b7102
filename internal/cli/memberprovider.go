package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// providerFlags are the flags of `member create|update` that choose a
// member's upgrade provider and its settings.
type providerFlags struct {
	provider string
	// AKS
	resourceID      string
	adminCredential bool
	// EKS, GKE and Cluster API name their cluster with --cluster.
	cluster, region   string
	project, location string
	// Cluster API
	managementKubeconfig, clusterNamespace, nodeImageVariable string
	// Exec
	execCommand    []string
	execVersions   []string
	execTimeout    int32
	execIdempotent bool
	// managementContent is the --management-kubeconfig file, read by spec.
	managementContent []byte
}

// providerNames maps what --provider accepts to provider types.
var providerNames = map[string]fleetv1.ProviderType{
	"aks": fleetv1.ProviderAKS, "eks": fleetv1.ProviderEKS, "gke": fleetv1.ProviderGKE,
	"cluster-api": fleetv1.ProviderClusterAPI, "clusterapi": fleetv1.ProviderClusterAPI, "capi": fleetv1.ProviderClusterAPI,
	"exec": fleetv1.ProviderExec,
}

func (f *providerFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.provider, "provider", "", "upgrade provider: aks, eks, gke, cluster-api or exec (see docs/providers.md)")
	fs.StringVar(&f.resourceID, "resource-id", "", "aks: the managed cluster's resource ID, /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/NAME")
	fs.BoolVar(&f.adminCredential, "admin-credential", false, "aks: fetch the cluster's admin credential instead of the user credential (when no --kubeconfig is given)")
	fs.StringVar(&f.cluster, "cluster", "", "eks, gke: the cluster's name; cluster-api: the Cluster object's name")
	fs.StringVar(&f.region, "region", "", "eks: the cluster's AWS region")
	fs.StringVar(&f.project, "project", "", "gke: the cluster's Google Cloud project")
	fs.StringVar(&f.location, "location", "", "gke: the cluster's region or zone")
	fs.StringVar(&f.managementKubeconfig, "management-kubeconfig", "", "cluster-api: kubeconfig file of the management cluster (stored as a Secret on the hub)")
	fs.StringVar(&f.clusterNamespace, "cluster-namespace", "default", "cluster-api: namespace of the Cluster object on the management cluster")
	fs.StringVar(&f.nodeImageVariable, "node-image-variable", "", "cluster-api: the ClusterClass variable that selects the machines' image")
	fs.StringSliceVar(&f.execCommand, "exec-command", nil, "exec: the upgrade command and its arguments, comma-separated (an admin-only setting: docs/upgrades.md)")
	fs.StringSliceVar(&f.execVersions, "exec-available-versions", nil, "exec: the Kubernetes versions the command can reach (default any)")
	fs.Int32Var(&f.execTimeout, "exec-timeout-seconds", 0, "exec: how long one upgrade may take (default 3600)")
	fs.BoolVar(&f.execIdempotent, "exec-idempotent", false, "exec: the command may safely run again for the same target")
}

// providerSettings are the settings flags of each provider.
var providerSettings = map[fleetv1.ProviderType][]string{
	fleetv1.ProviderAKS:        {"resource-id", "admin-credential"},
	fleetv1.ProviderEKS:        {"cluster", "region"},
	fleetv1.ProviderGKE:        {"project", "location", "cluster"},
	fleetv1.ProviderClusterAPI: {"management-kubeconfig", "cluster-namespace", "cluster", "node-image-variable"},
	fleetv1.ProviderExec:       {"exec-command", "exec-available-versions", "exec-timeout-seconds", "exec-idempotent"},
}

// changed reports whether any provider flag was given.
func (f *providerFlags) changed(fs *pflag.FlagSet) bool {
	if fs.Changed("provider") {
		return true
	}
	for _, names := range providerSettings {
		for _, name := range names {
			if fs.Changed(name) {
				return true
			}
		}
	}
	return false
}

// spec builds the provider spec the flags describe, or nil without
// --provider. It refuses settings of another provider and missing ones.
func (f *providerFlags) spec(fs *pflag.FlagSet) (*fleetv1.ProviderSpec, error) {
	if f.provider == "" {
		if f.changed(fs) {
			return nil, fmt.Errorf("provider settings given without --provider")
		}
		return nil, nil
	}
	typ, ok := providerNames[strings.ToLower(f.provider)]
	if !ok {
		return nil, fmt.Errorf("unknown --provider %q: use aks, eks, gke, cluster-api or exec", f.provider)
	}
	for _, names := range providerSettings {
		for _, name := range names {
			if fs.Changed(name) && !slices.Contains(providerSettings[typ], name) {
				return nil, fmt.Errorf("--%s is not a setting of --provider %s", name, f.provider)
			}
		}
	}
	required := func(pairs ...string) error {
		var missing []string
		for i := 0; i < len(pairs); i += 2 {
			if pairs[i+1] == "" {
				missing = append(missing, "--"+pairs[i])
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("--provider %s needs %s", f.provider, strings.Join(missing, ", "))
		}
		return nil
	}
	spec := &fleetv1.ProviderSpec{Type: typ}
	switch typ {
	case fleetv1.ProviderAKS:
		if err := required("resource-id", f.resourceID); err != nil {
			return nil, err
		}
		spec.AKS = &fleetv1.AKSProvider{ResourceID: f.resourceID}
	case fleetv1.ProviderEKS:
		if err := required("cluster", f.cluster, "region", f.region); err != nil {
			return nil, err
		}
		spec.EKS = &fleetv1.EKSProvider{Cluster: f.cluster, Region: f.region}
	case fleetv1.ProviderGKE:
		if err := required("project", f.project, "location", f.location, "cluster", f.cluster); err != nil {
			return nil, err
		}
		spec.GKE = &fleetv1.GKEProvider{Project: f.project, Location: f.location, Cluster: f.cluster}
	case fleetv1.ProviderClusterAPI:
		if err := required("management-kubeconfig", f.managementKubeconfig, "cluster", f.cluster); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(f.managementKubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading --management-kubeconfig: %w", err)
		}
		f.managementContent = data
		spec.ClusterAPI = &fleetv1.ClusterAPIProvider{Namespace: f.clusterNamespace, Name: f.cluster, NodeImageVariable: f.nodeImageVariable}
	case fleetv1.ProviderExec:
		if len(f.execCommand) == 0 {
			return nil, fmt.Errorf("--provider exec needs --exec-command")
		}
		spec.Exec = &fleetv1.ExecProvider{Command: f.execCommand, AvailableVersions: f.execVersions, TimeoutSeconds: f.execTimeout, Idempotent: f.execIdempotent}
	}
	return spec, nil
}

// providerTimeout bounds one call to a member's cloud from the CLI.
const providerTimeout = 30 * time.Second

// cliProvider is the provider for spec as this CLI reaches it, with the
// CLI user's own cloud credentials.
func cliProvider(hub client.Reader, spec *fleetv1.ProviderSpec) (upgrade.Provider, error) {
	return assessmentProviders(hub).For(spec)
}

// fetchKubeconfig asks a member's cloud for a kubeconfig, for a member
// created with --provider and no --kubeconfig.
// management, for a Cluster API member, is the management cluster's
// kubeconfig, not yet stored on the hub.
func fetchKubeconfig(ctx context.Context, hub client.Reader, name string, spec *fleetv1.ProviderSpec, admin bool, management []byte) ([]byte, error) {
	providers := assessmentProviders(hub)
	if management != nil {
		providers = providers.WithSecrets(func(context.Context, fleetv1.SecretKeyReference) ([]byte, error) { return management, nil })
	}
	p, err := providers.For(spec)
	if err != nil {
		return nil, err
	}
	fetcher, ok := p.(upgrade.KubeconfigFetcher)
	if !ok {
		return nil, fmt.Errorf("--kubeconfig is required: provider %s cannot fetch a member's credentials", spec.Type)
	}
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	data, err := fetcher.FetchKubeconfig(ctx, upgrade.Member{Name: name, Provider: *spec}, admin)
	if err != nil {
		return nil, fmt.Errorf("fetching the member's kubeconfig from %s: %w", spec.Type, err)
	}
	return data, nil
}

// providerView asks the member's provider how it sees the member, for
// `member show`; nil for providers that do not describe members.
func providerView(cmd *cobra.Command, hub client.Reader, m *fleetv1.MemberCluster) (*upgrade.MemberView, error) {
	if m.Spec.Provider == nil {
		return nil, nil
	}
	p, err := cliProvider(hub, m.Spec.Provider)
	if err != nil {
		return nil, err
	}
	d, ok := p.(upgrade.Describer)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), providerTimeout)
	defer cancel()
	view, err := d.Describe(ctx, upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider})
	if err != nil {
		return nil, err
	}
	return &view, nil
}

// describeProviderView prints a provider's view of a member.
func describeProviderView(cmd *cobra.Command, v *upgrade.MemberView) error {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "  Control plane: %s", orDash(v.ControlPlaneVersion))
	if v.State != "" {
		fmt.Fprintf(w, " (%s)", v.State)
	}
	fmt.Fprintln(w)
	if v.Operation != "" {
		fmt.Fprintf(w, "  Operation:     %s\n", v.Operation)
	}
	fmt.Fprintf(w, "  Upgrades to:   %s\n", orDash(strings.Join(v.UpgradableVersions, ", ")))
	if len(v.Pools) > 0 {
		t := &table{headers: []string{"  POOL", "OS", "COUNT", "VERSION", "NODE IMAGE", "LATEST IMAGE", "MAX SURGE", "STATE"}}
		for _, p := range v.Pools {
			t.add("  "+p.Name, orDash(p.OS), fmt.Sprint(p.Count), orDash(p.KubernetesVersion), orDash(p.NodeImageVersion), orDash(p.LatestNodeImageVersion), orDash(p.MaxSurge), orDash(p.State))
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	for _, win := range v.Windows {
		kind := "window"
		if win.Exclusion {
			kind = "exclusion"
		}
		fmt.Fprintf(w, "  Maintenance %s %s: %s\n", kind, win.Name, win.Schedule)
	}
	return nil
}

// memberWithView is `member show -o json|yaml` of a member whose provider
// describes it: the member, and the provider's view under providerView.
type memberWithView struct {
	*fleetv1.MemberCluster
	ProviderView *upgrade.MemberView `json:"providerView"`
}
