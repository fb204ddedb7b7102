package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// netns is a network namespace the test creates and holds open with a
// process of its own: `unshare -n sleep`.
type netns struct {
	path   string
	holder *exec.Cmd
}

// newNetns creates a network namespace with its loopback up, or says why
// the machine does not allow it (not root, no unshare).
func newNetns(t *testing.T) (*netns, error) {
	t.Helper()
	holder := exec.Command("unshare", "-n", "sleep", "infinity")
	if err := holder.Start(); err != nil {
		return nil, err
	}
	n := &netns{path: fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid), holder: holder}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	self, _ := os.Readlink("/proc/self/ns/net")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, err := os.Readlink(n.path)
		if err == nil && ns != self {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("unshare -n made no network namespace (not allowed here?)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := exec.Command("nsenter", "--net="+n.path, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bringing up lo in the namespace: %w: %s", err, out)
	}
	return n, nil
}

// listen opens a TCP listener inside the namespace: a goroutine locked to
// its thread enters the namespace, and the socket stays there. The thread
// is never unlocked, so it ends with the goroutine instead of carrying the
// namespace back into the Go scheduler.
func (n *netns) listen(addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := os.Open(n.path)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}

// link relays TCP connections from a listener to a target address and can
// be cut: a cut link passes no byte in either direction on the connections
// open at the cut, which stay open as over a dead network, and holds new
// connections unanswered until it is mended.
type link struct {
	target string

	mu      sync.Mutex
	cut     bool
	mended  chan struct{}
	epoch   int
	closers []io.Closer
}

func newLink(t *testing.T, l net.Listener, target string) *link {
	k := &link{target: target, mended: make(chan struct{})}
	close(k.mended)
	k.closers = append(k.closers, l)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go k.relay(c)
		}
	}()
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, c := range k.closers {
			_ = c.Close()
		}
	})
	return k
}

func (k *link) relay(in net.Conn) {
	k.mu.Lock()
	mended := k.mended
	k.closers = append(k.closers, in)
	k.mu.Unlock()
	<-mended // a connection made while cut waits, as its SYNs would be retried
	out, err := net.Dial("tcp", k.target)
	if err != nil {
		_ = in.Close()
		return
	}
	k.mu.Lock()
	epoch := k.epoch
	k.closers = append(k.closers, out)
	k.mu.Unlock()
	go k.pipe(out, in, epoch)
	k.pipe(in, out, epoch)
}

