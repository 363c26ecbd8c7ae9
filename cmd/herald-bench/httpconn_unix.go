//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection, which should have nothing to
// read, still looks usable: a non-blocking recv(MSG_PEEK) sees neither EOF,
// an error nor unsolicited bytes. It costs one syscall.
func connAlive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			// EAGAIN: nothing to read, the connection is open. Anything
			// else is EOF (n == 0), unsolicited bytes or an error.
			alive = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
			return true // done; never wait for readability
		}
	})
	return err == nil && alive
}
