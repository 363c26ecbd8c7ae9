package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/herald-mq/herald/client"
)

// Config configures one chaos run.
type Config struct {
	Bin         string
	Nodes       int           // 3 or 5
	Duration    time.Duration // workload and fault time
	Seed        int64
	Clients     int      // concurrent workers (2 of them on LinQueue)
	Faults      []string // enabled fault kinds
	Keep        bool     // keep data dirs when a violation is found
	HistoryPath string   // write the history JSON here ("" = no)
	HTMLPath    string   // porcupine visualization on a linearizability failure
	ExtraArgs   []string // passed to every node
	ClaimTTL    int      // seconds; large relative to the run
	LinTimeout  time.Duration
	Netns       bool // run each node in its own network namespace; enables AllNetFaults
	Logf        func(format string, args ...any)
}

// Report summarizes a run.
type Report struct {
	Root       string
	Ops        int
	OK         int
	Failed     int
	Unknown    int
	Faults     int
	Check      CheckResult
	Lin        LinearizableResult
	PushTested bool
	PushNote   string
	NetNote    string // -netns: fault kinds that could not run here
	Violations []Violation
}

func (c *Config) validate() error {
	if c.Nodes != 3 && c.Nodes != 5 {
		return fmt.Errorf("-nodes must be 3 or 5, got %d", c.Nodes)
	}
	if c.Clients < 3 {
		c.Clients = 3
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = 3600
	}
	if c.LinTimeout == 0 {
		c.LinTimeout = 60 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	for _, k := range c.Faults {
		ok := false
		for _, a := range AllFaults {
			ok = ok || a == k
		}
		for _, a := range AllNetFaults {
			if a == k && !c.Netns {
				return fmt.Errorf("fault kind %q needs -netns", k)
			}
			ok = ok || a == k
		}
		if !ok {
			return fmt.Errorf("unknown fault kind %q (known: %v, with -netns %v)", k, AllFaults, AllNetFaults)
		}
	}
	if _, err := os.Stat(c.Bin); err != nil {
		return fmt.Errorf("herald binary: %w (run make build)", err)
	}
	return nil
}

// Run performs one chaos run: start the cluster, run the workload and the
// faults for Duration, heal, drain, check. ctx cancellation (SIGINT) ends
// the run early; every process started is killed before Run returns.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logf := cfg.Logf
	rep = &Report{}
	root, err := os.MkdirTemp("", "herald-chaos-")
	if err != nil {
		return nil, err
	}
	rep.Root = root
	h := NewHistory()

	var netns *Netns
	if cfg.Netns {
		if netns, err = NewNetns(cfg.Nodes, logf); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		// Runs last: after the cluster's own cleanup below, and also kills
		// the nodes itself if that did not happen.
		defer netns.Cleanup()
	}
	var sink *Sink
	extra := append([]string(nil), cfg.ExtraArgs...)
	if ok, _ := SupportsPush(cfg.Bin); ok {
		sinkAddr, cidr := "127.0.0.1:0", "127.0.0.0/8"
		if netns != nil {
			sinkAddr, cidr = HostIP()+":0", NetCIDR()
		}
		if sink, err = NewSinkAt(sinkAddr); err != nil {
			return nil, err
		}
		defer sink.Close()
		extra = append(extra, "-subscriber-allow-cidrs", cidr)
	} else {
		rep.PushNote = "binary has no -subscriber-allow-cidrs: push check (d) skipped"
	}
	c := NewCluster(cfg.Bin, root, cfg.Nodes, extra, logf)
	if netns != nil {
		netns.Attach(c)
		if !netns.NetemOK {
			var kinds []string
			for _, k := range cfg.Faults {
				if k != FaultNetem {
					kinds = append(kinds, k)
				}
			}
			if len(kinds) < len(cfg.Faults) {
				rep.NetNote = "netem fault skipped: this kernel has no sch_netem (tc: qdisc kind unknown)"
				logf("%s", rep.NetNote)
			}
			cfg.Faults = kinds
		}
	}
	defer func() {
		c.Cleanup()
		if len(rep.Violations) > 0 && cfg.Keep || err != nil && cfg.Keep {
			logf("keeping data and logs in %s", root)
			return
		}
		os.RemoveAll(root)
	}()
	logf("starting %d nodes of %s in %s", cfg.Nodes, cfg.Bin, root)
	if err = c.Start(ctx); err != nil {
		return rep, err
	}
	for _, n := range c.Nodes {
		logf("  %s pid %d http %s raft %s gossip %s", n.ID, n.PID(), n.HTTP, n.Raft, n.Gossip)
	}
	if sink != nil {
		cl := newClients(c.Nodes[:1], 10*time.Second)[0]
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, serr := cl.CreateSubscription(sctx, PushQueue, sink.URL(), 86400, nil)
		cancel()
		if serr != nil {
			rep.PushNote = "cannot subscribe the local sink (" + serr.Error() + "): push check (d) skipped"
			sink.Close()
			sink = nil
		} else {
			rep.PushTested = true
		}
	}

	rng := rand.New(rand.NewSource(cfg.Seed))
	wctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		w := &worker{id: i, rng: rand.New(rand.NewSource(rng.Int63())), h: h, nodes: c.Nodes,
			clients: newClients(c.Nodes, 5*time.Second), lin: i < 2, push: sink != nil, claimTTL: cfg.ClaimTTL,
			hc: &http.Client{Timeout: 5 * time.Second}}
		wg.Add(1)
		go func() { // owner: Run; ends with wctx (a lin write's resolution: at most resolveBound later, or with ctx)
			defer wg.Done()
			w.run(wctx, ctx)
		}()
	}
	f := &faulter{c: c, h: h, rng: rand.New(rand.NewSource(rng.Int63())), kinds: cfg.Faults, logf: logf, net: netns}
	if len(cfg.Faults) > 0 {
		wg.Add(1)
		go func() { // owner: Run; ends with wctx or after 10000 faults
			defer wg.Done()
			f.loop(wctx, 10000)
		}()
	}
	wg.Add(1)
	go func() { // owner: Run; progress lines until wctx ends
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				ok, fail, unk := h.Counts()
				logf("t=%s ops ok=%d fail=%d unknown=%d faults=%d", fmtT(h.Now()), ok, fail, unk, f.count)
			}
		}
	}()
	wg.Wait()
	rep.Faults = f.count
	for _, e := range f.errors {
		rep.Violations = append(rep.Violations, Violation{"recovery", e})
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}

	logf("workload done; healing the cluster")
	if err = f.heal(90 * time.Second); err != nil {
		rep.Violations = append(rep.Violations, Violation{"recovery", "final heal: " + err.Error()})
		return rep, nil
	}
	logf("draining queues")
	for _, q := range append(append([]string{}, mainQueues...), LinQueue, PushQueue) {
		if err = drain(ctx, h, c, q); err != nil {
			rep.Violations = append(rep.Violations, Violation{"recovery", "final drain: " + err.Error()})
			return rep, nil
		}
	}
	ops := h.Snapshot()
	rep.Ops = len(ops)
	rep.OK, rep.Failed, rep.Unknown = h.Counts()
	rep.Check = CheckHistory(ops)
	rep.Violations = append(rep.Violations, rep.Check.Violations...)

	logf("checking linearizability of queue %s", LinQueue)
	rep.Lin = CheckLinearizable(ops, cfg.LinTimeout)
	if rep.Lin.Result == porcupine.Illegal {
		v := Violation{"linearizable", fmt.Sprintf("queue %s history (%d ops, %d pending) is not linearizable", LinQueue, rep.Lin.Ops, rep.Lin.Pending)}
		if cfg.HTMLPath != "" {
			if werr := rep.Lin.WriteVisualization(cfg.HTMLPath); werr == nil {
				v.Detail += "; visualization in " + cfg.HTMLPath
			}
		}
		rep.Violations = append(rep.Violations, v)
	}
	if sink != nil {
		rep.Violations = append(rep.Violations, checkPush(ctx, h, sink, logf)...)
	}
	if cfg.HistoryPath != "" {
		if werr := h.WriteJSON(cfg.HistoryPath); werr != nil {
			logf("cannot write history: %v", werr)
		}
	}
	return rep, nil
}

