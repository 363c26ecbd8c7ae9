// Package chaos runs real bin/herald processes on loopback, drives them with
// concurrent clients while injecting process faults, records every operation
// and checks the recorded history against Herald's guarantees (see
// docs/GUARANTEES.md). cmd/herald-chaos is its command-line front end.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one bin/herald process of a Cluster. Its addresses are fixed by
// its first start (port 0) and reused on every restart.
type Node struct {
	ID     string
	Dir    string
	HTTP   string // host:port
	Raft   string
	Gossip string
	Host   string   // bind address; "" = 127.0.0.1
	Wrap   []string // command prefix, e.g. ip netns exec NS (-netns)

	c *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	paused bool
}

// Cluster is a set of Nodes sharing one secret and data root.
type Cluster struct {
	Bin       string
	Root      string   // data root; node k lives in Root/nodeK
	ExtraArgs []string // appended to every node's command line
	Nodes     []*Node
	Logf      func(format string, args ...any)
	hc        *http.Client
}

// NewCluster prepares n nodes under root; nothing is started.
func NewCluster(bin, root string, n int, extra []string, logf func(string, ...any)) *Cluster {
	c := &Cluster{Bin: bin, Root: root, ExtraArgs: extra, Logf: logf,
		hc: &http.Client{Timeout: 2 * time.Second}}
	for k := 1; k <= n; k++ {
		c.Nodes = append(c.Nodes, &Node{ID: fmt.Sprintf("node%d", k),
			Dir: filepath.Join(root, fmt.Sprintf("node%d", k)), c: c})
	}
	return c
}

// URL is the node's HTTP base URL.
func (n *Node) URL() string { return "http://" + n.HTTP }

// Running reports whether the node's process is alive (possibly paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// PID is the current process id, 0 if none.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *Node) args() []string {
	join := []string{}
	for _, o := range n.c.Nodes {
		if o != n && o.Gossip != "" {
			join = append(join, o.Gossip)
		}
	}
	host := n.Host
	if host == "" {
		host = "127.0.0.1"
	}
	httpA, raftA, gossipA := host+":0", host+":0", host+":0"
	if n.HTTP != "" {
		httpA, raftA, gossipA = n.HTTP, n.Raft, n.Gossip
	}
	a := []string{"serve", "-node-id", n.ID, "-data-dir", n.Dir,
		"-http-addr", httpA, "-raft-addr", raftA, "-gossip-addr", gossipA,
		"-bootstrap-expect", fmt.Sprint(len(n.c.Nodes)), "-cluster-secret", "chaos-secret",
		"-log-level", "info"}
	if len(join) > 0 {
		a = append(a, "-join", strings.Join(join, ","))
	}
	return append(a, n.c.ExtraArgs...)
}

// Start starts the node's process (the first time on port 0, then on the
// recorded ports) and, on a first start, waits for listen.json.
func (n *Node) Start(ctx context.Context) error {
	if n.Running() {
		return fmt.Errorf("%s already running", n.ID)
	}
	if err := os.MkdirAll(n.Dir, 0o750); err != nil {
		return err
	}
	first := n.HTTP == ""
	listen := filepath.Join(n.Dir, "listen.json")
	if first {
		_ = os.Remove(listen)
	}
	logf, err := os.OpenFile(filepath.Join(n.c.Root, n.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	argv := append(append(append([]string(nil), n.Wrap...), n.c.Bin), n.args()...)
	// With Wrap "ip netns exec NS", ip execs herald in place: the PID is
	// herald's own.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C on the terminal reaches only the runner,
	// which then stops the nodes itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.paused = cmd, done, false
	n.mu.Unlock()
	go func() { // owner: Node; ends when the process exits (Kill/Term/Cleanup)
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	if !first {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(listen)
		if err == nil && len(b) > 0 {
			var l struct {
				HTTP   string `json:"http_addr"`
				Raft   string `json:"raft_addr"`
				Gossip string `json:"gossip_addr"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				return fmt.Errorf("%s listen.json: %w", n.ID, err)
			}
			n.HTTP, n.Raft, n.Gossip = l.HTTP, l.Raft, l.Gossip
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited during start (see %s.log)", n.ID, n.ID)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wrote no listen.json within 30s", n.ID)
		}
	}
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return errors.New(n.ID + " not started")
	}
	select {
	case <-n.done:
		return errors.New(n.ID + " not running")
	default:
	}
	if sig == syscall.SIGSTOP {
		n.paused = true
	}
	if sig == syscall.SIGCONT {
		n.paused = false
	}
	return syscall.Kill(n.cmd.Process.Pid, sig)
}

// wait waits up to d for the process to exit.
func (n *Node) wait(d time.Duration) bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill sends SIGKILL (after SIGCONT if paused) and waits for the exit.
func (n *Node) Kill() error {
	_ = n.signal(syscall.SIGCONT)
	if err := n.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !n.wait(10 * time.Second) {
		return errors.New(n.ID + " did not exit after SIGKILL")
	}
	return nil
}

// Term sends SIGTERM, waits up to 20 s for the exit, then kills.
func (n *Node) Term() error {
	_ = n.signal(syscall.SIGCONT)
	if err := n.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if n.wait(20 * time.Second) {
		return nil
	}
	n.c.Logf("%s ignored SIGTERM for 20s; killing", n.ID)
	return n.Kill()
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT to a paused node.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT) }

// Start starts every node: the first, then the others joining it.
func (c *Cluster) Start(ctx context.Context) error {
	if err := os.MkdirAll(c.Root, 0o750); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if err := n.Start(ctx); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx, 60*time.Second)
}

// Cleanup kills every process the cluster started (by PID) and waits.
func (c *Cluster) Cleanup() {
	for _, n := range c.Nodes {
		if n.Running() {
			_ = n.Kill()
		}
	}
}

// Status is the part of GET /cluster/status the runner reads.
type Status struct {
	NodeID   string `json:"node_id"`
	LeaderID string `json:"leader_id"`
	State    string `json:"state"`
	Term     uint64 `json:"term"`
	Members  []struct {
		ID          string `json:"id"`
		GossipState string `json:"gossip_state"`
	} `json:"members"`
}

// Status fetches a node's /cluster/status.
func (c *Cluster) Status(ctx context.Context, n *Node) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/cluster/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (c *Cluster) ready(ctx context.Context, n *Node) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// healthy: every node runs unpaused, is ready, and all agree on one leader
// that is itself a node of the cluster.
func (c *Cluster) healthy(ctx context.Context) (bool, string) {
	leader := ""
	for _, n := range c.Nodes {
		if !n.Running() {
			return false, n.ID + " not running"
		}
		if !c.ready(ctx, n) {
			return false, n.ID + " not ready"
		}
		s, err := c.Status(ctx, n)
		if err != nil || s.LeaderID == "" {
			return false, n.ID + " knows no leader"
		}
		if leader != "" && s.LeaderID != leader {
			return false, "leaders disagree"
		}
		leader = s.LeaderID
	}
	return true, leader
}

// WaitHealthy polls until the cluster is healthy or timeout passes.
func (c *Cluster) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := c.healthy(ctx)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy after %v: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Leader returns the node a running node names as leader, or nil.
func (c *Cluster) Leader(ctx context.Context) *Node {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		s, err := c.Status(ctx, n)
		if err != nil || s.LeaderID == "" {
			continue
		}
		for _, m := range c.Nodes {
			if m.ID == s.LeaderID {
				return m
			}
		}
	}
	return nil
}

// Paused reports whether the node is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}
