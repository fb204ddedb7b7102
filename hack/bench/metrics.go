package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// series maps each sample of a Prometheus text exposition, keyed as written
// ("name{label=\"value\",...}"), to its value.
type series map[string]float64

// scrapeMetrics reads a /metrics endpoint.
func scrapeMetrics(ctx context.Context, url string) (series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out := series{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// value is the sample of an unlabelled metric.
func (s series) value(name string) (float64, bool) {
	v, ok := s[name]
	return v, ok
}

// sum adds the samples of name whose labels contain every matcher
// (`controller="updaterun"`).
func (s series) sum(name string, matchers ...string) float64 {
	total := 0.0
	for key, v := range s {
		if s.matches(key, name, matchers) {
			total += v
		}
	}
	return total
}

func (series) matches(key, name string, matchers []string) bool {
	metric, labels, _ := strings.Cut(key, "{")
	if metric != name {
		return false
	}
	for _, m := range matchers {
		if !strings.Contains(labels, m) {
			return false
		}
	}
	return true
}

// histogram is one histogram's cumulative buckets, sum and count.
type histogram struct {
	bounds []float64 // upper bounds, ascending; the last is +Inf
	counts []float64 // cumulative
	sum    float64
	count  float64
}

// histogram collects the histogram name (without _bucket) of the series
// that match.
func (s series) histogram(name string, matchers ...string) histogram {
	byBound := map[float64]float64{}
	for key, v := range s {
		if !s.matches(key, name+"_bucket", matchers) {
			continue
		}
		i := strings.Index(key, `le="`)
		if i < 0 {
			continue
		}
		le := key[i+4:]
		le = le[:strings.IndexByte(le, '"')]
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		byBound[bound] += v
	}
	h := histogram{sum: s.sum(name+"_sum", matchers...), count: s.sum(name+"_count", matchers...)}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h
}

func (h histogram) mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / h.count
}

// quantileBound is the upper bound of the bucket holding the q-quantile:
// the quantile is at most that. +Inf when it is past the last finite bucket.
func (h histogram) quantileBound(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	for i, c := range h.counts {
		if c >= q*h.count {
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}
