package chaos

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Sink is a local webhook receiver recording X-Herald-Message-Id values.
type Sink struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu    sync.Mutex
	seen  map[string]int       // message id -> deliveries
	first map[string]time.Time // message id -> time of the first delivery
}

// NewSink listens on 127.0.0.1:0 and serves until Close.
func NewSink() (*Sink, error) { return NewSinkAt("127.0.0.1:0") }

// NewSinkAt listens on addr and serves until Close.
func NewSinkAt(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, seen: map[string]int{}, first: map[string]time.Time{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() { // owner: Sink; ends in Close
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if id := r.Header.Get("X-Herald-Message-Id"); id != "" {
		s.mu.Lock()
		if s.seen[id] == 0 {
			s.first[id] = time.Now()
		}
		s.seen[id]++
		s.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// URL is the subscriber URL to register.
func (s *Sink) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Missing returns the ids not delivered yet.
func (s *Sink) Missing(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		if s.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// FirstSeen returns when id was first delivered, and whether it was.
func (s *Sink) FirstSeen(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[id]
	return t, ok
}

// Deliveries returns total deliveries and distinct ids received.
func (s *Sink) Deliveries() (total, distinct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		total += n
	}
	return total, len(s.seen)
}

// Close stops the server.
func (s *Sink) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.wg.Wait()
}

// SupportsPush reports whether bin knows -subscriber-allow-cidrs, the
// flag that lets webhooks reach a loopback sink.
func SupportsPush(bin string) (bool, error) {
	out, err := exec.Command(bin, "serve", "-help").CombinedOutput()
	if len(out) == 0 && err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return false, err
		}
	}
	return strings.Contains(string(out), "-subscriber-allow-cidrs"), nil
}
