package testenv_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// outcome runs f with a testing.TB that records a skip or a failure instead
// of ending the real test.
func outcome(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

type recorder struct {
	testing.TB
	mu              sync.Mutex
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) { r.end(&r.skipped, fmt.Sprint(args...)) }

func (r *recorder) Skipf(format string, args ...any) { r.end(&r.skipped, fmt.Sprintf(format, args...)) }

func (r *recorder) Fatal(args ...any) { r.end(&r.failed, fmt.Sprint(args...)) }

func (r *recorder) Fatalf(format string, args ...any) { r.end(&r.failed, fmt.Sprintf(format, args...)) }

func (r *recorder) end(field *string, msg string) {
	r.mu.Lock()
	*field = msg
	r.mu.Unlock()
	runtime.Goexit()
}

func TestEventuallyReturnsOnceTheCheckPasses(t *testing.T) {
	calls := 0
	took := testenv.Eventually(t, 5*time.Second, "third call", func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 || took <= 0 || took > time.Second {
		t.Errorf("%d calls in %s, want 3 calls quickly", calls, took)
	}
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	r := outcome(t, func(tb testing.TB) {
		n := 0
		testenv.Eventually(tb, 50*time.Millisecond, "the moon turns green", func() error {
			n++
			return fmt.Errorf("still grey after %d looks", n)
		})
	})
	if !strings.Contains(r.failed, "the moon turns green: not within 50ms: still grey after") {
		t.Errorf("failure message %q", r.failed)
	}
}

func TestGoneWantsNotFound(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "x")
	refused := errors.New("connection refused")
	if err := testenv.Gone("ConfigMap x", notFound); err != nil {
		t.Errorf("NotFound: %v, want nil", err)
	}
	if err := testenv.Gone("ConfigMap x", nil); err == nil || err.Error() != "ConfigMap x still there" {
		t.Errorf("found: %v, want it still there", err)
	}
	if err := testenv.Gone("ConfigMap x", refused); !errors.Is(err, refused) {
		t.Errorf("another error: %v, want it wrapped", err)
	}
}

func TestToolsErrorNamesTheBinariesAndMakeTools(t *testing.T) {
	if err := testenv.ToolsError(nil); err != nil {
		t.Errorf("nothing missing: %v", err)
	}
	err := testenv.ToolsError([]string{"/c/bin/etcd-v3.6.16", "/c/bin/kwok-v0.7.0"})
	for _, want := range []string{"/c/bin/etcd-v3.6.16, /c/bin/kwok-v0.7.0", "make tools", "go test -short"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// Without the binaries an integration test fails, naming `make tools`;
// under -short it skips. It never passes having checked nothing.
func TestStartWithoutBinariesFailsOrSkipsUnderShort(t *testing.T) {
	t.Setenv(toolchain.CacheEnv, t.TempDir())
	r := outcome(t, func(tb testing.TB) {
		testenv.Start(tb, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"m1"}})
		tb.Errorf("Start returned without the binaries")
	})
	if testing.Short() {
		if r.skipped != testenv.ShortSkipMessage || r.failed != "" {
			t.Errorf("under -short: skipped %q, failed %q; want a skip", r.skipped, r.failed)
		}
		return
	}
	tc := toolchain.Default()
	for _, want := range []string{"make tools", "kube-apiserver-" + tc.NewestKubernetes(), "kube-apiserver-" + tc.OldestKubernetes(), "etcd-"} {
		if !strings.Contains(r.failed, want) {
			t.Errorf("failure %q lacks %q", r.failed, want)
		}
	}
	if strings.Contains(r.failed, "kwok") {
		t.Errorf("clusters without nodes do not need kwok: %q", r.failed)
	}
	if r.skipped != "" {
		t.Errorf("skipped %q without -short", r.skipped)
	}
}

func TestRequireToolsWithoutBinariesFailsOrSkipsUnderShort(t *testing.T) {
	t.Setenv(toolchain.CacheEnv, t.TempDir())
	r := outcome(t, func(tb testing.TB) { testenv.RequireTools(tb) })
	switch {
	case testing.Short() && r.skipped != testenv.ShortSkipMessage:
		t.Errorf("under -short: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	case !testing.Short() && (!strings.Contains(r.failed, "make tools") || !strings.Contains(r.failed, "kwok-")):
		t.Errorf("failure %q, want every local-fleet binary and `make tools`", r.failed)
	}
}

func TestStartRefusesAMemberNamedLikeTheHub(t *testing.T) {
	r := outcome(t, func(tb testing.TB) { testenv.Start(tb, testenv.Options{Members: []string{testenv.HubName}}) })
	if !strings.Contains(r.failed, "used twice") {
		t.Errorf("failure %q, want the name refused", r.failed)
	}
}

func TestHubWithCRDsAndAMember(t *testing.T) {
	if testing.Short() {
		t.Skip(testenv.ShortSkipMessage)
	}
	var recorded []localcluster.State
	ran := t.Run("started", func(t *testing.T) {
		env := testenv.Start(t, testenv.Options{
			CRDs:    testenv.CRDsNamed("works.fleet.flotilla.dev", "memberclusters.fleet.flotilla.dev"),
			Members: []string{"m1"},
		})
		ctx := t.Context()
		for _, c := range append([]*testenv.Cluster{env.Hub}, env.Members...) {
			recorded = append(recorded, c.State())
		}
		if env.Member("m1") == nil || env.Member("nope") != nil {
			t.Fatalf("Member lookup: %v, %v", env.Member("m1"), env.Member("nope"))
		}
		tc := toolchain.Default()
		for c, want := range map[*testenv.Cluster]string{env.Hub: tc.NewestKubernetes(), env.Member("m1"): tc.OldestKubernetes()} {
			v, err := c.Kube.Discovery().ServerVersion()
			if err != nil || v.GitVersion != want {
				t.Errorf("%s runs %v (%v), want %s", c.Name(), v, err, want)
			}
		}

		if err := env.Hub.Client.List(ctx, &fleetv1.MemberClusterList{}); err != nil {
			t.Errorf("the hub does not serve MemberClusters: %v", err)
		}
		if err := env.Hub.Client.List(ctx, &fleetv1.UpdateRunList{}); err == nil {
			t.Error("the hub serves UpdateRuns, a CRD the filter left out")
		}
		if err := env.Member("m1").Client.List(ctx, &fleetv1.MemberClusterList{}); err == nil {
			t.Error("a member serves fleet CRDs")
		}

		// A restricted identity gets only what RBAC gives it.
		someone, err := kubernetes.NewForConfig(env.Hub.UserConfig(t, "someone"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := someone.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("an unprivileged user listing Secrets: %v, want forbidden", err)
		}

		// A manager runs on the hub until the test ends.
		mgr := env.Hub.RunManager(t, func(ctrl.Manager) error { return nil })
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seen", Namespace: "default"}}
		if err := env.Hub.Client.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the manager's cache sees the ConfigMap", func() error {
			return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{})
		})
	})
	if !ran && len(recorded) == 0 {
		return // Start failed and said why
	}
	if len(recorded) != 2 {
		t.Fatalf("recorded %d clusters, want 2", len(recorded))
	}
	for _, s := range recorded {
		if s.Etcd.Alive() || s.APIServer.Alive() || (s.ControllerManager != nil && s.ControllerManager.Alive()) {
			t.Errorf("cluster %s still runs after its test ended: %+v", s.Name, s)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "cluster.json")); !os.IsNotExist(err) {
			t.Errorf("cluster %s left its directory %s behind: %v", s.Name, s.Dir, err)
		}
	}
}

