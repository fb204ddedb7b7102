package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestProviderFlagsBuildTheSpecOrSayWhatIsWrong(t *testing.T) {
	mgmt := filepath.Join(t.TempDir(), "mgmt")
	if err := os.WriteFile(mgmt, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args    []string
		want    *fleetv1.ProviderSpec
		wantErr string
	}{
		{args: nil},
		{args: []string{"--provider", "aks", "--resource-id", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c"},
			want: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c"}}},
		{args: []string{"--provider", "AKS"}, wantErr: "--provider AKS needs --resource-id"},
		{args: []string{"--provider", "eks", "--cluster", "prod", "--region", "us-east-1"},
			want: &fleetv1.ProviderSpec{Type: fleetv1.ProviderEKS, EKS: &fleetv1.EKSProvider{Cluster: "prod", Region: "us-east-1"}}},
		{args: []string{"--provider", "eks", "--cluster", "prod"}, wantErr: "needs --region"},
		{args: []string{"--provider", "gke", "--project", "p", "--location", "europe-west1", "--cluster", "c"},
			want: &fleetv1.ProviderSpec{Type: fleetv1.ProviderGKE, GKE: &fleetv1.GKEProvider{Project: "p", Location: "europe-west1", Cluster: "c"}}},
		{args: []string{"--provider", "gke", "--cluster", "c"}, wantErr: "needs --project, --location"},
		{args: []string{"--provider", "cluster-api", "--management-kubeconfig", mgmt, "--cluster", "c", "--cluster-namespace", "fleet"},
			want: &fleetv1.ProviderSpec{Type: fleetv1.ProviderClusterAPI, ClusterAPI: &fleetv1.ClusterAPIProvider{Namespace: "fleet", Name: "c"}}},
		{args: []string{"--provider", "capi", "--management-kubeconfig", filepath.Join(t.TempDir(), "missing"), "--cluster", "c"}, wantErr: "reading --management-kubeconfig"},
		{args: []string{"--provider", "exec", "--exec-command", "az,aks,upgrade", "--exec-idempotent"},
			want: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"az", "aks", "upgrade"}, Idempotent: true}}},
		{args: []string{"--provider", "exec"}, wantErr: "needs --exec-command"},
		{args: []string{"--provider", "eks", "--cluster", "c", "--region", "r", "--resource-id", "x"}, wantErr: "--resource-id is not a setting of --provider eks"},
		{args: []string{"--region", "r"}, wantErr: "provider settings given without --provider"},
		{args: []string{"--provider", "moon"}, wantErr: `unknown --provider "moon"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var f providerFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.spec(fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("spec %+v, want %+v", got, tc.want)
			}
		})
	}
}
