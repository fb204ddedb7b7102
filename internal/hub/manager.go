// Package hub assembles the hub's controller manager: it installs the fleet
// CRDs, then runs the fleet controllers under leader election.
package hub

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/admission"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/controller/autoupgrade"
	"github.com/flotilla-dev/flotilla/internal/controller/membership"
	"github.com/flotilla-dev/flotilla/internal/controller/placement"
	"github.com/flotilla-dev/flotilla/internal/controller/updaterun"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/eventnote"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/notify"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Options configure the hub.
type Options struct {
	// MetricsAddress serves /metrics; "0" turns it off.
	MetricsAddress string
	// HealthAddress serves /healthz and /readyz; "0" turns it off.
	HealthAddress string
	// LeaderElection makes only one of several hub replicas act.
	LeaderElection bool
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election;
	// zero keeps controller-runtime's defaults (15 s, 10 s, 2 s). A replica
	// takes over at most LeaseDuration after the leader dies.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Instance names this hub process in the upgrade attempts it starts
	// (the pod name, in a cluster); empty means the host name and a random
	// suffix.
	Instance string
	// MaxConcurrentProbes bounds how many members are probed at once.
	MaxConcurrentProbes int
	// StateDir keeps upgrade operations and health-check files; a hub that
	// restarts with the same directory never starts an upgrade twice.
	StateDir string
	// DisableMembership does not run the membership controller: members'
	// status is left to someone else (a benchmark that writes it itself).
	DisableMembership bool
	// EnablePlacement runs the ClusterResourcePlacement controller (hubful
	// fleets).
	EnablePlacement bool
	// UnreachableGracePeriod is how long a PickN placement keeps a member
	// that stopped answering before it picks another.
	UnreachableGracePeriod time.Duration
	// UpgradeProviders are the upgrade providers members may name, by type;
	// they keep their operations under StateDir.
	UpgradeProviders map[fleetv1.ProviderType]upgrade.Factory
	// AllowExec lets the hub run the programs operators write into fleet
	// objects (Exec providers, Command checks, exec credential plugins of
	// stored kubeconfigs), while the admission policy of config/admission
	// is in force (docs/upgrades.md, "Who may make the hub run a program").
	AllowExec bool
	// AutoUpgradeInterval is how often auto-upgrade profiles are evaluated
	// when nothing changes; 0 means every 10 minutes.
	AutoUpgradeInterval time.Duration
}

