// Package agent is the member agent of a hubful fleet. It runs beside one
// member cluster, dials the hub, and works only in the member's own hub
// namespace: it applies the Works it finds there to the member with
// server-side apply, corrects drift as soon as a watch reports it, reports
// status back, and heartbeats the member's MemberCluster status. Every Work
// it saw is kept in a state directory so that it keeps enforcing them while
// the hub is unreachable, across restarts too.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/eventnote"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
)

// Defaults of Options.
const (
	DefaultHeartbeatPeriod = 15 * time.Second
	// resyncPeriod re-checks every Work now and then, in case an event was
	// lost; drift correction itself is watch-driven.
	resyncPeriod = 5 * time.Minute
	workers      = 2
)

// Options configure an agent.
type Options struct {
	// MemberName is the MemberCluster the agent speaks for.
	MemberName string
	// Hub is the agent's hub identity; it needs only the Works of the
	// member's namespace and its own MemberCluster.
	Hub *rest.Config
	// HubCredentials, when set, keep Hub's token fresh (LoadHubConfig).
	HubCredentials *HubCredentials
	// Member is the member cluster's API server.
	Member *rest.Config
	// StateDir keeps the Works last seen, to enforce them while the hub is
	// unreachable.
	StateDir string
	// HeartbeatPeriod is how often the member is probed and its
	// MemberCluster status written; zero means DefaultHeartbeatPeriod.
	HeartbeatPeriod time.Duration
	// HealthAddress serves /healthz and /readyz; "" or "0" turns it off.
	HealthAddress string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Agent is a running member agent.
type Agent struct {
	opts      Options
	namespace string

	hub        client.Client
	hubKube    kubernetes.Interface
	hubDynamic dynamic.Interface
	memberKube kubernetes.Interface
	member     *member
	store      *store
	queue      workqueue.TypedRateLimitingInterface[string]
	// statusQueue holds the Works whose status awaits writing to the hub.
	statusQueue workqueue.TypedRateLimitingInterface[string]
	// log is the logger of Run's context, for the callbacks (informer
	// events) that get no context.
	log     logr.Logger
	watches *watches
	ready   atomic.Bool
	metrics *metrics
	// events records Events on the member (drift corrected, apply
	// failed); broadcaster sends them once Run starts it.
	events      events.EventRecorder
	broadcaster events.EventBroadcaster

	mu    sync.Mutex
	works map[string]*entry
}

// entry is the agent's view of one Work.
type entry struct {
	work    *fleetv1.Work
	applied []placementv1.ResourceIdentifier
	// statusOnHub says the hub holds work.Status; false while a status
	// write is pending (for example while the hub is down).
	statusOnHub bool
	// hubStatus is the status the hub holds, as last seen or written: a
	// status write patches from it. Nil when unknown (a Work loaded from
	// the state directory and not yet seen on the hub).
	hubStatus *fleetv1.WorkStatus
	// saved is what was last written to the state directory.
	saved []byte
	// finalized: the agent removed its finalizer, so the Work's
	// disappearance from the hub is expected.
	finalized bool
	// computed is the status the agent last computed, at generation
	// computedGen. A hub event can lag behind it (the agent's own
	// finalizer patch, say) and carry an older status; judging drift
	// against that would take a drift for a first apply.
	computed    *fleetv1.WorkStatus
	computedGen int64
	// secretData is the data of the Work's Secret manifests as read for
	// the digest secretDigest.
	secretData   secretdata.Payload
	secretDigest string
}

// previousManifests is what the agent last knew of each manifest of work.
func (a *Agent) previousManifests(work *fleetv1.Work) []fleetv1.ManifestStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.works[work.Name]; e != nil && e.computed != nil && e.computedGen == work.Generation {
		return e.computed.Manifests
	}
	return work.Status.Manifests
}

