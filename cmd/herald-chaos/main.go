// Command herald-chaos runs a real bin/herald cluster on loopback under
// process faults (kill -9, SIGSTOP, leader kills, rolling and full
// restarts) with concurrent clients, then checks the recorded history:
// nothing acknowledged lost, exclusive claims, a linearizable queue
// (porcupine) and at-least-once webhook delivery. It exits 1 on any
// violation. With -measure it measures failover, availability or webhook
// re-ownership instead; -netns -measure partition measures the majority's
// availability while one node is cut off by a real network partition.
//
//	herald-chaos -duration 90s -seed 1
//	herald-chaos -measure failover -trials 12 -node-args "-raft-heartbeat-timeout 200ms ..."
//	herald-chaos -measure reown -trials 10
//	herald-chaos -netns -measure partition -trials 10 -cut-for 15s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/herald-mq/herald/internal/chaos"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("herald-chaos", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "cluster size (3 or 5)")
	duration := fs.Duration("duration", 90*time.Second, "workload and fault time")
	seed := fs.Int64("seed", 1, "random seed of workload choices and fault schedule")
	clients := fs.Int("clients", 6, "concurrent clients (2 of them on the linearizability queue)")
	faults := fs.String("faults", strings.Join(chaos.AllFaults, ","), "comma list of fault kinds: "+strings.Join(chaos.AllFaults, ",")+" (empty: none)")
	bin := fs.String("bin", "bin/herald", "herald binary")
	keep := fs.Bool("keep", false, "keep data dirs and node logs when a violation is found")
	history := fs.String("history", "", "write the recorded history as JSON to this path")
	html := fs.String("porcupine-html", "herald-chaos-lin.html", "write porcupine's visualization here on a linearizability violation")
	measure := fs.String("measure", "", "measure instead of checking: failover | pause | reown | partition (with -netns)")
	trials := fs.Int("trials", 12, "-measure failover: leader kills; reown: owner kills; partition: cuts")
	cutFor := fs.Duration("cut-for", 15*time.Second, "-measure partition: how long each cut lasts (more than 11 s)")
	pauseFor := fs.Duration("pause-for", 20*time.Second, "-measure pause: how long one follower stays stopped")
	nodeArgs := fs.String("node-args", "", "extra flags for every node, space separated (e.g. raft timeouts)")
	claimTTL := fs.Int("claim-ttl", 3600, "claim ttl in seconds; keep it longer than the run")
	check := fs.String("check", "", "only check a history written by -history (checks a, b, c)")
	netns := fs.Bool("netns", false, "run each node in its own network namespace (root; ip netns) with network faults "+
		strings.Join(chaos.AllNetFaults, ",")+" (the default -faults then)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *measure == "partition" && !*netns {
		fmt.Fprintln(os.Stderr, "herald-chaos: -measure partition needs -netns (real network partitions in namespaces; root)")
		return 2
	}
	if *netns {
		if why := chaos.NetnsSupported(); why != "" {
			fmt.Fprintln(os.Stderr, "herald-chaos: "+why+"; -netns not available here (process faults only without it)")
			return 2
		}
		if *measure != "" && *measure != "partition" || *check != "" {
			fmt.Fprintln(os.Stderr, "herald-chaos: -netns works only with a chaos run or -measure partition, not with other -measure kinds or -check")
			return 2
		}
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "faults" })
		if !set {
			*faults = strings.Join(chaos.AllNetFaults, ",")
		}
	}
	logf := func(format string, a ...any) {
		fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-chaos:", err)
		return 2
	}
	var kinds []string
	for _, k := range strings.Split(*faults, ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, k)
		}
	}
	cfg := chaos.Config{Bin: abs, Nodes: *nodes, Duration: *duration, Seed: *seed, Clients: *clients,
		Faults: kinds, Keep: *keep, HistoryPath: *history, HTMLPath: *html,
		ExtraArgs: strings.Fields(*nodeArgs), ClaimTTL: *claimTTL, Logf: logf, Netns: *netns}

	// A first SIGINT/SIGTERM cancels the run; Run kills every node it
	// started and (with -netns) removes its namespaces. A second one
	// does that at once and exits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() { // owner: run; lives until the process exits
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "herald-chaos: second signal: killing nodes, removing namespaces, exiting")
		chaos.AbortCleanup()
		os.Exit(130)
	}()

	if *check != "" {
		return checkFile(*check, *html)
	}
	switch *measure {
	case "":
	case "failover":
		r, err := chaos.MeasureFailover(ctx, cfg, *trials)
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald-chaos:", err)
			return 2
		}
		fmt.Printf("failover: nodes=%d node-args=%q trials=%d measured=%d failed=%d spurious-leader-changes=%d median=%v max=%v\n",
			*nodes, *nodeArgs, *trials, len(r.Times), r.Failed, r.Spurious,
			r.Median().Round(time.Millisecond), r.Max().Round(time.Millisecond))
		return 0
	case "reown":
		r, err := chaos.MeasureReown(ctx, cfg, *trials)
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald-chaos:", err)
			return 2
		}
		rm, rx := r.ReownStats()
		dm, dx := r.DeliverStats()
		leaders := 0
		for _, w := range r.OwnerWas {
			if w == "leader" {
				leaders++
			}
		}
		fmt.Printf("reown: nodes=%d node-args=%q trials=%d measured=%d failed=%d owner-was-leader=%d re-owned median=%v max=%v; post-after-kill delivered median=%v max=%v\n",
			*nodes, *nodeArgs, *trials, len(r.Reown), r.Failed, leaders,
			rm.Round(time.Millisecond), rx.Round(time.Millisecond), dm.Round(time.Millisecond), dx.Round(time.Millisecond))
		return 0
	case "partition":
		r, err := chaos.MeasurePartition(ctx, cfg, *trials, *cutFor)
		printPartition(cfg, r, *cutFor)
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald-chaos:", err)
			return 2
		}
		return 0
	case "pause":
		ok, total, err := chaos.MeasurePause(ctx, cfg, *pauseFor)
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald-chaos:", err)
			return 2
		}
		fmt.Printf("pause: nodes=%d one follower SIGSTOPped for %v: %d/%d posts to the other nodes succeeded (%.4f)\n",
			*nodes, *pauseFor, ok, total, float64(ok)/float64(max(total, 1)))
		return 0
	default:
		fmt.Fprintln(os.Stderr, "herald-chaos: -measure must be failover, pause, reown or partition")
		return 2
	}

	rep, err := chaos.Run(ctx, cfg)
	if rep != nil {
		printReport(cfg, rep, err)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-chaos:", err)
		return 2
	}
	if len(rep.Violations) > 0 {
		return 1
	}
	return 0
}

