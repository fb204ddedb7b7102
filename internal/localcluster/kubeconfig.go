package localcluster

import (
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminGroup is the group whose members may do anything on a cluster.
const AdminGroup = "system:masters"

// kubeconfig renders a kubeconfig for one user of a cluster with every
// credential inline: the hub stores member kubeconfigs in Secrets, where a
// path to a file on this machine would mean nothing.
func kubeconfig(clusterName, server string, caPEM, certPEM, keyPEM []byte, user string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	}
	cfg.Contexts[clusterName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: user}
	cfg.CurrentContext = clusterName
	return clientcmd.Write(*cfg)
}

// UserKubeconfig returns a kubeconfig that authenticates as user in groups
// with a fresh client certificate from the cluster's CA. Together with RBAC
// it gives agents and tests restricted access without restarting anything.
func (c *Cluster) UserKubeconfig(user string, groups ...string) ([]byte, error) {
	certPEM, keyPEM, err := c.pki().clientCert(user, groups)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.pki().caCert())
	if err != nil {
		return nil, err
	}
	s := c.State()
	return kubeconfig(s.Name, s.Server, caPEM, certPEM, keyPEM, user)
}

func restConfigFrom(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	// Local clusters serve few clients; the client-side default of 5 QPS
	// only slows set-up down.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}
