package fleetmetrics

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// listTimeout bounds the lists of one scrape.
const listTimeout = 10 * time.Second

// Collector reports the gauges of Samples, listing the fleet's objects from
// Reader (the hub manager's cache) at every scrape.
type Collector struct {
	Reader client.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives list errors; a kind that cannot be listed is left out
	// of the scrape, the others are reported.
	Log logr.Logger

	descs map[string]*prometheus.Desc
}

// NewCollector is a Collector reading from r.
func NewCollector(r client.Reader, log logr.Logger) *Collector {
	c := &Collector{Reader: r, Log: log, descs: map[string]*prometheus.Desc{}}
	for name, g := range gauges {
		c.descs[name] = prometheus.NewDesc(name, g.help, g.labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	var fleet Fleet
	members := &fleetv1.MemberClusterList{}
	if err := c.Reader.List(ctx, members); err != nil {
		c.Log.Error(err, "listing members for metrics")
	}
	fleet.Members = members.Items
	runs := &fleetv1.UpdateRunList{}
	if err := c.Reader.List(ctx, runs); err != nil {
		c.Log.Error(err, "listing update runs for metrics")
	}
	fleet.Runs = runs.Items
	works := &fleetv1.WorkList{}
	if err := c.Reader.List(ctx, works); err != nil {
		c.Log.Error(err, "listing works for metrics")
	}
	fleet.Works = works.Items
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	for _, s := range Samples(fleet, now()) {
		ch <- prometheus.MustNewConstMetric(c.descs[s.Name], prometheus.GaugeValue, s.Value, s.LabelValues...)
	}
}
