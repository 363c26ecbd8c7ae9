package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/herald-mq/herald/cluster"
	"github.com/herald-mq/herald/dispatcher"
	"github.com/herald-mq/herald/dispatcher/notify"
	"github.com/herald-mq/herald/fsm"
	"github.com/herald-mq/herald/httpapi"
)

// Node is one running Herald node.
type Node struct {
	cfg Config
	log *slog.Logger

	fsm        *fsm.FSM
	cluster    *cluster.Cluster
	dispatcher *dispatcher.Dispatcher
	webhook    io.Closer // the dispatcher's webhook notifier (idle connections)
	server     *http.Server
	httpLn     net.Listener
	raftLn     net.Listener

	httpAddr string // advertised
	raftAddr string // advertised

	stop chan struct{}  // closed by Close/Kill; stops the node's goroutines
	wg   sync.WaitGroup // the HTTP server and housekeeping goroutines

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, settles the node id, binds the listeners and builds the
// components. Nothing is served until Start.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	id, err := settleNodeID(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	cfg.NodeID = id
	n := &Node{cfg: cfg, stop: make(chan struct{})}
	n.log = cfg.Log.With("node", id)

	// Bind listeners first: with port 0 the advertised addresses are only
	// known after binding, and raft/gossip must publish the real ones.
	n.httpLn = cfg.HTTPListener
	if n.httpLn == nil {
		if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("http listener: %w", err)
		}
	}
	n.raftLn = cfg.RaftListener
	if n.raftLn == nil {
		if n.raftLn, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			n.httpLn.Close()
			return nil, fmt.Errorf("raft listener: %w", err)
		}
	}
	n.httpAddr = advertise(cfg.HTTPAdvertise, n.httpLn.Addr())
	n.raftAddr = advertise(cfg.RaftAdvertise, n.raftLn.Addr())

	n.fsm = fsm.New(fsm.Config{MaxBodyBytes: cfg.MaxBodyBytes})
	n.cluster, err = cluster.New(cluster.Config{
		NodeID:             id,
		DataDir:            cfg.DataDir,
		RaftAddr:           n.raftAddr,
		RaftListener:       n.raftLn,
		GossipBind:         cfg.GossipAddr,
		GossipAdvertise:    cfg.GossipAdvertise,
		GossipTransport:    cfg.GossipTransport,
		HTTPAddr:           n.httpAddr,
		Join:               cfg.Join,
		BootstrapExpect:    cfg.BootstrapExpect,
		Secret:             cfg.ClusterSecret,
		Dial:               cfg.Dial,
		FSM:                n.fsm,
		Log:                n.log,
		HeartbeatTimeout:   cfg.HeartbeatTimeout,
		ElectionTimeout:    cfg.ElectionTimeout,
		LeaderLeaseTimeout: cfg.LeaderLeaseTimeout,
		LeaderWait:         cfg.LeaderWait,
		SnapshotThreshold:  cfg.SnapshotThreshold,
		SnapshotInterval:   cfg.SnapshotInterval,
		TrailingLogs:       cfg.TrailingLogs,
		SnapshotBytes:      cfg.SnapshotBytes,
		TrailingBytes:      cfg.TrailingBytes,
	})
	if err != nil {
		n.closeListeners()
		return nil, err
	}
	if err := n.newDispatcher(); err != nil {
		n.closeListeners()
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{
		Backend:      n.cluster,
		Ops:          ops{n},
		SignedURLKey: cfg.SignedURLKey,
		Log:          n.log.With("component", "http"),
		ValidateSubscriber: func(uri string) error {
			return notify.CheckSubscriberURL(uri, cfg.SubscriberAllowCIDRs)
		},
		RequireConfirmation: cfg.RequireConfirmation,
	})
	if err != nil {
		n.closeListeners()
		return nil, err
	}
	internal := n.cluster.Handler()
	n.server = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/internal/") {
				internal.ServeHTTP(w, r)
				return
			}
			api.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelWarn),
	}
	return n, nil
}