// Validate checks the options for the mistakes a user can make.
func (o *Options) Validate() error {
	if errs := validation.IsDNS1123Label(o.MemberName); len(errs) > 0 {
		return fmt.Errorf("member name %q: %v", o.MemberName, errs)
	}
	if o.Hub == nil || o.Member == nil {
		return errors.New("both the hub's and the member's client configuration are required")
	}
	if o.StateDir == "" {
		return errors.New("a state directory is required")
	}
	if o.HeartbeatPeriod < 0 {
		return errors.New("the heartbeat period cannot be negative")
	}
	return nil
}

// New connects the agent's clients; nothing is contacted yet, so that an
// agent starts while the hub (or the member) is down.
func New(opts Options) (*Agent, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.HeartbeatPeriod == 0 {
		opts.HeartbeatPeriod = DefaultHeartbeatPeriod
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	hubCfg := rest.CopyConfig(opts.Hub)
	if hubCfg.Timeout == 0 {
		// A hung hub must not hold a worker: enforcement goes on without it.
		hubCfg.Timeout = 15 * time.Second
	}
	hub, err := client.New(hubCfg, client.Options{Scheme: fleetscheme.New(), Mapper: hubMapper()})
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	hubDynamic, err := dynamic.NewForConfig(opts.Hub)
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	hubKube, err := kubernetes.NewForConfig(hubCfg)
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	memberCfg := rest.CopyConfig(opts.Member)
	if memberCfg.QPS == 0 {
		memberCfg.QPS, memberCfg.Burst = 50, 100
	}
	memberKube, err := kubernetes.NewForConfig(memberCfg)
	if err != nil {
		return nil, fmt.Errorf("member client: %w", err)
	}
	memberDynamic, err := dynamic.NewForConfig(memberCfg)
	if err != nil {
		return nil, fmt.Errorf("member client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(memberCfg)
	if err != nil {
		return nil, fmt.Errorf("member client: %w", err)
	}
	st, err := newStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: memberKube.EventsV1()})
	a := &Agent{
		opts:        opts,
		namespace:   fleetv1.MemberNamespace(opts.MemberName),
		hub:         hub,
		hubDynamic:  hubDynamic,
		hubKube:     hubKube,
		memberKube:  memberKube,
		member:      newMember(dc, memberDynamic),
		store:       st,
		queue:       newQueue("works"),
		statusQueue: newQueue("work-status"),
		works:       map[string]*entry{},
		broadcaster: broadcaster,
		events:      eventnote.Bounded(broadcaster.NewRecorder(scheme.Scheme, "flotilla-agent")),
	}
	a.metrics = newMetrics(a)
	return a, nil
}

// newQueue retries failures from 200ms up to every 5s: a hub or member
// outage, or a kind whose CRD the member serves only seconds after it was
// applied, is retried often enough to resume quickly, rarely enough to be
// cheap for one agent.
func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// hubMapper maps the only two kinds the agent touches on the hub without
// discovery, so the agent needs no hub access beyond its RBAC and starts
// while the hub is down.
func hubMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{fleetv1.GroupVersion})
	m.AddSpecific(fleetv1.GroupVersion.WithKind("Work"), worksResource, fleetv1.GroupVersion.WithResource("work"), meta.RESTScopeNamespace)
	m.AddSpecific(fleetv1.GroupVersion.WithKind("MemberCluster"), fleetv1.GroupVersion.WithResource("memberclusters"),
		fleetv1.GroupVersion.WithResource("membercluster"), meta.RESTScopeRoot)
	return m
}

var worksResource = fleetv1.GroupVersion.WithResource("works")

