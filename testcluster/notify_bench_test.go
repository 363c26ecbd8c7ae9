package testcluster

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-mq/herald/client"
)

// arrivalSink is a webhook receiver on 127.0.0.1 that records the first
// arrival time of each message (by X-Herald-Message-Id) and closes done
// once want distinct messages have arrived.
type arrivalSink struct {
	srv *httptest.Server

	mu    sync.Mutex // guards first, dups, want, done
	first map[string]time.Time
	dups  int
	want  int
	done  chan struct{}
}

func newArrivalSink(tb testing.TB) *arrivalSink {
	s := &arrivalSink{first: map[string]time.Time{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *arrivalSink) URL() string { return s.srv.URL + "/hook" }

func (s *arrivalSink) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	id := r.Header.Get("X-Herald-Message-Id")
	s.mu.Lock()
	if _, ok := s.first[id]; ok {
		s.dups++
	} else if id != "" {
		s.first[id] = now
		if s.done != nil && len(s.first) == s.want {
			close(s.done)
			s.done = nil
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// expect returns a channel closed once n distinct messages have arrived
// in total (at once if they already have).
func (s *arrivalSink) expect(n int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if len(s.first) >= n {
		close(ch)
		return ch
	}
	s.want, s.done = n, ch
	return ch
}

// count returns the number of distinct messages that have arrived.
func (s *arrivalSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}

// arrivals returns a copy of the first-arrival times and the number of
// duplicate deliveries.
func (s *arrivalSink) arrivals() (map[string]time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.first))
	for k, v := range s.first {
		out[k] = v
	}
	return out, s.dups
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkNotifyEndToEnd measures push delivery through a 3-node
// cluster: b.N messages posted (batches of 10, round-robin over the nodes,
// from 4 concurrent posters) to a queue with one webhook subscription.
// Reported: notif/s, messages delivered per second from the first post to
// the last first arrival; p50-ms and p99-ms, the time from a message's
// acknowledged POST to its first arrival at the subscriber (0 when the
// webhook arrived before the POST answer did). One subscription's
// deliveries are sequential and in order, so notif/s is the rate of one
// subscription's worker. Cluster start, subscription and warm-up are
// outside the timer.
//
//	go test -run '^$' -bench NotifyEndToEnd -benchtime 2000x -count 3 ./testcluster/
func BenchmarkNotifyEndToEnd(b *testing.B) {
	const (
		nodes   = 3
		posters = 4
		batch   = 10
		queue   = "bench"
		warmup  = 20
	)
	b.StopTimer()
	c := New(b, nodes, Options{Configure: allowLoopback})
	c.WaitForLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sink := newArrivalSink(b)
	clients := make([]*client.Client, nodes)
	for i, n := range c.Nodes {
		clients[i] = n.Client(client.WithRetry(20, 20*time.Millisecond))
	}
	subID, err := clients[0].CreateSubscription(ctx, queue, sink.URL(), 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	Poll(b, 30*time.Second, "the subscription has an owner", func() bool {
		d, err := clients[1].SubscriptionDelivery(ctx, queue, subID)
		return err == nil && d.Owner != ""
	})
	// Warm up: connections, the owner's worker, the sink.
	warm := make([]client.NewMessage, batch)
	for i := range warm {
		warm[i] = client.NewMessage{Body: map[string]int{"warmup": i}}
	}
	for i := 0; i < warmup/batch; i++ {
		if _, err := clients[i%nodes].PostMessages(ctx, queue, warm); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-sink.expect(warmup):
	case <-time.After(30 * time.Second):
		b.Fatalf("warm-up: %d of %d messages arrived", sink.count(), warmup)
	}

	n := b.N
	ids := make([]string, n)
	acked := make([]time.Time, n)
	done := sink.expect(warmup + n)
	var (
		next    atomic.Int64 // next batch to post
		wg      sync.WaitGroup
		errOnce sync.Once
		postErr error
	)
	batches := (n + batch - 1) / batch
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= batches {
					return
				}
				lo, hi := k*batch, min((k+1)*batch, n)
				msgs := make([]client.NewMessage, 0, hi-lo)
				for i := lo; i < hi; i++ {
					msgs = append(msgs, client.NewMessage{Body: map[string]int{"i": i}})
				}
				got, err := clients[k%nodes].PostMessages(ctx, queue, msgs)
				at := time.Now()
				if err == nil && len(got) != len(msgs) {
					err = errShortPost
				}
				if err != nil {
					errOnce.Do(func() { postErr = err })
					cancel()
					return
				}
				for j, id := range got {
					ids[lo+j], acked[lo+j] = id, at
				}
			}
		}()
	}
	wg.Wait()
	if postErr != nil {
		b.Fatalf("post: %v", postErr)
	}
	timeout := time.Minute + time.Duration(n)*5*time.Millisecond
	select {
	case <-done:
	case <-time.After(timeout):
		b.Fatalf("after %v: %d of %d messages arrived", timeout, sink.count()-warmup, n)
	}
	b.StopTimer()

	first, dups := sink.arrivals()
	var last time.Time
	lat := make([]time.Duration, 0, n)
	for i, id := range ids {
		at, ok := first[id]
		if !ok {
			b.Fatalf("message %d (%s) never arrived", i, id)
		}
		if at.After(last) {
			last = at
		}
		lat = append(lat, max(at.Sub(acked[i]), 0))
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(n)/last.Sub(start).Seconds(), "notif/s")
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	if dups > 0 {
		b.Logf("%d duplicate deliveries", dups)
	}
}

var errShortPost = errors.New("fewer ids than messages in a POST answer")