// Start serves HTTP (so /healthz answers during the slower raft open), then
// starts the cluster and the leader's housekeeping, and finally records the
// bound addresses in <data-dir>/listen.json for scripts.
func (n *Node) Start() error {
	n.wg.Add(1)
	go func() { // owner: Node; stopped by server.Shutdown/Close in Close/Kill
		defer n.wg.Done()
		if err := n.server.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	if err := n.cluster.Start(); err != nil {
		n.server.Close()
		n.wg.Wait()
		return fmt.Errorf("cluster: %w", err)
	}
	n.wg.Add(1)
	go n.sweepLoop()
	n.dispatcher.Start() // after the cluster: workers read and ack through it
	if err := n.writeListenFile(); err != nil {
		n.log.Warn("cannot write listen.json", "err", err)
	}
	n.log.Info("node started", "http", n.httpAddr, "raft", n.raftAddr, "gossip", n.GossipAddr(),
		"data_dir", n.cfg.DataDir, "bootstrap_expect", n.cfg.BootstrapExpect)
	return nil
}

// sweepLoop has the leader propose Sweep commands that delete expired
// messages and claims; expiry itself never happens inside Apply.
func (n *Node) sweepLoop() { // owner: Node; stopped by closing n.stop
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if !n.cluster.IsLeader() {
			continue
		}
		cmd, err := fsm.NewCommand(fsm.CmdSweep, "", fsm.Sweep{Limit: 10000})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := n.cluster.Apply(ctx, cmd); err != nil && !errors.Is(err, cluster.ErrClosed) {
			n.log.Debug("sweep failed", "err", err)
		}
		cancel()
	}
}

// Close stops the node gracefully: stop accepting HTTP, let in-flight
// requests finish (bounded), then leave the cluster (transferring
// leadership). Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Leadership moves first, so that requests still in flight (and
		// writes other nodes forward to us) reach the new leader; then the
		// HTTP server drains; then gossip is left and raft stops.
		if n.cluster.IsLeader() && voters(n.cluster.Status()) > 1 {
			if err := n.cluster.LeadershipTransfer(); err != nil {
				n.log.Warn("leadership transfer before stop failed", "err", err)
			}
		}
		if serr := n.server.Shutdown(ctx); serr != nil {
			n.server.Close()
		}
		// The dispatcher stops before the cluster so its workers' final
		// Acks can still commit.
		n.dispatcher.Close()
		n.webhook.Close()
		err := n.cluster.Close()
		n.wg.Wait()
		n.closeErr = err
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// Kill stops the node abruptly, as a crash would (no leadership transfer,
// no gossip leave, connections cut). Used by testcluster. Idempotent with Close.
func (n *Node) Kill() error {
	n.closeOnce.Do(func() {
		close(n.stop)
		n.server.Close()
		n.closeErr = n.cluster.Kill()
		n.dispatcher.Abort() // as a crash: in-flight deliveries cut, no final Ack
		n.webhook.Close()
		n.wg.Wait()
	})
	return n.closeErr
}

func (n *Node) closeListeners() {
	n.httpLn.Close()
	n.raftLn.Close()
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// HTTPAddr returns the advertised HTTP address (host:port).
func (n *Node) HTTPAddr() string { return n.httpAddr }

// RaftAddr returns the advertised raft address.
func (n *Node) RaftAddr() string { return n.raftAddr }

// GossipAddr returns this node's gossip address as its peers see it.
func (n *Node) GossipAddr() string {
	for _, m := range n.cluster.Status().Members {
		if m.ID == n.cfg.NodeID {
			return m.GossipAddr
		}
	}
	return n.cfg.GossipAdvertise
}

// Cluster returns the node's cluster membership.
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// Dispatcher returns the node's push-delivery dispatcher.
func (n *Node) Dispatcher() *dispatcher.Dispatcher { return n.dispatcher }

// FSM returns the node's state machine (tests compare digests).
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// voters counts the raft voters in a status.
func voters(s cluster.Status) int {
	k := 0
	for _, m := range s.Members {
		if m.Voter {
			k++
		}
	}
	return k
}

// ops adapts the node to httpapi.Ops.
type ops struct{ n *Node }

func (o ops) Status() any { return o.n.Status() }
func (o ops) Ready() bool { return o.n.cluster.Ready() }

// settleNodeID reads <dir>/node-id, writes it on first start, and rejects a
// configured id that differs from the stored one.
func settleNodeID(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		have := strings.TrimSpace(string(b))
		if want != "" && want != have {
			return "", fmt.Errorf("node-id %q does not match %q stored in %s; use the stored id or a new data dir", want, have, path)
		}
		return have, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read node id: %w", err)
	}
	if want == "" {
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", err
		}
		want = "herald-" + hex.EncodeToString(r[:])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(want+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return want, nil
}

// writeListenFile records the bound addresses for scripts that start nodes
// on port 0.
func (n *Node) writeListenFile() error {
	b, err := json.MarshalIndent(map[string]string{
		"node_id":     n.cfg.NodeID,
		"http_addr":   n.httpAddr,
		"raft_addr":   n.raftAddr,
		"gossip_addr": n.GossipAddr(),
	}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(n.cfg.DataDir, "listen.json")
	if err := os.WriteFile(path+".tmp", b, 0o640); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
