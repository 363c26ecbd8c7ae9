package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/herald-mq/herald/node"
)

// serveFlags holds the parsed `herald serve` flags.
type serveFlags struct {
	nodeID, dataDir                     string
	httpAddr, raftAddr, gossipAddr      string
	httpAdv, raftAdv, gossipAdv         string
	join                                string
	bootstrapExpect                     int
	clusterSecret, clusterSecretFile    string
	signedURLKey, signedURLKeyFile      string
	maxBodyBytes                        int64
	logLevel, logFormat                 string
	heartbeat, election, lease, leaderW time.Duration
	snapshotBytes, trailingBytes        uint64

	requireConfirmation         bool
	subscriberAllowCIDRs        string
	smtpHost, smtpUser, smtpTLS string
	smtpPasswordFile, smtpFrom  string
	smtpPort                    int
	externalURL                 string
	deliveryConcurrency         int
	debugAddr                   string
}

// envName maps a flag name to its environment variable: -raft-addr ->
// HERALD_RAFT_ADDR.
func envName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newServeFlagSet(out io.Writer) (*flag.FlagSet, *serveFlags) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.nodeID, "node-id", "", "unique node id; persisted in the data dir on first start (default: generated)")
	fs.StringVar(&f.dataDir, "data-dir", node.DefaultDataDir, "directory for the node id, raft log and snapshots")
	fs.StringVar(&f.httpAddr, "http-addr", node.DefaultHTTPAddr, "bind address of the Zaqar v2 HTTP API")
	fs.StringVar(&f.raftAddr, "raft-addr", node.DefaultRaftAddr, "bind address of raft traffic and of the peer link followers forward writes over")
	fs.StringVar(&f.gossipAddr, "gossip-addr", node.DefaultGossipAddr, "bind address of gossip (memberlist, TCP and UDP)")
	fs.StringVar(&f.httpAdv, "http-advertise", "", "HTTP address peers use to reach this node (default: bound address)")
	fs.StringVar(&f.raftAdv, "raft-advertise", "", "raft address peers use (default: bound address)")
	fs.StringVar(&f.gossipAdv, "gossip-advertise", "", "gossip address peers use (default: bound address)")
	fs.StringVar(&f.join, "join", "", "comma-separated gossip addresses of existing members")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 1, "number of servers to wait for before bootstrapping a new cluster")
	fs.StringVar(&f.clusterSecret, "cluster-secret", "", "shared secret authenticating forwarded writes between nodes")
	fs.StringVar(&f.clusterSecretFile, "cluster-secret-file", "", "file holding the cluster secret (instead of -cluster-secret)")
	fs.StringVar(&f.signedURLKey, "signed-url-key", "", "key for pre-signed URLs (Zaqar [signed_url] secret_key); empty disables /share")
	fs.StringVar(&f.signedURLKeyFile, "signed-url-key-file", "", "file holding the signed-URL key")
	fs.Int64Var(&f.maxBodyBytes, "max-body-bytes", 4<<30, "memory budget: total bytes of stored message bodies (0 = unlimited)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&f.heartbeat, "raft-heartbeat-timeout", 0, "raft heartbeat timeout (0 = Herald's default)")
	fs.DurationVar(&f.election, "raft-election-timeout", 0, "raft election timeout (0 = Herald's default)")
	fs.DurationVar(&f.lease, "raft-leader-lease-timeout", 0, "raft leader lease timeout (0 = Herald's default)")
	fs.Uint64Var(&f.snapshotBytes, "raft-snapshot-bytes", 0, "take a snapshot once this many bytes of raft log, or as many as the last snapshot's size if more, were applied since the last one (0 = 256 MiB; at least 65536)")
	fs.Uint64Var(&f.trailingBytes, "raft-trailing-bytes", 0, "about how many bytes of the newest raft log entries a snapshot keeps for lagging followers, as 64 to 10240 entries (0 = 64 MiB; at least 4096)")
	fs.DurationVar(&f.leaderW, "leader-wait", 0, "how long a write waits for a leader before answering 503 (0 = default)")
	fs.BoolVar(&f.requireConfirmation, "require-confirmation", false, "deliver only to confirmed subscriptions and send confirmation notifications (Zaqar require_confirmation)")
	fs.StringVar(&f.subscriberAllowCIDRs, "subscriber-allow-cidrs", "", "comma-separated CIDRs webhooks may reach although loopback/private/link-local (default: none)")
	fs.StringVar(&f.smtpHost, "smtp-host", "", "SMTP server for mailto subscribers (empty: mailto deliveries fail)")
	fs.IntVar(&f.smtpPort, "smtp-port", node.DefaultSMTPPort, "SMTP server port")
	fs.StringVar(&f.smtpUser, "smtp-user", "", "SMTP user name (empty: no authentication)")
	fs.StringVar(&f.smtpPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	fs.StringVar(&f.smtpTLS, "smtp-tls", node.DefaultSMTPTLS, "SMTP transport security: none, starttls or tls")
	fs.StringVar(&f.smtpFrom, "smtp-from", "", "default From address of notification emails")
	fs.StringVar(&f.externalURL, "external-url", "", "public base URL of the API, used in confirmation links (WSGISubscribeURL)")
	fs.IntVar(&f.deliveryConcurrency, "delivery-concurrency", node.DefaultDeliveryConcurrency, "delivery attempts in flight per node")
	fs.StringVar(&f.debugAddr, "debug-addr", "", "bind address of a separate listener serving /debug/pprof/ (empty: off; keep it on loopback)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: herald serve [flags]\n\nRuns one Herald node. Every flag can also be set as HERALD_<NAME>\n(e.g. -raft-addr as HERALD_RAFT_ADDR); a flag on the command line wins over\nthe environment, which wins over the default.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, f
}

// parseServe parses args, then fills every flag not given on the command line
// from its HERALD_* environment variable.
func parseServe(args []string, out io.Writer, getenv func(string) string) (*serveFlags, error) {
	fs, f := newServeFlagSet(out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || err != nil {
			return
		}
		if v := getenv(envName(fl.Name)); v != "" {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(fl.Name), v, e)
			}
		}
	})
	return f, err
}

