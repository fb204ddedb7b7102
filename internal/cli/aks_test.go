package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/provider/aks/akstest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// aksCluster is a modelled AKS cluster on 1.36.3, offered 1.37.x, with an
// Ubuntu and an Azure Linux pool, whose credentials reach kubeconfig.
func aksCluster(name string, kubeconfig []byte) *akstest.Cluster {
	return &akstest.Cluster{
		Name: name, Version: "1.36.3", Offered: []string{"1.37.0", "1.37.2"},
		Pools: []*akstest.Pool{
			{Name: "system", OSSKU: "Ubuntu", Count: 3, Version: "1.36.3", Image: "AKSUbuntu-2204gen2containerd-202611.01.0", Latest: "AKSUbuntu-2204gen2containerd-202611.20.0", MaxSurge: "33%"},
			{Name: "user", OSSKU: "AzureLinux", Count: 5, Version: "1.36.3", Image: "AKSAzureLinux-V3gen2-202611.01.0", Latest: "AKSAzureLinux-V3gen2-202611.20.0", MaxSurge: "1"},
		},
		Maintenance: []*armcontainerservice.MaintenanceConfiguration{{
			Name: to.Ptr("aksManagedAutoUpgradeSchedule"),
			Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
				Schedule:  &armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{DayOfWeek: to.Ptr(armcontainerservice.WeekDaySunday), IntervalWeeks: to.Ptr[int32](1)}},
				StartTime: to.Ptr("00:00"), UTCOffset: to.Ptr("+01:00"), DurationHours: to.Ptr[int32](4),
				NotAllowedDates: []*armcontainerservice.DateSpan{{Start: date("2026-12-20"), End: date("2027-01-03")}},
			}},
		}},
		UserKubeconfig:  kubeconfig,
		AdminKubeconfig: kubeconfig,
	}
}

func date(s string) *time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &d
}

// execKubeconfig is what an Azure AD cluster's user credential looks like:
// its user runs kubelogin.
func execKubeconfig(server string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: aad
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: clusterUser_aad
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --login, azurecli, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]
contexts:
- name: aad
  context: {cluster: aad, user: clusterUser_aad}
current-context: aad
`, server)
}

// useAKSCloud points the CLI's AKS provider at cloud for the test.
func useAKSCloud(t *testing.T, cloud *akstest.Cloud) {
	t.Helper()
	old := cloudFactories[fleetv1.ProviderAKS]
	cloudFactories[fleetv1.ProviderAKS] = cloud.Factory()
	t.Cleanup(func() { cloudFactories[fleetv1.ProviderAKS] = old })
}

func aksHubClient(t *testing.T, env *testenv.Env) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(env.Hub.Config, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAKSMemberCreateFetchesTheKubeconfigAndShowPrintsAKSsView(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	kubeconfig, err := env.Hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	aad := aksCluster("aks-aad", kubeconfig)
	aad.UserKubeconfig = execKubeconfig(env.Hub.Config.Host)
	cloud := akstest.New(aksCluster("aks-eu-1", kubeconfig), aad)
	useAKSCloud(t, cloud)
	c := aksHubClient(t, env)

	id := akstest.ResourceID("rg-fleet", "aks-eu-1")
	if _, _, err := runCLI(c, "member", "create", "aks-eu-1", "--provider", "aks", "--resource-id", id, "--update-group", "group-prod-canary-eu"); err != nil {
		t.Fatalf("member create: %v", err)
	}
	m := &fleetv1.MemberCluster{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: "aks-eu-1"}, m); err != nil {
		t.Fatal(err)
	}
	if p := m.Spec.Provider; p == nil || p.Type != fleetv1.ProviderAKS || p.AKS == nil || p.AKS.ResourceID != id {
		t.Fatalf("provider %+v", m.Spec.Provider)
	}
	out, _, err := runCLI(c, "member", "show", "aks-eu-1")
	if err != nil {
		t.Fatalf("member show: %v", err)
	}
	for _, want := range []string{
		"Control plane: v1.36.3 (Succeeded)", "Upgrades to:   v1.37.0, v1.37.2",
		"AKSUbuntu-2204gen2containerd-202611.20.0", "33%",
		"Maintenance window aksManagedAutoUpgradeSchedule: every week on Sunday, 00:00 +01:00 for 4h",
		"Maintenance exclusion aksManagedAutoUpgradeSchedule/notAllowedDates: 2026-12-20 to 2027-01-03",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("member show lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(c, "member", "show", "aks-eu-1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		ProviderView struct {
			ControlPlaneVersion string `json:"controlPlaneVersion"`
			Pools               []struct {
				Name     string `json:"name"`
				MaxSurge string `json:"maxSurge"`
			} `json:"pools"`
		} `json:"providerView"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.ProviderView.ControlPlaneVersion != "v1.36.3" || len(shown.ProviderView.Pools) != 2 {
		t.Errorf("member show -o json: %v\n%s", err, out)
	}

	// An AAD cluster's user kubeconfig runs kubelogin: refused unless
	// asked for; the admin credential is a plain one.
	aadID := akstest.ResourceID("rg-fleet", "aks-aad")
	if _, _, err := runCLI(c, "member", "create", "aks-aad", "--provider", "aks", "--resource-id", aadID); err == nil || !strings.Contains(err.Error(), `exec plugin "kubelogin"`) {
		t.Fatalf("member create of an AAD cluster's user credential: %v", err)
	}
	if _, _, err := runCLI(c, "member", "create", "aks-aad", "--provider", "aks", "--resource-id", aadID, "--admin-credential"); err != nil {
		t.Fatalf("member create --admin-credential: %v", err)
	}
}

