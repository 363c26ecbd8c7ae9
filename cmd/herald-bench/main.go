// Command herald-bench is a load generator for the OpenStack Zaqar v2 HTTP
// API. It speaks plain Zaqar v2 (Client-ID and X-Project-ID headers, no
// Herald extensions), so it can drive Herald or any Zaqar server.
//
// Producers POST batches of messages, consumers claim messages and delete
// them with their claim id, observers list messages. After the run it prints,
// per operation, the request and message rates, the errors by kind and the
// latency percentiles (p50, p90, p99, max; microsecond resolution).
//
// By default (-http lean) every worker drives one keep-alive connection with
// herald-bench's own minimal HTTP/1.1 client, which costs a fraction of
// net/http's CPU per request and so steals less from servers on the same
// machine; -http std uses net/http instead (the reference for correctness,
// and what https:// targets always use).
//
//	herald-bench -targets http://127.0.0.1:8888 -mode post1 -producers 64 -duration 20s
//	herald-bench -targets http://a:8888,http://b:8888 -mode mixed -json
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// preset is the set of defaults a -mode applies to flags not given
// explicitly.
type preset struct {
	producers, consumers, observers, batch, prefill int
}

var presets = map[string]preset{
	"post1":   {producers: 64, batch: 1},
	"post10":  {producers: 64, batch: 10},
	"consume": {consumers: 64, batch: 10, prefill: 100000},
	"mixed":   {producers: 16, consumers: 16, observers: 8, batch: 1},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseConfig parses the command line into a Config; it returns the config,
// whether -json, -setup and -drain were given, and an error.
func parseConfig(args []string, stderr io.Writer) (cfg Config, jsonOut, setup, drain bool, err error) {
	fs := flag.NewFlagSet("herald-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	targets := fs.String("targets", "http://127.0.0.1:8888", "comma-separated base URLs; workers are spread round-robin over them")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured warmup before -duration")
	fs.IntVar(&cfg.Producers, "producers", 1, "producer workers (POST messages)")
	fs.IntVar(&cfg.Consumers, "consumers", 0, "consumer workers (claim, then delete with claim_id)")
	fs.IntVar(&cfg.Observers, "observers", 0, "observer workers (GET message lists)")
	fs.IntVar(&cfg.Batch, "batch", 1, "messages per POST")
	fs.IntVar(&cfg.Size, "size", 256, "message body bytes (a JSON string)")
	fs.IntVar(&cfg.Queues, "queues", 8, "number of queues, named bench-0 ..; worker i of each role uses queue i mod queues")
	fs.StringVar(&cfg.Project, "project", "bench", "X-Project-ID")
	fs.IntVar(&cfg.TTL, "ttl", 3600, "message ttl, seconds")
	fs.IntVar(&cfg.ClaimLimit, "claim-limit", 10, "messages per claim (?limit=)")
	fs.IntVar(&cfg.ClaimTTL, "claim-ttl", 60, "claim ttl, seconds")
	fs.IntVar(&cfg.ClaimGrace, "claim-grace", 60, "claim grace, seconds")
	fs.IntVar(&cfg.ListLimit, "list-limit", 10, "messages per list (?limit=)")
	fs.BoolVar(&cfg.BulkDelete, "bulk-delete", false, "consumers delete claimed messages with one DELETE ?ids= instead of one DELETE ?claim_id= each")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.EmptyBackoff, "empty-backoff", 5*time.Millisecond, "consumer pause after a claim found nothing (204)")
	fs.IntVar(&cfg.Prefill, "prefill", 0, "messages posted (unmeasured, 20 per POST) before the run; mode consume defaults to 100000")
	fs.DurationVar(&cfg.Progress, "progress", 0, "print a live progress line on stderr at this interval (0 = off)")
	fs.BoolVar(&jsonOut, "json", false, "print the summary as JSON on stdout (the table goes to stderr)")
	fs.BoolVar(&setup, "setup", false, "create the queues (PUT) before the run")
	fs.BoolVar(&drain, "drain", false, "delete the queues after the run")
	fs.StringVar(&cfg.Mode, "mode", "", "preset: post1, post10, consume, mixed (explicit flags win)")
	fs.StringVar(&cfg.HTTP, "http", HTTPLean, "HTTP client: lean (herald-bench's own HTTP/1.1 keep-alive client, one connection per worker, cheap per request; https:// targets fall back to std) or std (net/http)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: herald-bench [flags]

Load generator for the Zaqar v2 HTTP API: producers POST messages, consumers
claim and delete them, observers list them; prints rates, errors and latency
percentiles per operation. Requests go through herald-bench's own lean
HTTP/1.1 client unless -http std selects net/http.

flags:
`)
		fs.PrintDefaults()
	}
	if err = fs.Parse(args); err != nil {
		return
	}
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %v", fs.Args())
		return
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Mode != "" {
		p, ok := presets[cfg.Mode]
		if !ok {
			err = fmt.Errorf("unknown -mode %q (want post1, post10, consume or mixed)", cfg.Mode)
			return
		}
		apply := func(name string, dst *int, v int) {
			if !set[name] {
				*dst = v
			}
		}
		apply("producers", &cfg.Producers, p.producers)
		apply("consumers", &cfg.Consumers, p.consumers)
		apply("observers", &cfg.Observers, p.observers)
		apply("batch", &cfg.Batch, p.batch)
		apply("prefill", &cfg.Prefill, p.prefill)
	} else {
		cfg.Mode = "custom"
	}
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimRight(strings.TrimSpace(t), "/"); t != "" {
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	switch {
	case len(cfg.Targets) == 0:
		err = errors.New("-targets is empty")
	case cfg.Producers < 0 || cfg.Consumers < 0 || cfg.Observers < 0:
		err = errors.New("worker counts must not be negative")
	case cfg.Batch < 1 || cfg.Queues < 1 || cfg.Size < 2:
		err = errors.New("-batch and -queues must be >= 1, -size >= 2")
	case cfg.ClaimLimit < 1 || cfg.ListLimit < 1:
		err = errors.New("-claim-limit and -list-limit must be >= 1")
	case cfg.Duration < 0 || cfg.Warmup < 0:
		err = errors.New("-duration and -warmup must not be negative")
	case cfg.HTTP != HTTPLean && cfg.HTTP != HTTPStd:
		err = fmt.Errorf("unknown -http %q (want lean or std)", cfg.HTTP)
	case strings.ContainsFunc(cfg.Project, func(r rune) bool { return r < ' ' || r == 0x7f }):
		err = errors.New("-project contains control characters")
	}
	return
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, jsonOut, setup, drain, err := parseConfig(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "herald-bench:", err)
		return 2
	}
	r := NewRunner(cfg, stderr)
	defer r.Close()
	if setup {
		if err := r.Setup(); err != nil {
			fmt.Fprintln(stderr, "herald-bench: setup:", err)
			return 1
		}
	}
	if cfg.Prefill > 0 {
		if err := r.Prefill(cfg.Prefill); err != nil {
			fmt.Fprintln(stderr, "herald-bench: prefill:", err)
			return 1
		}
	}
	rc := 0
	if cfg.Workers() > 0 && cfg.Duration > 0 {
		stats, elapsed := r.Run()
		s := summarize(&stats, elapsed)
		s.Mode, s.Targets = cfg.Mode, cfg.Targets
		s.Producers, s.Consumers, s.Observers = cfg.Producers, cfg.Consumers, cfg.Observers
		s.Batch, s.Size, s.Queues = cfg.Batch, cfg.Size, cfg.Queues
		if jsonOut {
			writeText(stderr, s)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(s)
		} else {
			writeText(stdout, s)
		}
		if s.Overall.Requests > 0 && s.Overall.Errors == s.Overall.Requests {
			rc = 1
		}
	}
	if drain {
		if err := r.Drain(); err != nil {
			fmt.Fprintln(stderr, "herald-bench: drain:", err)
			return 1
		}
	}
	return rc
}

// each runs fn for every queue index on up to 8 goroutines and returns the
// first error.
func (r *Runner) each(fn func(w *worker, q int) error) error {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for g := 0; g < 8 && g < r.cfg.Queues; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := r.newWorker(r.cfg.Targets[g%len(r.cfg.Targets)], 0)
			defer w.close()
			for {
				q := int(next.Add(1) - 1)
				if q >= r.cfg.Queues {
					return
				}
				if err := fn(w, q); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// simple sends one unmeasured request and checks its status.
func (w *worker) simple(method, url string, body []byte, ok ...int) error {
	res, _ := w.do(OpPost, method, url, body, ok[0], ok[len(ok)-1])
	for _, s := range ok {
		if res.status == s {
			return nil
		}
	}
	return fmt.Errorf("%s %s: status %d: %.200s", method, url, res.status, res.body)
}

// Setup creates every queue with PUT (201 or 204).
func (r *Runner) Setup() error {
	return r.each(func(w *worker, q int) error {
		return w.simple(http.MethodPut, w.base+"/v2/queues/"+QueueName(q), nil, http.StatusCreated, http.StatusNoContent)
	})
}

// Drain deletes every queue (and so its messages).
func (r *Runner) Drain() error {
	return r.each(func(w *worker, q int) error {
		return w.simple(http.MethodDelete, w.base+"/v2/queues/"+QueueName(q), nil, http.StatusNoContent)
	})
}

// Prefill posts total messages spread evenly over the queues, 20 per POST
// (fewer when the body would exceed 200 KB), from 16 goroutines, outside any
// measurement.
func (r *Runner) Prefill(total int) error {
	per := 20
	for per > 1 && per*(r.cfg.Size+32) > 200<<10 {
		per--
	}
	nPosts := (total + per - 1) / per
	var next, done, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := r.newWorker(r.cfg.Targets[g%len(r.cfg.Targets)], 0)
			defer w.close()
			bodies := map[int][]byte{}
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= nPosts {
					return
				}
				n := per
				if rest := total - i*per; rest < n {
					n = rest
				}
				if bodies[n] == nil {
					bodies[n] = postBody(n, r.cfg.Size, r.cfg.TTL)
				}
				url := w.base + "/v2/queues/" + QueueName(i%r.cfg.Queues) + "/messages"
				var err error
				for try := 0; try < 5; try++ {
					if err = w.simple(http.MethodPost, url, bodies[n], http.StatusCreated); err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					if failed.Add(1) > 10 {
						stop.Store(true)
					}
					continue
				}
				if d := done.Add(int64(n)); r.cfg.Progress > 0 && d/10000 != (d-int64(n))/10000 {
					fmt.Fprintf(r.log, "\rprefill %d/%d messages", d, total)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Fprintf(r.log, "\rprefill: %d messages in %.1fs (%.0f msgs/s), %d failed posts\n",
		done.Load(), el.Seconds(), float64(done.Load())/el.Seconds(), failed.Load())
	if failed.Load() > 10 {
		return errors.New("too many failed posts")
	}
	return nil
}
