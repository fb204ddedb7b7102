package agent_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestATokenIsRenewedAtFourFifthsOfItsLife(t *testing.T) {
	iat := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if got := agent.RenewAt(iat, iat.Add(10*time.Hour)); !got.Equal(iat.Add(8 * time.Hour)) {
		t.Fatalf("RenewAt = %s", got)
	}
	if got := agent.RenewAt(iat, iat); !got.Equal(iat) {
		t.Fatalf("a token without a life is renewed at once, not at %s", got)
	}
}

// fakeJWT is an unsigned token with the claims the agent reads.
func fakeJWT(t *testing.T, sub string, iat time.Time, life time.Duration) string {
	t.Helper()
	claims, err := json.Marshal(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": iat.Add(life).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + ".sig"
}

func writeKubeconfig(t *testing.T, path, token string) {
	t.Helper()
	doc := `apiVersion: v1
kind: Config
clusters: [{name: hub, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: agent, user: {token: "` + token + `"}}]
contexts: [{name: hub, context: {cluster: hub, user: agent, namespace: flotilla-member-m1}}]
current-context: hub
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadHubConfigReadsTheTokenFromAFileAndPrefersTheNewestKept(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "hub.kubeconfig")
	now := time.Now()
	old := fakeJWT(t, "system:serviceaccount:flotilla-member-m1:flotilla-agent", now.Add(-time.Hour), 24*time.Hour)
	writeKubeconfig(t, kubeconfig, old)
	state := filepath.Join(dir, "state")
	cfg, creds, err := agent.LoadHubConfig(kubeconfig, "", state)
	if err != nil {
		t.Fatal(err)
	}
	if creds == nil || cfg.BearerToken != "" || cfg.BearerTokenFile != creds.TokenFile {
		t.Fatalf("config %+v, credentials %+v", cfg, creds)
	}
	if creds.Namespace != "flotilla-member-m1" || creds.ServiceAccount != "flotilla-agent" {
		t.Fatalf("identity %s/%s", creds.Namespace, creds.ServiceAccount)
	}
	// A token the agent renewed earlier outlives a restart.
	renewed := fakeJWT(t, "system:serviceaccount:flotilla-member-m1:flotilla-agent", now, 24*time.Hour)
	if err := os.WriteFile(creds.TokenFile, []byte(renewed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, creds, err = agent.LoadHubConfig(kubeconfig, "", state); err != nil {
		t.Fatal(err)
	}
	if kept, _ := os.ReadFile(creds.TokenFile); string(kept) != renewed {
		t.Fatal("the renewed token was replaced by the kubeconfig's older one")
	}
}

func TestLoadHubConfigLeavesATokenThatIsNotAServiceAccountsAlone(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "hub.kubeconfig")
	writeKubeconfig(t, kubeconfig, "opaque-token")
	cfg, creds, err := agent.LoadHubConfig(kubeconfig, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if creds != nil || cfg.BearerToken != "opaque-token" {
		t.Fatalf("config %+v, credentials %+v", cfg, creds)
	}
}

// TestTheAgentRenewsItsOwnTokenAndNoOneElses joins a member on a real hub,
// then renews the agent's token through the identity join made.
func TestTheAgentRenewsItsOwnTokenAndNoOneElses(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"m1"}})
	ctx := t.Context()
	memberKubeconfig, err := env.Member("m1").Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	joined, err := enrollment.Join(ctx, env.Hub.Client, enrollment.JoinRequest{Name: "m1", MemberKubeconfig: memberKubeconfig, HubConfig: env.Hub.Config})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "hub.kubeconfig")
	if err := os.WriteFile(kubeconfig, joined.HubKubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, creds, err := agent.LoadHubConfig(kubeconfig, "", filepath.Join(dir, "state"))
	if err != nil || creds == nil {
		t.Fatalf("LoadHubConfig: %v, %v", creds, err)
	}
	first, _ := os.ReadFile(creds.TokenFile)
	hub, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Renew as if the token were at 90% of its life.
	if err := creds.RefreshAt(ctx, hub, time.Now().Add(7*24*time.Hour*9/10)); err != nil {
		t.Fatalf("renewing: %v", err)
	}
	second, _ := os.ReadFile(creds.TokenFile)
	if bytes.Equal(second, first) {
		t.Fatal("the token was not renewed")
	}
	// The renewed token works (client-go re-reads the file).
	c, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "m1"}, &fleetv1.MemberCluster{}); err != nil {
		t.Fatalf("reading its own MemberCluster with the renewed token: %v", err)
	}
	// No token for anyone else.
	seconds := int64(3600)
	_, err = hub.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a token for kube-system/default: %v, want Forbidden", err)
	}
	// A rotated kubeconfig (a rejoin) is taken without a restart.
	time.Sleep(time.Second) // a later iat than the renewed token's
	rejoined, err := enrollment.Join(ctx, env.Hub.Client, enrollment.JoinRequest{Name: "m1", HubConfig: env.Hub.Config})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, rejoined.HubKubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := creds.RefreshAt(ctx, hub, time.Now()); err != nil {
		t.Fatal(err)
	}
	third, _ := os.ReadFile(creds.TokenFile)
	if bytes.Equal(third, second) {
		t.Fatal("the rotated kubeconfig's token was not taken")
	}
}