func printReport(cfg chaos.Config, r *chaos.Report, runErr error) {
	fmt.Printf("\n=== herald-chaos summary (nodes=%d duration=%v seed=%d clients=%d faults=%s) ===\n",
		cfg.Nodes, cfg.Duration, cfg.Seed, cfg.Clients, strings.Join(cfg.Faults, ","))
	fmt.Printf("operations: %d (ok %d, failed %d, unknown outcome %d); faults injected: %d\n",
		r.Ops, r.OK, r.Failed, r.Unknown, r.Faults)
	fmt.Printf("(a) acknowledged messages: %d, consumed %d, present at the end %d\n",
		r.Check.Acked, r.Check.Consumed, r.Check.Present)
	fmt.Printf("(c) linearizability of queue %q: %s in %v (%d ops checked, %d still with unknown outcome; %d first answered unknown, resolved by a retry with the same Idempotency-Key)\n",
		chaos.LinQueue, r.Lin.Result, r.Lin.Elapsed.Round(time.Millisecond), r.Lin.Ops, r.Lin.Pending, r.Lin.Resolved)
	if r.Lin.Result == "Unknown" {
		fmt.Println("    (inconclusive: porcupine timed out; re-check the -history file with -check)")
	}
	if r.PushTested {
		fmt.Println("(d) webhook delivery checked")
	} else if r.PushNote != "" {
		fmt.Println("(d) " + r.PushNote)
	}
	if r.NetNote != "" {
		fmt.Println("note: " + r.NetNote)
	}
	for _, n := range r.Check.Notes {
		fmt.Println("note: " + n)
	}
	for _, v := range r.Violations {
		fmt.Println(v.String())
	}
	if runErr != nil {
		fmt.Printf("result: aborted (%v), %d violations so far\n", runErr, len(r.Violations))
	} else if len(r.Violations) == 0 {
		fmt.Println("result: no violations")
	} else {
		fmt.Printf("result: %d violations\n", len(r.Violations))
	}
}

// checkFile re-runs the history checks on a saved history.
func checkFile(path, html string) int {
	ops, err := chaos.ReadHistory(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-chaos:", err)
		return 2
	}
	res := chaos.CheckHistory(ops)
	lin := chaos.CheckLinearizable(ops, 5*time.Minute)
	fmt.Printf("%d ops; acknowledged %d, consumed %d, present %d; linearizability of %q: %s in %v (%d ops checked, %d with unknown outcome, %d resolved by retry)\n",
		len(ops), res.Acked, res.Consumed, res.Present, chaos.LinQueue, lin.Result, lin.Elapsed.Round(time.Millisecond),
		lin.Ops, lin.Pending, lin.Resolved)
	for _, n := range res.Notes {
		fmt.Println("note: " + n)
	}
	bad := len(res.Violations)
	for _, v := range res.Violations {
		fmt.Println(v.String())
	}
	if lin.Result == porcupine.Illegal {
		bad++
		if html != "" && lin.WriteVisualization(html) == nil {
			fmt.Println("VIOLATION [linearizable] visualization in " + html)
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}