// drain lists every message of queue (claimed ones too) on a healthy
// cluster and records the result as one OpDrain operation.
func drain(ctx context.Context, h *History, c *Cluster, queue string) error {
	cl := client.New(c.Nodes[0].URL(), client.WithProjectID(project), client.WithRetry(5, 200*time.Millisecond))
	op := Op{Worker: -1, Node: c.Nodes[0].ID, Kind: OpDrain, Queue: queue, Call: h.Now()}
	marker := ""
	for page := 0; page < 100000; page++ {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		p, err := cl.ListMessages(pctx, queue, client.ListMessagesOptions{Marker: marker, Limit: 20, Echo: true, IncludeClaimed: true})
		cancel()
		if err != nil {
			return fmt.Errorf("list %s: %w", queue, err)
		}
		if len(p.Messages) == 0 || p.Next == "" {
			op.Msgs = append(op.Msgs, refs(p.Messages)...)
			break
		}
		op.Msgs = append(op.Msgs, refs(p.Messages)...)
		marker = p.Next
	}
	op.Return, op.Outcome = h.Now(), OK
	h.Add(op)
	return nil
}

// checkPush is check (d): every acknowledged message of PushQueue reaches
// the sink at least once within two minutes after the run.
func checkPush(ctx context.Context, h *History, sink *Sink, logf func(string, ...any)) []Violation {
	var ids []string
	for _, o := range h.Snapshot() {
		if o.Queue == PushQueue && o.Kind == OpPost && o.Outcome == OK {
			for _, m := range o.Msgs {
				ids = append(ids, m.ID)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	missing := sink.Missing(ids)
	for len(missing) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, time.Second)
		missing = sink.Missing(ids)
	}
	total, distinct := sink.Deliveries()
	logf("push: %d acknowledged, %d delivered (distinct %d, total deliveries %d), %d missing", len(ids), len(ids)-len(missing), distinct, total, len(missing))
	var out []Violation
	for i, id := range missing {
		if i == 10 {
			out = append(out, Violation{"push", fmt.Sprintf("... and %d more undelivered", len(missing)-10)})
			break
		}
		out = append(out, Violation{"push", "acknowledged message " + id + " of queue push never reached the webhook sink"})
	}
	return out
}