// TestAKSDocsWorkflow runs every flotilla command of docs/aks.md, in
// order, against a real hub API server with the hub's controllers running
// in-process and the AKS provider talking to the SDK's fake servers in
// front of a model of the seed's six clusters.
func TestAKSDocsWorkflow(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "aks.md"))
	if err != nil {
		t.Fatal(err)
	}
	commands, outputs := docCommands(t, string(page))
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"aks"}})
	kubeconfig, err := env.Members[0].Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"aks-dev-weu", "aks-dev-eus", "aks-canary-weu", "aks-canary-eus", "aks-primary-neu", "aks-primary-eus", "aks-aad-weu"}
	cloud := akstest.New()
	for _, n := range names {
		cl := aksCluster(n, kubeconfig)
		if n == "aks-aad-weu" {
			cl.UserKubeconfig = execKubeconfig(env.Members[0].Config.Host)
		}
		cloud.Add(cl)
	}
	useAKSCloud(t, cloud)
	ctx, cancel := context.WithCancel(t.Context())
	hubDone := make(chan error, 1)
	go func() {
		hubDone <- hub.Run(ctx, env.Hub.Config, hub.Options{
			MetricsAddress: "0", HealthAddress: "0", StateDir: t.TempDir(), Instance: "hub-aks-docs",
			MaxConcurrentProbes: 8, UpgradeProviders: map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderAKS: cloud.Factory()},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-hubDone; err != nil && ctx.Err() == nil {
			t.Errorf("hub: %v", err)
		}
	})
	c := aksHubClient(t, env)
	const run = "k8s-1-37-rollout"

	for i, args := range commands {
		line := "flotilla " + strings.Join(args, " ")
		switch {
		case args[0] == "updaterun" && args[1] == "create":
			// The hub must have probed the members first.
			testenv.Eventually(t, time.Minute, "the members probed", func() error {
				list := &fleetv1.MemberClusterList{}
				if err := c.List(t.Context(), list); err != nil {
					return err
				}
				for _, m := range list.Items {
					if m.Status.KubernetesVersion == "" {
						return fmt.Errorf("%s not probed yet", m.Name)
					}
				}
				return nil
			})
		case args[0] == "gate" && args[1] == "list":
			testenv.Eventually(t, 2*time.Minute, "the approval gate pending", func() error {
				if pendingGate(t, c, run) == "" {
					return fmt.Errorf("no pending gate; run %s", aksRunState(t, c, run))
				}
				return nil
			})
		case args[0] == "gate" && args[1] == "approve":
			for j := range args {
				if args[j] == "GATE_NAME" {
					args[j] = pendingGate(t, c, run)
				}
			}
		}
		cmdCtx, cancelCmd := context.WithTimeout(t.Context(), 3*time.Minute)
		out, stderr, err := runCLIContext(cmdCtx, c, args...)
		cancelCmd()
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", line, err, out, stderr)
		}
		t.Logf("%s\n%s", line, out)
		if want, ok := outputs[i]; ok {
			for _, w := range strings.Split(strings.TrimSpace(want), "\n") {
				if !strings.Contains(squash(out), squash(w)) {
					t.Errorf("%s: the output lacks the page's line %q:\n%s", line, w, out)
				}
			}
		}
		if args[0] == "gate" && args[1] == "list" && !strings.Contains(out, pendingGate(t, c, run)) {
			t.Errorf("gate list does not show the pending gate:\n%s", out)
		}
	}

	r := &fleetv1.UpdateRun{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: run}, r); err != nil {
		t.Fatal(err)
	}
	if r.Status.State != fleetv1.StateCompleted {
		t.Fatalf("run %s: %s", r.Status.State, r.Status.Message)
	}
	for _, n := range names[:6] {
		cl := cloud.Cluster(n)
		if cl.Current != "1.37.2" || cloud.UpgradeRequests(n) != 1 {
			t.Errorf("%s: control plane %s after %d upgrade requests, want 1.37.2 after 1", n, cl.Current, cloud.UpgradeRequests(n))
		}
		for _, p := range cl.Pools {
			if p.Current != "1.37.2" || p.MaxSurge == "" {
				t.Errorf("%s pool %s: %+v", n, p.Name, p)
			}
		}
	}
	if n := cloud.UpgradeRequests("aks-aad-weu"); n != 0 {
		t.Errorf("the member created after the run got %d upgrade requests", n)
	}
}