// Run runs the agent until ctx ends. It fails only on bad configuration:
// an unreachable hub or member is retried, never fatal.
func Run(ctx context.Context, opts Options) error {
	a, err := New(opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Run runs the agent until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithValues("member", a.opts.MemberName)
	ctx = logr.NewContext(ctx, log)
	a.log = log
	var wg sync.WaitGroup
	defer wg.Wait()
	defer a.queue.ShutDown()
	defer a.statusQueue.ShutDown()

	if err := a.startHealth(ctx, &wg); err != nil {
		return err
	}
	if err := a.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("recording Events on the member: %w", err)
	}
	defer a.broadcaster.Shutdown()
	a.watches = newWatches(a.member.dynamic, a.queue.Add)
	a.loadState()

	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for a.processNext(ctx) {
			}
		}()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		for a.processStatus(ctx) {
		}
	}()
	go func() { defer wg.Done(); a.watchHub(ctx) }()
	go func() { defer wg.Done(); a.heartbeatLoop(ctx) }()
	if c := a.opts.HubCredentials; c != nil {
		wg.Go(func() { c.Run(ctx, a.hubKube) })
	}
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(resyncPeriod)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				a.enqueueAll()
			}
		}
	}()
	a.ready.Store(true)
	log.Info("agent started", "hubServer", a.opts.Hub.Host, "memberServer", a.opts.Member.Host, "namespace", a.namespace, "stateDir", a.opts.StateDir)
	<-ctx.Done()
	log.Info("agent stopping")
	return nil
}

// loadState picks up the Works persisted by an earlier run, so that they
// are enforced before (and without) the hub answering.
func (a *Agent) loadState() {
	recs, errs := a.store.load()
	for _, err := range errs {
		a.log.Error(err, "skipping unreadable state")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rec := range recs {
		e := &entry{work: rec.Work, applied: rec.Applied, secretData: rec.SecretData, secretDigest: rec.SecretDigest}
		// What was read is what is saved; marshalling it back cannot fail,
		// and if it did the entry would only be saved again.
		if saved, err := json.Marshal(rec); err == nil {
			e.saved = saved
		}
		a.works[rec.Work.Name] = e
		a.queue.Add(setOf(rec.Work))
	}
	if len(recs) > 0 {
		a.log.Info("loaded Works from the state directory", "count", len(recs))
	}
}

func (a *Agent) enqueueAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.works {
		a.queue.Add(setOf(e.work))
	}
}

// watchHub keeps an informer on the Works of the member's namespace; the
// reflector retries on its own while the hub is down.
func (a *Agent) watchHub(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx)
	inf := dynamicinformer.NewFilteredDynamicInformer(a.hubDynamic, worksResource, a.namespace, 0, cache.Indexers{}, nil).Informer()
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		log.V(1).Info("hub watch interrupted; retrying", "error", err.Error())
	}); err != nil {
		// Only refused once the informer runs; the default handler logs.
		log.Error(err, "setting the hub watch's error handler")
	}
	reg, err := inf.AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.workSeen,
		UpdateFunc: func(_, obj any) { a.workSeen(obj) },
		DeleteFunc: a.workGone,
	}, cache.HandlerOptions{Logger: &log})
	if err != nil {
		log.Error(err, "watching Works")
		return
	}
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		if cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			a.forgetMissing(inf.GetStore())
		}
	}()
	inf.RunWithContext(ctx)
	<-synced
}

// forgetMissing stops enforcing saved Works that the hub's first successful
// list did not return: they were deleted while the agent was away, without
// its finalizer, so their objects stay as they are. A failed list never
// gets here.
func (a *Agent) forgetMissing(hub cache.Store) {
	a.mu.Lock()
	var gone []string
	for name := range a.works {
		if _, exists, err := hub.GetByKey(a.namespace + "/" + name); err == nil && !exists {
			gone = append(gone, name)
			delete(a.works, name)
		}
	}
	a.mu.Unlock()
	for _, name := range gone {
		a.log.Info("saved Work no longer on the hub; no longer enforced, its objects stay on the member", "work", name)
		if err := a.store.remove(name); err != nil {
			a.log.Error(err, "removing state", "work", name)
		}
	}
}

func workFrom(obj any) (*fleetv1.Work, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("the hub watch delivered a %T, not a Work", obj)
	}
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("reading Work %s: %w", u.GetName(), err)
	}
	w := &fleetv1.Work{}
	if err := json.Unmarshal(data, w); err != nil {
		return nil, fmt.Errorf("reading Work %s: %w", u.GetName(), err)
	}
	w.ManagedFields = nil
	return w, nil
}

