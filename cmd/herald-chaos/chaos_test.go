package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-mq/herald/internal/chaos"
)

// TestChaosShort is the short chaos run of the default suite's opt-in
// tier: 3 real nodes, 75 s of process faults with seed 1, then every
// check. It runs only with HERALD_CHAOS=1; HERALD_BIN names the binary,
// otherwise the test builds ./cmd/herald into a temp dir.
func TestChaosShort(t *testing.T) {
	if os.Getenv("HERALD_CHAOS") != "1" {
		t.Skip("set HERALD_CHAOS=1 to run the chaos test (about 2-3 minutes)")
	}
	bin := os.Getenv("HERALD_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "herald")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/herald")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build herald: %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, chaos.Config{
		Bin: bin, Nodes: 3, Duration: 75 * time.Second, Seed: 1, Clients: 6,
		Faults: chaos.AllFaults, HTMLPath: filepath.Join(t.TempDir(), "lin.html"),
		Keep: os.Getenv("HERALD_CHAOS_KEEP") == "1", Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ops (%d unknown), %d faults, %d acknowledged messages, linearizability %s in %v (%d ops, %d unknown, %d resolved by retry)",
		rep.Ops, rep.Unknown, rep.Faults, rep.Check.Acked, rep.Lin.Result, rep.Lin.Elapsed, rep.Lin.Ops, rep.Lin.Pending, rep.Lin.Resolved)
	for _, n := range rep.Check.Notes {
		t.Log("note: " + n)
	}
	if rep.PushNote != "" {
		t.Log(rep.PushNote)
	}
	for _, v := range rep.Violations {
		t.Error(v.String())
	}
}

// -measure partition cuts real links, so it refuses to run without -netns.
func TestMeasurePartitionNeedsNetns(t *testing.T) {
	if got := run([]string{"-measure", "partition", "-trials", "1"}); got != 2 {
		t.Fatalf("exit status %d, want 2", got)
	}
}
