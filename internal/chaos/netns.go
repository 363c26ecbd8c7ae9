package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Network fault kinds, usable only with Config.Netns.
const (
	FaultPartition = "partition" // cut a minority of nodes off the others for 2-8 s
	FaultIsolate   = "isolate"   // cut the leader off every other node for 2-8 s
	FaultHalves    = "halves"    // split the nodes into two random groups for 2-8 s
	FaultNetem     = "netem"     // netem delay 50ms loss 5% on one node's link for 2-8 s
)

// AllNetFaults lists every network fault kind.
var AllNetFaults = []string{FaultPartition, FaultIsolate, FaultHalves, FaultNetem}

// netSubnet is the private /24 used by -netns. Its addresses exist only on
// veths in namespaces the runner creates and on the one host veth end it
// creates; NewNetns refuses to start if the host already uses it.
const netSubnet = "10.213.77"

// Netns is the network of a -netns run: one namespace per node, each with
// a veth into a bridge that lives in its own namespace, and one veth from
// the host into that bridge so the runner's clients and sink can reach
// the nodes. Partitions are blackhole routes inside the node namespaces;
// netem is a root qdisc on a node's veth. Cleanup removes everything.
type Netns struct {
	Prefix  string   // namespace name prefix, herald-chaos-<pid>
	Bridge  string   // bridge namespace
	NodeNS  []string // node k (1-based) lives in NodeNS[k-1]
	HostIf  string   // host end of the host<->bridge veth
	NetemOK bool     // the kernel has sch_netem

	logf func(string, ...any)

	mu       sync.Mutex
	cluster  *Cluster         // killed before the namespaces go
	holes    map[int][]string // node index -> blackholed peer IPs
	netemOn  map[int]bool
	cleaned  bool
	nsMade   []string
	hostMade bool
}

var (
	activeMu  sync.Mutex
	activeNet *Netns
)

// AbortCleanup removes the active -netns network (killing its nodes
// first); for a signal handler that cannot wait for the normal defers.
func AbortCleanup() {
	activeMu.Lock()
	x := activeNet
	activeMu.Unlock()
	if x != nil {
		x.Cleanup()
	}
}

// NetnsSupported reports why -netns cannot run here ("" if it can).
func NetnsSupported() string {
	if os.Geteuid() != 0 {
		return "-netns needs root (network namespaces, veths, routes)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "-netns needs the ip command (iproute2)"
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return "ip netns does not work here: " + strings.TrimSpace(string(out))
	}
	return ""
}

func ipcmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NodeIP is node k's (1-based) address.
func NodeIP(k int) string { return fmt.Sprintf("%s.%d", netSubnet, 10+k) }

// HostIP is the host end's address (clients and the webhook sink).
func HostIP() string { return netSubnet + ".1" }

// NetCIDR is the private subnet.
func NetCIDR() string { return netSubnet + ".0/24" }