// readSecret returns value, or the trimmed contents of file when set.
func readSecret(value, file, name string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("set only one of -%s and -%s-file", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("-%s-file: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// nodeConfig turns the flags into a node.Config.
func (f *serveFlags) nodeConfig() (node.Config, error) {
	secret, err := readSecret(f.clusterSecret, f.clusterSecretFile, "cluster-secret")
	if err != nil {
		return node.Config{}, err
	}
	key, err := readSecret(f.signedURLKey, f.signedURLKeyFile, "signed-url-key")
	if err != nil {
		return node.Config{}, err
	}
	var join []string
	if f.join != "" {
		join = strings.Split(f.join, ",")
	}
	smtpPassword, err := readSecret("", f.smtpPasswordFile, "smtp-password")
	if err != nil {
		return node.Config{}, err
	}
	allow, err := parseCIDRs(f.subscriberAllowCIDRs)
	if err != nil {
		return node.Config{}, err
	}
	return node.Config{
		NodeID:             f.nodeID,
		DataDir:            f.dataDir,
		HTTPAddr:           f.httpAddr,
		HTTPAdvertise:      f.httpAdv,
		RaftAddr:           f.raftAddr,
		RaftAdvertise:      f.raftAdv,
		GossipAddr:         f.gossipAddr,
		GossipAdvertise:    f.gossipAdv,
		Join:               join,
		BootstrapExpect:    f.bootstrapExpect,
		ClusterSecret:      secret,
		SignedURLKey:       key,
		MaxBodyBytes:       f.maxBodyBytes,
		HeartbeatTimeout:   f.heartbeat,
		ElectionTimeout:    f.election,
		LeaderLeaseTimeout: f.lease,
		LeaderWait:         f.leaderW,
		SnapshotBytes:      f.snapshotBytes,
		TrailingBytes:      f.trailingBytes,

		RequireConfirmation:  f.requireConfirmation,
		SubscriberAllowCIDRs: allow,
		SMTPHost:             f.smtpHost,
		SMTPPort:             f.smtpPort,
		SMTPUser:             f.smtpUser,
		SMTPPassword:         smtpPassword,
		SMTPTLS:              f.smtpTLS,
		SMTPFrom:             f.smtpFrom,
		ExternalURL:          f.externalURL,
		DeliveryConcurrency:  f.deliveryConcurrency,
	}, nil
}

// parseCIDRs parses a comma-separated list of CIDRs (a bare address is a
// single-host prefix).
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, fmt.Errorf("-subscriber-allow-cidrs: %q is not a CIDR or address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
