//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "net"

// connAlive cannot probe a connection on this platform; a stale connection
// is found when a request fails on it (see httpconn.go).
func connAlive(net.Conn) bool { return true }
