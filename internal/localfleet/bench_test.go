package localfleet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// BenchmarkUpHubAndThreeMembers measures `flotilla local up` for a hub and
// three members, hub manager included (DESIGN.md §8: < 15 s once the tools
// are built). It runs the flotilla binary in $FLOTILLA_BIN, or builds one.
func BenchmarkUpHubAndThreeMembers(b *testing.B) {
	testenv.RequireTools(b)
	bin := os.Getenv("FLOTILLA_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "flotilla")
		build := exec.Command("go", "build", "-o", bin, "../../cmd/flotilla")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building flotilla: %v\n%s", err, out)
		}
	}
	layout := Layout{StateDir: b.TempDir(), Name: "bench"}
	b.Cleanup(func() { _ = Down(layout, nil) })
	var total time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		start := time.Now()
		if _, err := Up(ctx, Options{Layout: layout, Config: MembersConfig(3), HubExecutable: bin}); err != nil {
			cancel()
			b.Fatal(err)
		}
		cancel()
		total += time.Since(start)
		b.StopTimer()
		if err := Down(layout, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/up")
}