// shared is the package's Shared environment; TestMain checks that Run
// stopped what it started.
var (
	shared        = testenv.NewShared(testenv.Options{CRDs: testenv.CRDsNamed("memberclusters.fleet.flotilla.dev")})
	sharedStarted []localcluster.State
)

func TestMain(m *testing.M) {
	code := shared.Run(m)
	for _, s := range sharedStarted {
		if s.Etcd.Alive() || s.APIServer.Alive() {
			fmt.Fprintf(os.Stderr, "shared cluster %s still runs after Run returned\n", s.Name)
			code = 1
		}
		if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
			fmt.Fprintf(os.Stderr, "shared cluster %s left %s behind: %v\n", s.Name, s.Dir, err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestSharedStartsOnceForThePackage(t *testing.T) {
	var envs []*testenv.Env
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			env := shared.Env(t)
			if err := env.Hub.Client.List(t.Context(), &fleetv1.MemberClusterList{}); err != nil {
				t.Errorf("the shared hub does not serve MemberClusters: %v", err)
			}
			envs = append(envs, env)
		})
	}
	if len(envs) == 2 && envs[0] != envs[1] {
		t.Error("two tests got two environments, want one shared")
	}
	if len(envs) > 0 {
		sharedStarted = append(sharedStarted, envs[0].Hub.State())
	}
}

func TestSharedWithoutRunRefusesToStart(t *testing.T) {
	r := outcome(t, func(tb testing.TB) { testenv.NewShared(testenv.Options{}).Env(tb) })
	if !strings.Contains(r.failed, "TestMain to call its Run") {
		t.Errorf("failure %q, want Run asked for", r.failed)
	}
}