// pipe copies until the link is cut in a later epoch than the
// connection's, then reads and drops everything: a dead path.
func (k *link) pipe(dst io.Writer, src io.Reader, epoch int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && k.alive(epoch) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (k *link) alive(epoch int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.cut && k.epoch == epoch
}

func (k *link) setCut(cut bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if cut == k.cut {
		return
	}
	k.cut = cut
	if cut {
		k.epoch++
		k.mended = make(chan struct{})
	} else {
		close(k.mended)
	}
}

// TestMemberPartitionedFromHub cuts one member off from the hub, during a
// placement and during a run.
//
// During a placement, the member's agent is cut off from the hub. The agent runs in a network namespace the
// test creates, whose only ways out are two relays: to its member's API
// server and to the hub's; the partition cuts the second. (Where the
// machine allows no namespace, the agent is pointed at a relay in the
// host's namespace instead, and the table says so.) While cut off, the
// agent keeps reverting drift; a change to the placement made meanwhile
// reaches the other member at once and the partitioned one once mended.
func TestMemberPartitionedFromHub(t *testing.T) {
	concurrentInShortForm(t)
	t.Run("during placement", partitionDuringPlacement)
	if full() {
		t.Run("during a run", partitionDuringRun)
	}
}

func partitionDuringPlacement(t *testing.T) {
	cutFor := pick(time.Minute, 10*time.Second)
	row := &result{scenario: "member partitioned from the hub", injected: fmt.Sprintf("during placement, m-2's agent cut off for %s", cutFor)}
	record(t, row)
	names := []string{"m-1", "m-2"}
	f := upFleet(t, members(true, "m-1:a", "m-2:a"))
	f.placeSettings(names...)

	hubPort := f.hubCluster().State().Ports.APIServer
	memberPort := f.memberCluster("m-2").State().Ports.APIServer
	agent := f.agent("m-2")
	var hubLink *link
	ns, err := newNetns(t)
	if err == nil {
		row.injected += " (network namespace)"
		hubListener, err := ns.listen(fmt.Sprintf("127.0.0.1:%d", hubPort))
		if err != nil {
			t.Fatal(err)
		}
		memberListener, err := ns.listen(fmt.Sprintf("127.0.0.1:%d", memberPort))
		if err != nil {
			t.Fatal(err)
		}
		hubLink = newLink(t, hubListener, fmt.Sprintf("127.0.0.1:%d", hubPort))
		newLink(t, memberListener, fmt.Sprintf("127.0.0.1:%d", memberPort))
		agent.kill(t)
		agent.argv = append([]string{"nsenter", "--net=" + ns.path, "--"}, agent.argv...)
	} else {
		t.Logf("no network namespace (%v): the agent talks to the hub through a relay in the host's namespace", err)
		row.injected += " (relay in the host namespace: " + err.Error() + ")"
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hubLink = newLink(t, l, fmt.Sprintf("127.0.0.1:%d", hubPort))
		path := f.layout.AgentHubKubeconfig("m-2")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		relayed := strings.ReplaceAll(string(data), fmt.Sprintf("127.0.0.1:%d", hubPort), l.Addr().String())
		if err := os.WriteFile(path, []byte(relayed), 0o600); err != nil {
			t.Fatal(err)
		}
		agent.kill(t)
	}
	f.restart(agent)
	// The agent, restarted behind the relays, is in sync: drift reverted.
	f.drift("m-2", 0)

	hubLink.setCut(true)
	cut := time.Now()
	var reverts driftStats
	for i := 1; time.Since(cut) < cutFor/2; i++ {
		reverts.add(f.drift("m-2", i))
		time.Sleep(2 * time.Second)
	}
	// The placement changes while m-2 is cut off.
	changed := time.Now()
	f.setPlacedLevel("2")
	testenv.Eventually(t, 30*time.Second, "m-1 gets the change", func() error { return f.levelIs("m-1", "2") })
	reachedM1 := time.Since(changed)
	for time.Since(cut) < cutFor {
		if err := f.levelIs("m-2", "1"); err != nil {
			t.Fatalf("m-2, cut off, changed: %v", err)
		}
		time.Sleep(time.Second)
	}
	hubLink.setCut(false)
	mended := time.Now()
	testenv.Eventually(t, 3*time.Minute, "m-2 gets the change once mended", func() error { return f.levelIs("m-2", "2") })
	caughtUp := time.Since(mended)
	row.outcome = fmt.Sprintf("converged: %s while cut off; the placement change reached m-1 in %s and m-2 only after the mend", reverts, sinceText(reachedM1))
	row.touched = "m-1 (the change), m-2 (drift reverted)"
	row.recovered = sinceText(caughtUp) + " (mended → m-2 has the change)"
	var crp placementv1.ClusterResourcePlacement
	if err := f.hub.Get(context.Background(), client.ObjectKey{Name: "fault-placed"}, &crp); err != nil {
		t.Fatal(err)
	}
	row.lost = "nothing"
	for _, m := range names {
		if err := f.levelIs(m, "2"); err != nil {
			row.lost = err.Error()
			t.Error(err)
		}
	}
}

// setPlacedLevel changes the placed ConfigMap on the hub.
func (f *fleet) setPlacedLevel(level string) {
	f.t.Helper()
	patch := fmt.Sprintf(`{"data":{"level":%q}}`, level)
	if _, err := f.hubKubeClient().CoreV1().ConfigMaps("fault-placed").Patch(context.Background(), "settings", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// levelIs checks the placed ConfigMap's level on a member.
func (f *fleet) levelIs(member, level string) error {
	cm, err := f.memberClient(member).CoreV1().ConfigMaps("fault-placed").Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", member, err)
	}
	if got := cm.Data["level"]; got != level {
		return fmt.Errorf("%s: level %q, want %q", member, got, level)
	}
	return nil
}

// partitionDuringRun cuts the hub's path to m-2 (its probes and health
// checks; the Local provider drives the cluster from its directory, outside
// that path) right after m-2's upgrade, before its checks: the checks fail
// it and the run stops before stage two. The path is a relay in the host's
// namespace that the member's kubeconfig Secret on the hub is pointed at: a
// hub in a namespace of its own would start the upgraded kube-apiservers
// there too (upgrade commands are its children).
func partitionDuringRun(t *testing.T) {
	row := &result{scenario: "member partitioned from the hub", injected: "during a run: after m-2's upgrade, before its checks; the hub's path to m-2 cut (relay in the host namespace)"}
	record(t, row)
	f := upFleet(t, members(false, "m-1:a", "m-2:a", "m-3:b"))
	f.writeCanaries(twoStageMembers...)
	memberAddr := fmt.Sprintf("127.0.0.1:%d", f.memberCluster("m-2").State().Ports.APIServer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := newLink(t, l, memberAddr)
	f.repointKubeconfigSecret("m-2", memberAddr, l.Addr().String())
	testenv.Eventually(t, time.Minute, "m-2 Healthy through the relay", func() error {
		if h := f.memberHealth("m-2"); h != "Healthy" {
			return fmt.Errorf("m-2: %s", h)
		}
		return nil
	})

	f.startRun("fault", gateStages)
	f.waitRun("fault", 2*time.Minute, "m-2's upgrade command done", func(fleetv1.UpdateRun) bool {
		ops := f.upgradeOps("fault", "m-2")
		return len(ops) > 0 && ops[0].exitCode == 0
	})
	path.setCut(true)
	cut := time.Now()
	run := f.waitFinished("fault", 3*time.Minute)
	touched := f.touchedAfter("fault", cut, "m-1", "m-3")
	m2 := run.Status.MemberProgress("m-2")
	row.outcome = fmt.Sprintf("run %s; m-2 %s (%s) %s after the cut", run.Status.State, m2.State, reason(m2), sinceText(time.Since(cut)))
	row.touched = touchedText(touched)
	if run.Status.State != fleetv1.StateFailed || m2.State != fleetv1.StateFailed {
		t.Fatalf("run %s, m-2 %s (%s); want both Failed", run.Status.State, m2.State, m2.Message)
	}
	t.Logf("m-2 failed: %s", m2.Message)
	if len(touched) != 0 || run.Status.MemberProgress("m-3").State != fleetv1.StateNotStarted {
		t.Errorf("touched after the cut: %v", touched)
	}
	mended := time.Now()
	path.setCut(false)
	// Resumed only once the hub reaches m-2 again: the hub's connections to
	// it died silently at the cut and are reused until client-go's HTTP/2
	// health check closes them (30 s without a frame, then a 15 s ping), so
	// checks run sooner fail the member again.
	f.waitHealthySince("m-2", mended)
	reachable := time.Since(mended)
	f.resumeRun("fault")
	run = f.waitFinished("fault", 3*time.Minute)
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("after the mend the run is %s: %s", run.Status.State, summaryLine(run))
	}
	// m-2 is on the target: the resumed run gives it the checks the cut
	// denied it, rather than skipping it unchecked.
	if p := run.Status.MemberProgress("m-2"); p.State != fleetv1.StateCompleted || p.HealthChecks == nil || p.HealthChecks.State != fleetv1.StateCompleted {
		t.Errorf("m-2 after the resume: %s (%s), checks %+v; want Completed with its checks passed", p.State, p.Message, p.HealthChecks)
	} else {
		row.outcome += "; resumed: m-2 checked, Completed"
	}
	row.recovered = fmt.Sprintf("%s (mended → m-2 Healthy on the hub again, %s; run started again → Completed)", sinceText(time.Since(mended)), sinceText(reachable))
	if n, why := f.duplicateUpgrades("fault", twoStageMembers...); n != 0 || len(f.upgradeOps("fault", "m-2")) != 1 {
		t.Errorf("duplicate upgrades: %d (%s), m-2 upgraded %d times", n, why, len(f.upgradeOps("fault", "m-2")))
	}
	lost := f.lostCanaries(twoStageMembers...)
	row.lost = lostText(lost)
	if len(lost) != 0 {
		t.Errorf("lost: %v", lost)
	}
}

// waitHealthySince waits until the hub has probed the member Healthy after t.
func (f *fleet) waitHealthySince(member string, t time.Time) {
	f.t.Helper()
	testenv.Eventually(f.t, 2*time.Minute, member+" Healthy on the hub again", func() error {
		var mc fleetv1.MemberCluster
		if err := f.hub.Get(context.Background(), client.ObjectKey{Name: member}, &mc); err != nil {
			return err
		}
		if hb := mc.Status.LastHeartbeatTime; hb == nil || hb.Time.Before(t) {
			return fmt.Errorf("last probed %v", hb)
		}
		if h := f.memberHealth(member); h != "Healthy" {
			return errors.New(h)
		}
		return nil
	})
}

// repointKubeconfigSecret rewrites the server address in the kubeconfig
// the hub holds for a member.
func (f *fleet) repointKubeconfigSecret(member, from, to string) {
	f.t.Helper()
	ctx := context.Background()
	var mc fleetv1.MemberCluster
	if err := f.hub.Get(ctx, client.ObjectKey{Name: member}, &mc); err != nil {
		f.t.Fatal(err)
	}
	ref := mc.Spec.Access.KubeconfigSecretRef
	if ref == nil {
		f.t.Fatalf("%s has no kubeconfig Secret", member)
	}
	key := ref.Key
	if key == "" {
		key = enrollment.KubeconfigKey
	}
	var secret corev1.Secret
	if err := f.hub.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &secret); err != nil {
		f.t.Fatal(err)
	}
	data := string(secret.Data[key])
	if !strings.Contains(data, from) {
		f.t.Fatalf("%s's kubeconfig does not name %s", member, from)
	}
	secret.Data[key] = []byte(strings.ReplaceAll(data, from, to))
	if err := f.hub.Update(ctx, &secret); err != nil {
		f.t.Fatal(err)
	}
}
