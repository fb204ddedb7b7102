package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// HubCredentials keep the agent's hub token fresh. The agent's clients read
// the token from a file in the state dir (client-go re-reads it every
// minute); the agent renews its token through a TokenRequest for its own
// ServiceAccount before it expires, and takes a newer token from its hub
// kubeconfig (a rotated Secret, a rejoin) without a restart.
type HubCredentials struct {
	// KubeconfigPath is the hub kubeconfig `flotilla member join` wrote, or
	// where its Secret is mounted.
	KubeconfigPath string
	// TokenFile is where the current token is kept for the clients.
	TokenFile string
	// Namespace and ServiceAccount name the agent's identity on the hub.
	Namespace, ServiceAccount string

	lastFromKubeconfig string
}

// credentialsCheckPeriod is how often the kubeconfig is looked at for a
// rotated token, and the renewal time checked.
const credentialsCheckPeriod = 30 * time.Second

// renewAtFraction of a token's lifetime is when it is renewed.
const renewAtFraction = 0.8

// LoadHubConfig reads a hub kubeconfig for the agent. When it holds a bearer
// token, the returned config reads the token from a file in stateDir
// instead, and the returned HubCredentials keep that file fresh; else (a
// client certificate, say) it returns the config as it is and nil.
func LoadHubConfig(kubeconfigPath, kubeContext, stateDir string) (*rest.Config, *HubCredentials, error) {
	raw, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the hub kubeconfig: %w", err)
	}
	cfg, namespace, err := parseHubKubeconfig(raw, kubeContext)
	if err != nil {
		return nil, nil, fmt.Errorf("hub kubeconfig %s: %w", kubeconfigPath, err)
	}
	if cfg.BearerToken == "" {
		return cfg, nil, nil
	}
	sa, err := serviceAccountOf(cfg.BearerToken)
	if err != nil {
		// Not a ServiceAccount token: nothing the agent can renew.
		return cfg, nil, nil //nolint:nilerr // an opaque token is used as it is
	}
	if sa.namespace != namespace && namespace != "" {
		return nil, nil, fmt.Errorf("hub kubeconfig %s: its token is for namespace %s, its context for %s", kubeconfigPath, sa.namespace, namespace)
	}
	creds := &HubCredentials{
		KubeconfigPath: kubeconfigPath,
		TokenFile:      filepath.Join(stateDir, "hub-token"),
		Namespace:      sa.namespace,
		ServiceAccount: sa.name,
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, nil, err
	}
	// A token renewed earlier and kept in the state dir wins over the
	// kubeconfig's when it is newer.
	token := cfg.BearerToken
	if kept, err := os.ReadFile(creds.TokenFile); err == nil && newer(string(kept), token) {
		token = string(kept)
	}
	if err := writeFileAtomically(creds.TokenFile, []byte(token)); err != nil {
		return nil, nil, err
	}
	creds.lastFromKubeconfig = cfg.BearerToken
	cfg.BearerToken = ""
	cfg.BearerTokenFile = creds.TokenFile
	return cfg, creds, nil
}

func parseHubKubeconfig(raw []byte, kubeContext string) (*rest.Config, string, error) {
	loaded, err := clientcmd.Load(raw)
	if err != nil {
		return nil, "", err
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*loaded, kubeContext, &clientcmd.ConfigOverrides{}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	return cfg, ns, nil
}

// Run keeps the token fresh until ctx ends.
func (c *HubCredentials) Run(ctx context.Context, hub kubernetes.Interface) {
	log := logr.FromContextOrDiscard(ctx).WithName("credentials")
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := c.RefreshAt(ctx, hub, time.Now()); err != nil {
			log.Error(err, "keeping the hub token fresh; trying again", "in", credentialsCheckPeriod)
		}
		timer.Reset(credentialsCheckPeriod)
	}
}

// RefreshAt takes a rotated token from the kubeconfig, and renews the
// current one if it is due at now.
func (c *HubCredentials) RefreshAt(ctx context.Context, hub kubernetes.Interface, now time.Time) error {
	current, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return err
	}
	token := string(current)
	if raw, err := os.ReadFile(c.KubeconfigPath); err == nil {
		if cfg, _, err := parseHubKubeconfig(raw, ""); err == nil && cfg.BearerToken != c.lastFromKubeconfig {
			c.lastFromKubeconfig = cfg.BearerToken
			// A rotated kubeconfig is the operator's word, unless the token
			// the agent holds was issued after it.
			if !newer(token, cfg.BearerToken) {
				token = cfg.BearerToken
				if err := writeFileAtomically(c.TokenFile, []byte(token)); err != nil {
					return err
				}
			}
		}
	}
	claims, err := claimsOf(token)
	if err != nil {
		return err
	}
	if now.Before(RenewAt(claims.issued(), claims.expires())) {
		return nil
	}
	seconds := int64(claims.expires().Sub(claims.issued()) / time.Second)
	resp, err := hub.CoreV1().ServiceAccounts(c.Namespace).CreateToken(ctx, c.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("renewing the hub token of %s/%s: %w", c.Namespace, c.ServiceAccount, err)
	}
	return writeFileAtomically(c.TokenFile, []byte(resp.Status.Token))
}

// RenewAt is when a token issued at iat and expiring at exp is renewed.
func RenewAt(iat, exp time.Time) time.Time {
	if !exp.After(iat) {
		return iat
	}
	return iat.Add(time.Duration(float64(exp.Sub(iat)) * renewAtFraction))
}

// tokenClaims are the parts of a ServiceAccount token the agent reads. The
// token is not verified here: the hub verifies it; the agent only needs to
// know when to renew it.
type tokenClaims struct {
	Subject  string `json:"sub"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
}

func (c tokenClaims) issued() time.Time  { return time.Unix(c.IssuedAt, 0) }
func (c tokenClaims) expires() time.Time { return time.Unix(c.Expiry, 0) }

func claimsOf(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errors.New("the hub token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenClaims{}, fmt.Errorf("the hub token's claims: %w", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, fmt.Errorf("the hub token's claims: %w", err)
	}
	if c.Expiry == 0 {
		return tokenClaims{}, errors.New("the hub token does not expire")
	}
	return c, nil
}

type serviceAccountRef struct{ namespace, name string }

func serviceAccountOf(token string) (serviceAccountRef, error) {
	c, err := claimsOf(token)
	if err != nil {
		return serviceAccountRef{}, err
	}
	// system:serviceaccount:<namespace>:<name>
	parts := strings.Split(c.Subject, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return serviceAccountRef{}, fmt.Errorf("the hub token is for %q, not a ServiceAccount", c.Subject)
	}
	return serviceAccountRef{namespace: parts[2], name: parts[3]}, nil
}

// newer reports whether token a was issued after token b (a token that
// cannot be read is never newer).
func newer(a, b string) bool {
	ca, err := claimsOf(a)
	if err != nil {
		return false
	}
	cb, err := claimsOf(b)
	if err != nil {
		return true
	}
	return ca.IssuedAt > cb.IssuedAt
}

func writeFileAtomically(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