// workSeen takes the hub's copy of a Work and queues it when there is
// something to do: a new spec, a deletion, a missing finalizer, or a status
// that is not the one the agent computed.
func (a *Agent) workSeen(obj any) {
	w, err := workFrom(obj)
	if err != nil {
		a.log.Error(err, "ignoring a Work the agent cannot read")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[w.Name]
	if e == nil {
		a.works[w.Name] = &entry{work: w, statusOnHub: true, hubStatus: w.Status.DeepCopy()}
		a.queue.Add(setOf(w))
		return
	}
	old := e.work
	e.work, e.statusOnHub, e.hubStatus = w, true, w.Status.DeepCopy()
	if old.Generation != w.Generation || !w.DeletionTimestamp.Equal(old.DeletionTimestamp) ||
		(setOf(w) == w.Name && !hasFinalizer(w)) || !equality.Semantic.DeepEqual(old.Status, w.Status) {
		a.queue.Add(setOf(w))
	}
}

// workGone forgets a Work deleted on the hub. Deleting what it placed is
// done under the agent's finalizer, never here: a Work that vanished
// without it (finalizer removed by hand) leaves its objects in place.
func (a *Agent) workGone(obj any) {
	w, err := workFrom(obj)
	if err != nil {
		a.log.Error(err, "ignoring the deletion of a Work the agent cannot read")
		return
	}
	a.mu.Lock()
	e := a.works[w.Name]
	delete(a.works, w.Name)
	a.mu.Unlock()
	if set := setOf(w); set != w.Name {
		// A part that went: what it placed is its set's to keep or remove.
		a.queue.Add(set)
	}
	if e != nil && !e.finalized && len(e.applied) > 0 {
		a.log.Info("Work deleted on the hub without the agent's cleanup; its objects stay on the member", "work", w.Name, "objects", len(e.applied))
	}
	if err := a.store.remove(w.Name); err != nil {
		a.log.Error(err, "removing state", "work", w.Name)
	}
}

func hasFinalizer(w *fleetv1.Work) bool {
	for _, f := range w.Finalizers {
		if f == fleetv1.AgentFinalizer {
			return true
		}
	}
	return false
}

func (a *Agent) processNext(ctx context.Context) bool {
	name, shutdown := a.queue.Get()
	if shutdown {
		return false
	}
	defer a.queue.Done(name)
	start := time.Now()
	if err := a.reconcile(ctx, name); err != nil {
		if ctx.Err() == nil {
			logRetry(ctx, a.queue.NumRequeues(name), "Work not in sync; retrying", name, err)
		}
		a.queue.AddRateLimited(name)
		return true
	}
	a.queue.Forget(name)
	logr.FromContextOrDiscard(ctx).V(1).Info("Work reconciled", "work", name, "took", time.Since(start))
	return true
}

// logRetry logs the first of a run of failures for a Work, and the rest
// only when debugging: an outage must not flood the log.
func logRetry(ctx context.Context, requeues int, msg, work string, err error) {
	log := logr.FromContextOrDiscard(ctx)
	if requeues > 0 {
		log = log.V(1)
	}
	log.Info(msg, "work", work, "error", err.Error())
}

// snapshot copies a set's part 0 entry for one reconcile, with what the
// set placed and its other parts that belong with part 0 (the same token,
// within its count), in subindex order.
func (a *Agent) snapshot(set string) (*fleetv1.Work, []placementv1.ResourceIdentifier, []*fleetv1.Work) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[set]
	if e == nil {
		return nil, nil, nil
	}
	head := e.work.DeepCopy()
	var parts []*fleetv1.Work
	if p := head.Spec.Part; p != nil {
		for name, other := range a.works {
			op := other.work.Spec.Part
			if name == set || op == nil || op.Set != set || op.Token != p.Token || op.Index <= 0 || op.Index >= p.Total {
				continue
			}
			parts = append(parts, other.work.DeepCopy())
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i].Spec.Part.Index < parts[j].Spec.Part.Index })
	}
	return head, append([]placementv1.ResourceIdentifier(nil), e.applied...), parts
}

func (a *Agent) now() time.Time { return a.opts.Now() }
