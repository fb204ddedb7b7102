package agent

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
)

// metrics are the agent's, on a registry of its own: /metrics on the
// health port serves it.
type metrics struct {
	registry         *prometheus.Registry
	applyDuration    *prometheus.HistogramVec
	driftCorrections *prometheus.CounterVec
	// hubOK says whether the last heartbeat reached the hub; lastHubSync
	// is the Unix nanoseconds of the last successful heartbeat or status
	// write (the agent's start until there is one).
	hubOK       atomic.Bool
	lastHubSync atomic.Int64
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    fleetmetrics.AgentApplyDuration,
			Help:    "Seconds one reconcile of a Work took to apply its manifests to the member, by result (Succeeded or Failed).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		driftCorrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: fleetmetrics.AgentDriftCorrections,
			Help: "Changes made on the member to placed objects that the agent reverted, by the object's kind.",
		}, []string{"kind"}),
	}
	m.lastHubSync.Store(a.now().UnixNano())
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.applyDuration, m.driftCorrections,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: fleetmetrics.AgentWorks,
			Help: "Works the agent holds (and enforces, also while the hub is unreachable).",
		}, func() float64 {
			a.mu.Lock()
			defer a.mu.Unlock()
			return float64(len(a.works))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: fleetmetrics.AgentHubReachable,
			Help: "1 when the agent's last heartbeat reached the hub, else 0.",
		}, func() float64 {
			if m.hubOK.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: fleetmetrics.AgentHubSyncAge,
			Help: "Seconds since the agent last wrote to the hub (a heartbeat or a Work's status); since its start when it has not yet.",
		}, func() float64 {
			return max(a.now().Sub(time.Unix(0, m.lastHubSync.Load())).Seconds(), 0)
		}),
	)
	return m
}

// hubAnswered records a heartbeat's outcome: whether the hub answered, and
// whether the heartbeat was written.
func (m *metrics) hubAnswered(answered, written bool, now time.Time) {
	m.hubOK.Store(answered)
	if written {
		m.synced(now)
	}
}

// synced records a successful write to the hub.
func (m *metrics) synced(now time.Time) { m.lastHubSync.Store(now.UnixNano()) }

func result(err error) string {
	if err != nil {
		return "Failed"
	}
	return "Succeeded"
}
