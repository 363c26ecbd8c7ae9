// Package node assembles one Herald node: the FSM, the cluster membership
// (raft + gossip), the HTTP API and the leader's housekeeping. cmd/herald and
// testcluster both build nodes through this package, so tests exercise the
// same wiring as production.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config is everything one node needs. Validate fills defaults; fields must
// not be changed after New.
type Config struct {
	NodeID  string // persisted in DataDir on first start; a later mismatch is an error
	DataDir string

	HTTPAddr        string // bind address of the HTTP API
	HTTPAdvertise   string // address peers and clients use; default: the bound address
	RaftAddr        string
	RaftAdvertise   string
	GossipAddr      string
	GossipAdvertise string

	Join            []string // gossip addresses of existing members
	BootstrapExpect int

	ClusterSecret string // authenticates forwarded writes and read-index calls
	SignedURLKey  string // Zaqar's [signed_url] secret_key; empty disables /share
	MaxBodyBytes  int64  // memory budget for stored message bodies (0 = unlimited)

	SweepInterval time.Duration // how often the leader removes expired messages

	// Push delivery (dispatcher).
	RequireConfirmation  bool           // Zaqar's require_confirmation: only confirmed subscriptions receive
	SubscriberAllowCIDRs []netip.Prefix // webhook addresses allowed although private/loopback/link-local
	SMTPHost             string         // empty: mailto subscribers fail permanently
	SMTPPort             int            // default 587
	SMTPUser             string
	SMTPPassword         string
	SMTPTLS              string // none, starttls (default) or tls
	SMTPFrom             string
	ExternalURL          string // public base URL, used in confirmation links (WSGISubscribeURL)
	DeliveryConcurrency  int    // delivery attempts in flight per node (default 64)
	Log                  *slog.Logger

	// Raft timing; zero takes the cluster package's defaults.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	LeaderWait         time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64 // most raft log entries kept after a snapshot
	SnapshotBytes      uint64 // log bytes since the last snapshot that make the next (see cluster.DefaultSnapshotBytes)
	TrailingBytes      uint64 // about how many log bytes a snapshot keeps (see cluster.DefaultTrailingBytes)

	// Injected network pieces (testcluster uses them for fault injection);
	// nil means "bind/dial for real".
	HTTPListener    net.Listener
	RaftListener    net.Listener
	Dial            func(ctx context.Context, network, addr string) (net.Conn, error)
	GossipTransport memberlist.NodeAwareTransport
}

// Defaults used by Validate.
const (
	DefaultDataDir       = "./herald-data"
	DefaultHTTPAddr      = "127.0.0.1:8888"
	DefaultRaftAddr      = "127.0.0.1:8889"
	DefaultGossipAddr    = "127.0.0.1:8890"
	DefaultSweepInterval = 5 * time.Second

	DefaultSMTPPort            = 587
	DefaultSMTPTLS             = "starttls"
	DefaultDeliveryConcurrency = 64
)

// Validate fills defaults and rejects contradictions.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.RaftAddr == "" {
		c.RaftAddr = DefaultRaftAddr
	}
	if c.GossipAddr == "" && c.GossipTransport == nil {
		c.GossipAddr = DefaultGossipAddr
	}
	if c.BootstrapExpect == 0 {
		c.BootstrapExpect = 1
	}
	if c.BootstrapExpect < 0 {
		return errors.New("bootstrap-expect must be >= 1")
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("max-body-bytes must be >= 0")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.SMTPPort == 0 {
		c.SMTPPort = DefaultSMTPPort
	}
	if c.SMTPPort < 0 || c.SMTPPort > 65535 {
		return fmt.Errorf("smtp-port %d: out of range", c.SMTPPort)
	}
	switch c.SMTPTLS {
	case "":
		c.SMTPTLS = DefaultSMTPTLS
	case "none", "starttls", "tls":
	default:
		return fmt.Errorf("smtp-tls %q: use none, starttls or tls", c.SMTPTLS)
	}
	if c.DeliveryConcurrency == 0 {
		c.DeliveryConcurrency = DefaultDeliveryConcurrency
	}
	if c.DeliveryConcurrency < 0 {
		return errors.New("delivery-concurrency must be >= 1")
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("external-url %q: want an absolute http(s) URL", c.ExternalURL)
		}
	}
	if c.NodeID != "" && !validNodeID(c.NodeID) {
		return fmt.Errorf("node-id %q: use letters, digits, '-', '_' or '.', at most 64 characters", c.NodeID)
	}
	for _, a := range []struct{ name, v string }{
		{"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}, {"gossip-addr", c.GossipAddr},
		{"http-advertise", c.HTTPAdvertise}, {"raft-advertise", c.RaftAdvertise}, {"gossip-advertise", c.GossipAdvertise},
	} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("%s %q: %v", a.name, a.v, err)
		}
	}
	var join []string
	for _, j := range c.Join {
		if j = strings.TrimSpace(j); j != "" {
			join = append(join, j)
		}
	}
	c.Join = join
	return nil
}

func validNodeID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// advertise returns adv if set, else the bound address, replacing an
// unspecified host (0.0.0.0, ::) with 127.0.0.1 so peers can dial it.
func advertise(adv string, bound net.Addr) string {
	if adv != "" {
		return adv
	}
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return bound.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
