package main

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// Histogram layout: values (microseconds) below 2^(subBits+1) get one
// bucket each, so they are exact; above that every power-of-two range is cut
// into 2^subBits equal buckets, so a reported value is within 1/2^subBits
// (0.1%) of the true one. This is the HDR histogram scheme with 3 significant
// digits.
const (
	subBits    = 10
	subCount   = 1 << subBits
	maxShift   = 26 // values up to 2^(subBits+1+maxShift) µs (about 38 hours)
	numBuckets = (maxShift + 2) * subCount
)

// Histogram records latencies in microseconds with microsecond resolution
// below 2048 µs and 0.1% relative precision above. The zero value is ready to
// use; it is not safe for concurrent use.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    uint64
	min    uint64
	max    uint64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	if shift > maxShift {
		return numBuckets - 1
	}
	return shift*subCount + int(v>>uint(shift))
}

// bucketRange returns the lowest and highest value mapped to bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := uint(i/subCount - 1)
	lo = uint64(i-int(shift)*subCount) << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one value in microseconds.
func (h *Histogram) Record(us uint64) {
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(us)]++
	if h.n == 0 || us < h.min {
		h.min = us
	}
	if us > h.max {
		h.max = us
	}
	h.n++
	h.sum += us
}

// RecordDuration adds one duration, truncated to microseconds.
func (h *Histogram) RecordDuration(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.Record(uint64(d / time.Microsecond))
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() uint64 { return h.max }

// Mean returns the arithmetic mean (exact), 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n)
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest recorded value such that at least p% of the values are <= it,
// reported as the highest value of its bucket, capped at the exact maximum.
// It returns 0 when empty.
func (h *Histogram) Percentile(p float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p*float64(h.n)/100 - 1e-9)) // epsilon: 99.9% of 1000 is 999, not 1000
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			_, hi := bucketRange(i)
			if hi > h.max {
				hi = h.max
			}
			if hi < h.min {
				hi = h.min
			}
			return hi
		}
	}
	return h.max
}

// Op identifies a kind of benchmark request.
type Op int

// The operations a worker performs.
const (
	OpPost   Op = iota // POST /messages
	OpClaim            // POST /claims
	OpDelete           // DELETE a claimed message (or a bulk delete)
	OpList             // GET /messages
	numOps
)

var opNames = [numOps]string{"post", "claim", "delete", "list"}

// String returns the operation's name as used in the summary.
func (o Op) String() string { return opNames[o] }

// OpStats accumulates the results of one operation type in one worker.
type OpStats struct {
	Requests uint64            // requests completed (successful or not)
	Messages uint64            // messages posted, claimed+deleted or listed
	Empty    uint64            // successful requests that carried no message (204 claims, empty lists)
	Errors   map[string]uint64 // failed requests by kind: "status 503", "timeout", "network", "decode"
	Latency  Histogram         // latency of successful requests, µs
}

func (s *OpStats) addError(kind string) {
	if s.Errors == nil {
		s.Errors = make(map[string]uint64)
	}
	s.Errors[kind]++
}

func (s *OpStats) merge(o *OpStats) {
	s.Requests += o.Requests
	s.Messages += o.Messages
	s.Empty += o.Empty
	for k, v := range o.Errors {
		if s.Errors == nil {
			s.Errors = make(map[string]uint64)
		}
		s.Errors[k] += v
	}
	s.Latency.Merge(&o.Latency)
}

