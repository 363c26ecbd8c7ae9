package notify

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Address ranges the guard refuses besides those netip classifies
// (loopback, private, link-local, multicast, unspecified).
var deniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (RFC 1122)
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("255.255.255.255/32"),
}

// AddrAllowed reports whether a webhook may connect to a. Addresses
// inside any allow prefix are allowed; otherwise loopback, link-local,
// private (RFC 1918, fc00::/7), unspecified, multicast, 0.0.0.0/8,
// broadcast and CGNAT (100.64.0.0/10) addresses are refused. IPv4-mapped
// IPv6 addresses are judged as IPv4 and zones are ignored.
func AddrAllowed(a netip.Addr, allow []netip.Prefix) bool {
	a = a.Unmap().WithZone("")
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() {
		return false
	}
	for _, p := range deniedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// dialControl is the net.Dialer Control hook of the webhook transport. It
// runs for every connection attempt with the resolved IP address, so a
// hostname (or a DNS answer that changes between checks) cannot reach a
// refused address.
func dialControl(allow []netip.Prefix) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return Permanent(fmt.Errorf("%w: cannot parse dial address %q", ErrBadSubscriber, address))
		}
		if !AddrAllowed(ap.Addr(), allow) {
			return Permanent(&AddressNotAllowedError{Addr: ap.Addr().Unmap().WithZone("")})
		}
		return nil
	}
}

// CheckSubscriberURL validates a subscriber URI when a subscription is
// written. http and https URIs need a host, and a literal IP host must be
// allowed by AddrAllowed (hostnames are checked at dial time, after DNS);
// mailto URIs need an address. Other schemes are refused with
// ErrUnsupportedScheme. The error never echoes the URI.
func CheckSubscriberURL(raw string, allow []netip.Prefix) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: subscriber is not a valid URI", ErrBadSubscriber)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		host := u.Hostname()
		if host == "" {
			return fmt.Errorf("%w: subscriber URI has no host", ErrBadSubscriber)
		}
		if a, err := netip.ParseAddr(host); err == nil && !AddrAllowed(a, allow) {
			return &AddressNotAllowedError{Addr: a.Unmap().WithZone("")}
		}
		return nil
	case "mailto":
		if _, err := mailtoRecipients(u); err != nil {
			return err
		}
		return nil
	case "":
		return fmt.Errorf("%w: subscriber URI has no scheme", ErrBadSubscriber)
	}
	return fmt.Errorf("%w %q", ErrUnsupportedScheme, u.Scheme)
}