// Run installs the CRDs, then runs the controllers until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	log := ctrl.LoggerFrom(ctx)
	scheme := fleetscheme.New()
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting to the hub API server at %s: %w", cfg.Host, err)
	}
	crds, err := crd.All()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := crdinstall.Apply(ctx, direct, crds, time.Minute); err != nil {
		return err
	}
	log.Info("CRDs installed", "count", len(crds), "took", time.Since(start).Round(time.Millisecond))
	programs, err := installExecPolicy(ctx, direct, opts.AllowExec)
	if err != nil {
		return err
	}
	if err := ensureNamespace(ctx, direct, enrollment.Namespace); err != nil {
		return err
	}

	// Only member credentials are cached, not every Secret on the hub.
	memberSecrets, err := labels.NewRequirement(enrollment.MemberLabel, selection.Exists, nil)
	if err != nil {
		return err
	}
	instance := opts.Instance
	if instance == "" {
		instance = updaterun.NewInstanceName()
	}
	var lock resourcelock.Interface
	if opts.LeaderElection {
		if lock, err = leaderLock(cfg, instance, opts.RenewDeadline); err != nil {
			return fmt.Errorf("creating the leader-election lock: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		// controller-runtime refuses a second controller of the same name in
		// a process, for its metrics' sake. A hub process runs one manager;
		// a test process runs hubs one after another, and must not be
		// refused the second.
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddress},
		HealthProbeBindAddress:  opts.HealthAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        leaseName,
		LeaderElectionNamespace: enrollment.Namespace,
		// Set only with LeaderElection; the manager ignores it otherwise.
		LeaderElectionResourceLockInterface: lock,
		LeaderElectionReleaseOnCancel:       true,
		LeaseDuration:                       nonZero(opts.LeaseDuration),
		RenewDeadline:                       nonZero(opts.RenewDeadline),
		RetryPeriod:                         nonZero(opts.RetryPeriod),
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: map[string]cache.Config{enrollment.Namespace: {}},
				Label:      labels.NewSelector().Add(*memberSecrets),
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	collector := fleetmetrics.NewCollector(mgr.GetClient(), ctrl.Log.WithName("metrics"))
	if err := fleetmetrics.Register(metrics.Registry, collector); err != nil {
		return fmt.Errorf("registering the fleet metrics: %w", err)
	}
	defer metrics.Registry.Unregister(collector)
	members := &memberaccess.Clients{Hub: mgr.GetClient(), Programs: programs}
	if !opts.DisableMembership {
		if err := (&membership.Reconciler{
			Client:         mgr.GetClient(),
			Members:        members,
			Recorder:       eventnote.Bounded(mgr.GetEventRecorder("flotilla-membership")),
			MaxConcurrency: opts.MaxConcurrentProbes,
		}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the membership controller: %w", err)
		}
	}
	providers := upgrade.NewProviders(opts.StateDir, guardExec(opts.UpgradeProviders, programs)).WithSecrets(upgrade.SecretsFrom(mgr.GetAPIReader()))
	if err := (&updaterun.Reconciler{
		Client:    mgr.GetClient(),
		Recorder:  eventnote.Bounded(mgr.GetEventRecorder("flotilla-updaterun")),
		Members:   members,
		Providers: providers,
		WorkDir:   filepath.Join(opts.StateDir, "checks"),
		Instance:  instance,
		Programs:  programs,
		Notifier:  notify.New(ctrl.Log.WithName("notify")),
		Secrets:   mgr.GetAPIReader(),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the update-run controller: %w", err)
	}
	if err := (&autoupgrade.Reconciler{
		Client:    mgr.GetClient(),
		Recorder:  eventnote.Bounded(mgr.GetEventRecorder("flotilla-autoupgrade")),
		Providers: providers,
		Interval:  opts.AutoUpgradeInterval,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the auto-upgrade-profile controller: %w", err)
	}
	if opts.EnablePlacement {
		if err := (&placement.Reconciler{
			Client:           mgr.GetClient(),
			Recorder:         eventnote.Bounded(mgr.GetEventRecorder("flotilla-placement")),
			UnreachableGrace: opts.UnreachableGracePeriod,
			Latency:          fleetmetrics.NewPlacementObserver(time.Now()),
		}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the placement controller: %w", err)
		}
	}
	log.Info("starting the hub controllers", "stateDir", opts.StateDir)
	return mgr.Start(ctx)
}

// installExecPolicy applies the admission policy that limits who may write
// programs for the hub to run, and returns the guard that lets them run.
// A policy that cannot be installed (an API server without
// ValidatingAdmissionPolicy v1, no permission) does not stop the hub: the
// guard then refuses every such program and says why.
func installExecPolicy(ctx context.Context, c client.Client, allow bool) (*hubexec.Guard, error) {
	log := ctrl.LoggerFrom(ctx)
	policy, err := admission.Exec()
	if err != nil {
		return nil, err
	}
	if err := crdinstall.ApplyObjects(ctx, c, policy.Objects()); err != nil {
		log.Error(err, "installing the exec admission policy failed: the hub runs no Exec provider, Command check or exec credential plugin until it is in force")
	} else {
		log.Info("exec admission policy installed", "policies", len(policy.Policies), "allowExec", allow)
	}
	return &hubexec.Guard{Allow: allow, Reader: c, Policy: policy}, nil
}

// guardExec has the Exec provider ask programs before it runs an
// operator's command. Other providers run the hub's own code.
func guardExec(factories map[fleetv1.ProviderType]upgrade.Factory, programs hubexec.Permitter) map[fleetv1.ProviderType]upgrade.Factory {
	out := maps.Clone(factories)
	if f, ok := out[fleetv1.ProviderExec]; ok {
		out[fleetv1.ProviderExec] = upgrade.RequirePermit(f, programs)
	}
	return out
}

// nonZero is d, or nil for controller-runtime's default.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}
