package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// upTarget is DESIGN.md §8's target for a hub and three members.
const upTarget = 15 * time.Second

// runUp times `flotilla local up` end to end, as a user runs it, and takes
// the fleet down after each run.
func runUp(ctx context.Context, b *bench) []Row {
	what := fmt.Sprintf("`flotilla local up`, hub + %d members", b.opts.upMembers)
	target := "< " + secs(upTarget)
	if b.opts.upMembers != 3 {
		target = "" // the target is for three members
	}
	bin, err := b.flotilla(ctx)
	if err != nil {
		return []Row{skipped("up", what, target, err.Error())}
	}
	var times sample
	for i := 1; i <= b.opts.upRuns; i++ {
		took, err := b.upOnce(ctx, bin, i)
		if err != nil {
			return []Row{skipped("up", what, target, err.Error())}
		}
		b.logf("up: run %d/%d: %s", i, b.opts.upRuns, dur(took))
		times = append(times, took)
	}
	row := Row{
		What:     what,
		Target:   target,
		Measured: fmt.Sprintf("median %s (min %s, max %s)", dur(times.median()), dur(times.min()), dur(times.max())),
		How: fmt.Sprintf("wall time of `%s local up --members %d` until it exits: every cluster's API server ready, "+
			"3 kwok nodes Ready per member, CRDs installed, members enrolled, hub manager serving /readyz; tool binaries cached; "+
			"`local down` after each run; median of %d runs", filepath.Base(bin), b.opts.upMembers, b.opts.upRuns),
		N:       len(times),
		Figures: map[string]float64{"median_s": times.median().Seconds(), "min_s": times.min().Seconds(), "max_s": times.max().Seconds()},
	}
	if target != "" {
		row.Verdict = verdict(times.median() < upTarget)
	}
	return []Row{row}
}

// upOnce runs `flotilla local up` once and `local down` after it, whatever
// happened: down stops whatever the fleet's state file records.
func (b *bench) upOnce(ctx context.Context, bin string, i int) (time.Duration, error) {
	fleet := []string{"--name", "bench-up", "--state-dir", filepath.Join(b.work, "up")}
	logPath := filepath.Join(b.work, fmt.Sprintf("up-%d.log", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()

	up := exec.CommandContext(ctx, bin, append([]string{"local", "up", "--members", strconv.Itoa(b.opts.upMembers), "--timeout", "3m"}, fleet...)...)
	up.Stdout, up.Stderr = logFile, logFile
	start := time.Now()
	upErr := up.Run()
	took := time.Since(start)

	downCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	down := exec.CommandContext(downCtx, bin, append([]string{"local", "down"}, fleet...)...)
	down.Stdout, down.Stderr = logFile, logFile
	downErr := down.Run()

	if upErr != nil {
		return 0, fmt.Errorf("run %d of `flotilla local up` failed: %w (log %s):\n%s", i, upErr, logPath, tail(logPath, 8))
	}
	if downErr != nil {
		b.warn("`flotilla local down` after up run %d: %v (log %s)", i, downErr, logPath)
	}
	return took, nil
}

// tail returns the last lines of a file, for error messages.
func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
