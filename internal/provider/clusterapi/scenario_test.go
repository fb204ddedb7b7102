package clusterapi

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
	"github.com/flotilla-dev/flotilla/internal/upgrade/providertest"
)

// TestScenario runs the scenario every cloud provider passes, on a real
// hub, with the members' Clusters on a second real API server that has
// Cluster API's CRDs and the test's stand-in for its controllers. The
// provider reads the management kubeconfig from a hub Secret, as a hub
// does.
func TestScenario(t *testing.T) {
	mgmt := startManagement(t)
	md := newModel(t, mgmt)
	mgmt.class(t, "quick-start", []string{fromVersion, toVersion}, []string{fromImage, toImage})
	mgmt.class(t, "old-versions", []string{"v1.35.4", fromVersion}, nil)
	names := providertest.MemberNames
	secret := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: enrollment.Namespace, Name: "capi-management"},
		Data:       map[string][]byte{enrollment.KubeconfigKey: mgmt.kubeconfig},
	}
	spec := func(name, variable string) fleetv1.ProviderSpec {
		s := providerSpec(name, variable)
		s.ClusterAPI.ManagementKubeconfigSecretRef = fleetv1.SecretKeyReference{Namespace: secret.Namespace, Name: secret.Name, Key: enrollment.KubeconfigKey}
		return s
	}
	var members [3]fleetv1.ProviderSpec
	for i := range members {
		mgmt.workload(t, names[i], "quick-start", fromVersion, fromImage, nil)
		members[i] = spec(names[i], imageVariable)
	}
	mgmt.workload(t, names[3], "old-versions", fromVersion, "", nil)
	providertest.Run(t, providertest.Scenario{
		Provider: fleetv1.ProviderClusterAPI,
		Factory: func(s *fleetv1.ProviderSpec, env upgrade.FactoryEnv) (upgrade.Provider, error) {
			p, err := Factory(s, env)
			if err != nil {
				return nil, err
			}
			p.(*Provider).config = md.watch
			return p, nil
		},
		Cloud:     md,
		Members:   members,
		Unoffered: spec(names[3], ""),
		From:      fromVersion,
		Target:    toVersion,
		Secrets:   []corev1.Secret{secret},
	})
}
