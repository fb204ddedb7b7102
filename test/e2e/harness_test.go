// Package e2e drives the flotilla CLI, as an operator would, against local
// fleets of real kube-apiserver and etcd processes.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// flotilla is the binary under test, built once by TestMain.
var flotilla string

// repoRoot is the repository's top directory.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// Explicit: -short runs only unit tests.
		fmt.Println("e2e:", testenv.ShortSkipMessage)
		return 0
	}
	if err := testenv.ToolsError(missingTools(toolchain.Default())); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Join(wd, "..", "..")
	binary, remove, err := testenv.BuildFlotilla(repoRoot)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	flotilla = binary
	return m.Run()
}

// missingTools lists what the end-to-end tests need and is not built: a
// whole local fleet, and the kubectl and jq that the operator's health-check
// scripts call by name.
func missingTools(tc toolchain.Toolchain) []string {
	missing := tc.Missing()
	for _, name := range []string{"kubectl", "jq"} {
		path := filepath.Join(tc.CacheDir, "path", name)
		if _, err := os.Stat(path); err != nil {
			missing = append(missing, path)
		}
	}
	return missing
}

// fleet is a local fleet started for one test, and the environment to talk
// to it through the CLI.
type fleet struct {
	t        *testing.T
	stateDir string
	name     string
	env      []string
}

// upFleet starts a local fleet from a config and takes it down when the
// test ends, whatever happens.
func upFleet(t *testing.T, config string) *fleet {
	t.Helper()
	f := &fleet{t: t, stateDir: t.TempDir(), name: "e2e"}
	cfg := filepath.Join(f.stateDir, "fleet.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	tc := toolchain.Default()
	f.env = append(os.Environ(),
		"FLOTILLA_HUB_KUBECONFIG="+f.dir("hub.kubeconfig"),
		// The operator's scripts call kubectl and jq by name.
		"PATH="+filepath.Join(tc.CacheDir, "path")+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	t.Cleanup(func() {
		if t.Failed() {
			f.dumpHubLog()
		}
		if _, stderr, err := f.run("local", "down", "--name", f.name, "--state-dir", f.stateDir); err != nil {
			t.Errorf("local down: %v\n%s", err, stderr)
		}
	})
	f.must("local", "up", "--config", cfg, "--name", f.name, "--state-dir", f.stateDir)
	return f
}

func (f *fleet) dir(parts ...string) string {
	return filepath.Join(append([]string{f.stateDir, f.name}, parts...)...)
}

func (f *fleet) dumpHubLog() {
	if out, _, err := f.run("updaterun", "list"); err == nil {
		f.t.Logf("update runs:\n%s", out)
		for _, line := range strings.Split(out, "\n")[1:] {
			if fields := strings.Fields(line); len(fields) > 0 {
				show, _, _ := f.run("updaterun", "show", "-n", fields[0])
				f.t.Logf("%s", show)
			}
		}
	}
	// A drill that replaced the hub runs a second manager beside the first's log.
	for _, log := range []string{"hub-manager.log", "hub-manager-restored.log"} {
		data, err := os.ReadFile(f.dir(log))
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		f.t.Logf("last lines of %s:\n%s", log, strings.Join(lines, "\n"))
	}
	agentLogs, _ := filepath.Glob(f.dir("agents", "*.log"))
	for _, path := range agentLogs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		f.t.Logf("last lines of %s:\n%s", filepath.Base(path), strings.Join(lines, "\n"))
	}
}

// run runs the CLI and returns its output and error.
func (f *fleet) run(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, flotilla, args...)
	cmd.Env = f.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs the CLI and fails the test if it fails.
func (f *fleet) must(args ...string) string {
	f.t.Helper()
	out, errOut, err := f.run(args...)
	if err != nil {
		f.t.Fatalf("flotilla %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// mustFail runs the CLI, expects a non-zero exit, and returns stderr.
func (f *fleet) mustFail(args ...string) string {
	f.t.Helper()
	out, errOut, err := f.run(args...)
	if err == nil {
		f.t.Fatalf("flotilla %s succeeded, want a failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// json runs the CLI with -o json and decodes its output into v.
func (f *fleet) json(v any, args ...string) {
	f.t.Helper()
	out := f.must(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		f.t.Fatalf("flotilla %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// eventually polls cond until it holds or timeout passes, and returns how
// long that took.
func (f *fleet) eventually(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	f.t.Helper()
	return testenv.Eventually(f.t, timeout, what, func() error {
		if ok, state := cond(); !ok {
			return fmt.Errorf("last seen: %s", state)
		}
		return nil
	})
}

// statusRow is one member in `flotilla status -o json`.
type statusRow struct {
	Name       string `json:"name"`
	Group      string `json:"group"`
	Version    string `json:"version"`
	ReadyNodes int32  `json:"readyNodes"`
	Nodes      int32  `json:"nodes"`
	FailedPods int32  `json:"failedPods"`
	Health     string `json:"health"`
}

func (f *fleet) status() map[string]statusRow {
	f.t.Helper()
	var st struct {
		Members []statusRow `json:"members"`
	}
	f.json(&st, "status")
	out := map[string]statusRow{}
	for _, r := range st.Members {
		out[r.Name] = r
	}
	return out
}

// waitHealthy waits until every named member is Healthy.
func (f *fleet) waitHealthy(names ...string) {
	f.t.Helper()
	f.eventually(60*time.Second, "members Healthy", func() (bool, string) {
		st := f.status()
		for _, n := range names {
			if st[n].Health != "Healthy" {
				return false, fmt.Sprintf("%s is %q", n, st[n].Health)
			}
		}
		return true, ""
	})
}

func (f *fleet) getRun(name string) fleetv1.UpdateRun {
	f.t.Helper()
	var run fleetv1.UpdateRun
	f.json(&run, "updaterun", "show", "-n", name)
	return run
}

func stageProgress(run fleetv1.UpdateRun, stage string) fleetv1.StageProgress {
	for _, st := range run.Status.Stages {
		if st.Name == stage {
			return st
		}
	}
	return fleetv1.StageProgress{}
}

// upgradeAttempts counts the upgrade operations the hub started for a member.
func (f *fleet) upgradeAttempts(run, member string) int {
	f.t.Helper()
	entries, err := filepath.Glob(f.dir("hub-manager", "operations", run+"_"+member+"-*"))
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e, ".env") {
			n++
		}
	}
	return n
}