func (s *OpStats) errorCount() uint64 {
	var n uint64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

// LatencySummary is the latency part of a summary, in microseconds.
type LatencySummary struct {
	P50  uint64  `json:"p50_us"`
	P90  uint64  `json:"p90_us"`
	P99  uint64  `json:"p99_us"`
	Max  uint64  `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

func summarizeLatency(h *Histogram) LatencySummary {
	return LatencySummary{P50: h.Percentile(50), P90: h.Percentile(90), P99: h.Percentile(99),
		Max: h.Max(), Mean: math.Round(h.Mean()*10) / 10}
}

// OpSummary is the machine-readable summary of one operation type.
type OpSummary struct {
	Op         string            `json:"op"`
	Requests   uint64            `json:"requests"`
	Errors     uint64            `json:"errors"`
	ErrorKinds map[string]uint64 `json:"error_kinds,omitempty"`
	Empty      uint64            `json:"empty"`
	Messages   uint64            `json:"messages"`
	ReqPerSec  float64           `json:"req_per_s"`
	MsgsPerSec float64           `json:"msgs_per_s"`
	Latency    LatencySummary    `json:"latency"`
}

// Summary is the machine-readable result of a run (-json).
type Summary struct {
	Mode      string      `json:"mode"`
	Targets   []string    `json:"targets"`
	Producers int         `json:"producers"`
	Consumers int         `json:"consumers"`
	Observers int         `json:"observers"`
	Batch     int         `json:"batch"`
	Size      int         `json:"size"`
	Queues    int         `json:"queues"`
	Seconds   float64     `json:"seconds"`
	Ops       []OpSummary `json:"ops"`
	Overall   OpSummary   `json:"overall"`
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// summarize turns merged per-op statistics measured over elapsed into a
// Summary (cfg fields are filled by the caller).
func summarize(stats *[numOps]OpStats, elapsed time.Duration) Summary {
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	var s Summary
	s.Seconds = math.Round(secs*1000) / 1000
	var all OpStats
	for op := Op(0); op < numOps; op++ {
		st := &stats[op]
		if st.Requests == 0 {
			continue
		}
		all.merge(st)
		s.Ops = append(s.Ops, opSummary(op.String(), st, secs))
	}
	s.Overall = opSummary("overall", &all, secs)
	return s
}

func opSummary(name string, st *OpStats, secs float64) OpSummary {
	return OpSummary{Op: name, Requests: st.Requests, Errors: st.errorCount(), ErrorKinds: st.Errors,
		Empty: st.Empty, Messages: st.Messages,
		ReqPerSec: round1(float64(st.Requests) / secs), MsgsPerSec: round1(float64(st.Messages) / secs),
		Latency: summarizeLatency(&st.Latency)}
}

func fmtUS(us uint64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1000000:
		return fmt.Sprintf("%.2fms", float64(us)/1000)
	default:
		return fmt.Sprintf("%.2fs", float64(us)/1e6)
	}
}

// writeText prints the human-readable summary table.
func writeText(w io.Writer, s Summary) {
	fmt.Fprintf(w, "mode=%s targets=%d producers=%d consumers=%d observers=%d batch=%d size=%dB queues=%d measured=%.1fs\n",
		s.Mode, len(s.Targets), s.Producers, s.Consumers, s.Observers, s.Batch, s.Size, s.Queues, s.Seconds)
	fmt.Fprintf(w, "%-8s %10s %10s %10s %8s %8s %9s %9s %9s %9s\n",
		"op", "requests", "req/s", "msgs/s", "errors", "empty", "p50", "p90", "p99", "max")
	rows := append(append([]OpSummary(nil), s.Ops...), s.Overall)
	for _, o := range rows {
		fmt.Fprintf(w, "%-8s %10d %10.1f %10.1f %8d %8d %9s %9s %9s %9s\n", o.Op, o.Requests, o.ReqPerSec,
			o.MsgsPerSec, o.Errors, o.Empty, fmtUS(o.Latency.P50), fmtUS(o.Latency.P90), fmtUS(o.Latency.P99),
			fmtUS(o.Latency.Max))
	}
	for _, o := range s.Ops {
		if len(o.ErrorKinds) == 0 {
			continue
		}
		keys := make([]string, 0, len(o.ErrorKinds))
		for k := range o.ErrorKinds {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, o.ErrorKinds[k])
		}
		fmt.Fprintf(w, "errors %s: %s\n", o.Op, strings.Join(parts, " "))
	}
}
