package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// sample is a set of durations.
type sample []time.Duration

// quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method:
// an observed value, never an interpolation. With fewer than 100 values
// the 0.99 quantile is the maximum.
func (s sample) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	rank := int(q*float64(len(sorted)) + 0.999999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func (s sample) median() time.Duration { return s.quantile(0.5) }

func (s sample) max() time.Duration { return s.quantile(1) }

func (s sample) min() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return slices.Min(s)
}

// figures gives p50, p99 and max in seconds, for JSON.
func (s sample) figures() map[string]float64 {
	return map[string]float64{
		"p50_s": s.median().Seconds(),
		"p99_s": s.quantile(0.99).Seconds(),
		"max_s": s.max().Seconds(),
	}
}

// spread renders p50 / p99 / max.
func (s sample) spread() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s", dur(s.median()), dur(s.quantile(0.99)), dur(s.max()))
}

// dur renders a duration with the precision that matters at its scale.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// megabytes renders bytes in MB (10^6 bytes), the unit of the targets.
func megabytes(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// secs renders a duration in seconds without trailing zeros, for targets
// and settings: "15 s", "0.5 s".
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s" }

// count renders n with thousands separators: 10,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