// NewNetns creates the namespaces, bridge and veths for n nodes. On error
// everything created so far is removed.
func NewNetns(n int, logf func(string, ...any)) (x *Netns, err error) {
	if why := NetnsSupported(); why != "" {
		return nil, errors.New(why)
	}
	for _, what := range [][]string{{"-4", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.Command("ip", what...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("ip %s: %v", strings.Join(what, " "), err)
		}
		if strings.Contains(string(out), netSubnet+".") {
			return nil, fmt.Errorf("the host already uses %s (another -netns run, or a real network): not touching it", NetCIDR())
		}
	}
	pid := os.Getpid()
	x = &Netns{Prefix: fmt.Sprintf("herald-chaos-%d", pid), HostIf: fmt.Sprintf("hc%dh", pid%10000000),
		logf: logf, holes: map[int][]string{}, netemOn: map[int]bool{}}
	x.Bridge = x.Prefix + "-br"
	activeMu.Lock()
	activeNet = x
	activeMu.Unlock()
	defer func() {
		if err != nil {
			x.Cleanup()
			x = nil
		}
	}()
	mkns := func(name string) error {
		if err := ipcmd("netns", "add", name); err != nil {
			return err
		}
		x.mu.Lock()
		x.nsMade = append(x.nsMade, name)
		x.mu.Unlock()
		return ipcmd("-n", name, "link", "set", "lo", "up")
	}
	if err = mkns(x.Bridge); err != nil {
		return x, err
	}
	for _, c := range [][]string{
		{"-n", x.Bridge, "link", "add", "name", "br0", "type", "bridge"},
		{"-n", x.Bridge, "link", "set", "br0", "up"},
	} {
		if err = ipcmd(c...); err != nil {
			return x, err
		}
	}
	for k := 1; k <= n; k++ {
		ns := fmt.Sprintf("%s-n%d", x.Prefix, k)
		if err = mkns(ns); err != nil {
			return x, err
		}
		x.NodeNS = append(x.NodeNS, ns)
		peer := fmt.Sprintf("p%d", k)
		for _, c := range [][]string{
			{"-n", ns, "link", "add", "name", "eth0", "type", "veth", "peer", "name", peer, "netns", x.Bridge},
			{"-n", ns, "addr", "add", NodeIP(k) + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", x.Bridge, "link", "set", peer, "master", "br0"},
			{"-n", x.Bridge, "link", "set", peer, "up"},
		} {
			if err = ipcmd(c...); err != nil {
				return x, err
			}
		}
	}
	if err = ipcmd("link", "add", "name", x.HostIf, "type", "veth", "peer", "name", "host", "netns", x.Bridge); err != nil {
		return x, err
	}
	x.mu.Lock()
	x.hostMade = true
	x.mu.Unlock()
	for _, c := range [][]string{
		{"addr", "add", HostIP() + "/24", "dev", x.HostIf},
		{"link", "set", x.HostIf, "up"},
		{"-n", x.Bridge, "link", "set", "host", "master", "br0"},
		{"-n", x.Bridge, "link", "set", "host", "up"},
	} {
		if err = ipcmd(c...); err != nil {
			return x, err
		}
	}
	// netem needs the sch_netem module; probe it on node 1's link.
	if exec.Command("tc", "-n", x.NodeNS[0], "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms").Run() == nil {
		x.NetemOK = true
		_ = exec.Command("tc", "-n", x.NodeNS[0], "qdisc", "del", "dev", "eth0", "root").Run()
	}
	logf("netns: bridge namespace %s, node namespaces %s, host veth %s %s, subnet %s, netem available: %v",
		x.Bridge, strings.Join(x.NodeNS, " "), x.HostIf, HostIP(), NetCIDR(), x.NetemOK)
	return x, nil
}

// Attach places the cluster's nodes in the namespaces; Cleanup kills
// them before deleting the namespaces.
func (x *Netns) Attach(c *Cluster) {
	x.mu.Lock()
	x.cluster = c
	x.mu.Unlock()
	for k, n := range c.Nodes {
		n.Host = NodeIP(k + 1)
		n.Wrap = []string{"ip", "netns", "exec", x.NodeNS[k]}
	}
}

// Block cuts nodes a and b (0-based) off each other with blackhole routes
// on both sides.
func (x *Netns) Block(a, b int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range [][2]int{{a, b}, {b, a}} {
		ip := NodeIP(p[1] + 1)
		if err := ipcmd("-n", x.NodeNS[p[0]], "route", "add", "blackhole", ip+"/32"); err != nil {
			return err
		}
		x.holes[p[0]] = append(x.holes[p[0]], ip)
	}
	return nil
}

// Netem adds delay 50ms loss 5% on node i's (0-based) link.
func (x *Netns) Netem(i int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	out, err := exec.Command("tc", "-n", x.NodeNS[i], "qdisc", "add", "dev", "eth0", "root",
		"netem", "delay", "50ms", "loss", "5%").CombinedOutput()
	if err != nil {
		return fmt.Errorf("tc netem: %v: %s", err, strings.TrimSpace(string(out)))
	}
	x.netemOn[i] = true
	return nil
}

// Heal removes every blackhole route and netem qdisc added.
func (x *Netns) Heal() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for i, ips := range x.holes {
		for _, ip := range ips {
			if err := ipcmd("-n", x.NodeNS[i], "route", "del", "blackhole", ip+"/32"); err != nil {
				errs = append(errs, err)
			}
		}
		delete(x.holes, i)
	}
	for i := range x.netemOn {
		if out, err := exec.Command("tc", "-n", x.NodeNS[i], "qdisc", "del", "dev", "eth0", "root").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("tc del: %v: %s", err, strings.TrimSpace(string(out))))
		}
		delete(x.netemOn, i)
	}
	return errors.Join(errs...)
}

// Cleanup kills the attached cluster's processes, then deletes the host
// veth and every namespace created (which removes their veths, routes and
// qdiscs). Idempotent; safe from a signal handler goroutine.
func (x *Netns) Cleanup() {
	x.mu.Lock()
	if x.cleaned {
		x.mu.Unlock()
		return
	}
	x.cleaned = true
	c, made, host := x.cluster, append([]string(nil), x.nsMade...), x.hostMade
	x.mu.Unlock()
	if c != nil {
		c.Cleanup()
	}
	if host {
		_ = ipcmd("link", "del", x.HostIf)
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := ipcmd("netns", "del", made[i]); err != nil {
			x.logf("netns cleanup: %v", err)
		}
	}
	activeMu.Lock()
	if activeNet == x {
		activeNet = nil
	}
	activeMu.Unlock()
	x.logf("netns: removed %d namespaces and the host veth %s", len(made), x.HostIf)
}
