package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdicts of a row.
const (
	verdictMet     = "ok"
	verdictMissed  = "MISSED"
	verdictInfo    = "" // a figure without a target
	verdictSkipped = "skipped"
)

// Row is one figure of the report.
type Row struct {
	Scenario string `json:"scenario"`
	What     string `json:"what"`
	// Target is the DESIGN.md §8 target, empty for figures reported for context.
	Target   string `json:"target,omitempty"`
	Measured string `json:"measured"`
	// How says what exactly was measured and over what; N is the sample count.
	How     string `json:"how"`
	N       int    `json:"n,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	// Figures repeats Measured in base units (seconds, bytes, ns) for machines.
	Figures map[string]float64 `json:"figures,omitempty"`
}

// skipped is the row of a scenario that could not be measured.
func skipped(scenario, what, target, why string) Row {
	return Row{Scenario: scenario, What: what, Target: target, Measured: "skipped: " + why, Verdict: verdictSkipped}
}

// verdict is verdictMet when ok, else verdictMissed.
func verdict(ok bool) string {
	if ok {
		return verdictMet
	}
	return verdictMissed
}

// Machine describes where the figures were taken: they mean little without it.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpuModel"`
	MemoryMB int64  `json:"memoryMB"`
	// LoadAvg is the 1, 5 and 15 minute load averages at the start and the
	// end: the figures of a busy machine are worse.
	LoadAvg    string `json:"loadAvgAtStart"`
	LoadAvgEnd string `json:"loadAvgAtEnd,omitempty"`
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
}

func describeMachine() Machine {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  procField("/proc/cpuinfo", "model name"),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
	}
	// "MemTotal:       24570000 kB"
	if f := strings.Fields(procField("/proc/meminfo", "MemTotal")); len(f) > 0 {
		if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m.MemoryMB = kb / 1024
		}
	}
	m.LoadAvg = loadAvg()
	if m.CPUModel == "" {
		m.CPUModel = "unknown"
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Report is the whole output.
type Report struct {
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Took     string    `json:"took"`
	Command  string    `json:"command"`
	Rows     []Row     `json:"rows"`
	Warnings []string  `json:"warnings,omitempty"`
}

func (r Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r Report) writeTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %d MB memory, load average %s at start, %s at the end; %s %s\n",
		m.CPUs, m.CPUModel, m.MemoryMB, m.LoadAvg, m.LoadAvgEnd, m.GoVersion, m.OS)
	fmt.Fprintf(w, "Command: %s (took %s)\n\n", r.Command, r.Took)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tTARGET\tMEASURED\tOK\tN")
	for _, row := range r.Rows {
		n := ""
		if row.N > 0 {
			n = strconv.Itoa(row.N)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.What, orDash(row.Target), row.Measured, orDash(row.Verdict), orDash(n))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// How each figure was taken is too long for a column.
	fmt.Fprintln(w, "\nHow:")
	for _, row := range r.Rows {
		if row.How != "" {
			fmt.Fprintf(w, "- %s: %s\n", row.What, row.How)
		}
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warning)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