func pendingGate(t *testing.T, c client.Client, run string) string {
	t.Helper()
	gates := &fleetv1.GateList{}
	if err := c.List(t.Context(), gates); err != nil {
		t.Fatal(err)
	}
	for _, g := range gates.Items {
		if g.Spec.Target.UpdateRun == run && g.Spec.State == fleetv1.GatePending {
			return g.Name
		}
	}
	return ""
}

func aksRunState(t *testing.T, c client.Client, run string) string {
	t.Helper()
	r := &fleetv1.UpdateRun{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: run}, r); err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s;", r.Status.State, r.Status.Message)
	for _, s := range r.Status.Stages {
		fmt.Fprintf(&b, " %s=%s", s.Name, s.State)
	}
	return b.String()
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// runCLIContext is runCLI with ctx.
func runCLIContext(ctx context.Context, hubClient client.WithWatch, args ...string) (stdout, stderr string, err error) {
	root := newRootCommand(&globalOptions{connect: func(*globalOptions) (client.WithWatch, error) { return hubClient, nil }})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// docCommands are the flotilla commands of a page's ```sh blocks, split
// into arguments as a POSIX shell would (quotes, backslash-newline), and
// the plain ``` block that follows a command's block, where there is one,
// as the output expected of that block's last command.
func docCommands(t *testing.T, page string) (commands [][]string, outputs map[int]string) {
	t.Helper()
	outputs = map[int]string{}
	var block strings.Builder
	fence, after := "", -1
	for _, line := range strings.Split(page, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && strings.HasPrefix(trimmed, "```"):
			fence = strings.TrimPrefix(trimmed, "```")
			block.Reset()
			continue
		case fence != "" && trimmed == "```":
			switch fence {
			case "sh":
				for _, cmd := range shellWords(t, block.String()) {
					if len(cmd) > 0 && cmd[0] == "flotilla" {
						commands = append(commands, cmd[1:])
					}
				}
				after = len(commands) - 1
			case "":
				if after >= 0 {
					outputs[after] = block.String()
				}
				after = -1
			}
			fence = ""
			continue
		case fence != "":
			block.WriteString(line + "\n")
			continue
		}
		if trimmed != "" {
			after = -1 // prose between a command and a plain block: not its output
		}
	}
	if len(commands) == 0 {
		t.Fatal("the page has no flotilla commands")
	}
	return commands, outputs
}

// shellWords splits a script into commands of words.
func shellWords(t *testing.T, script string) [][]string {
	t.Helper()
	var (
		cmds        [][]string
		words       []string
		word        strings.Builder
		inWord      bool
		quote       rune
		commentLine bool
	)
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	rs := []rune(script)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case commentLine:
			if r == '\n' {
				commentLine = false
				flushCmd()
			}
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs) && rs[i+1] == '\n':
			i++
		case r == '#' && !inWord:
			commentLine = true
		case r == '\n':
			flushCmd()
		case r == ' ' || r == '\t':
			flushWord()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", script)
	}
	flushCmd()
	return cmds
}
