package sandbox

import (
	"fmt"
	"net/netip"
	"syscall"
)

// holdAddr keeps a node's loopback address while the node is offline: a server that
// goes down keeps its address, and nothing else answers on it meanwhile. A closed
// port was free for any process to take, and on a machine running several test
// binaries one sometimes did: another sandbox's nameserver bound the freed DNS port
// and answered REFUSED for every zone of the member, or the node's own port could no
// longer be bound when it came back online (TestDNSEnableCPanelMemberThroughWHM).
//
// Held, the address still refuses as a closed port does: the TCP socket is bound
// but never listens (a connection gets a reset: "connection refused"), and the UDP
// socket is connected to a peer no query comes from (the kernel delivers a query to
// no socket and answers port unreachable: "connection refused" to the client).
func holdAddr(addr string, udp bool) (*heldAddr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("hold %s: not an IPv4 address and port", addr)
	}
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	typ := syscall.SOCK_STREAM
	if udp {
		typ = syscall.SOCK_DGRAM
	}
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", addr, err)
	}
	if !udp {
		// The node's closed connections leave TIME_WAIT on the port, which a bind
		// without SO_REUSEADDR is refused over; once bound it is cleared again, or a
		// listener of another process (Go's set it) could share the port with a
		// socket that does not listen.
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("hold %s: %w", addr, err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("hold %s: %w", addr, err)
	}
	if !udp {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("hold %s: %w", addr, err)
		}
	} else {
		// The discard port of the host itself, which sends no DNS query.
		if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("hold %s: %w", addr, err)
		}
	}
	return &heldAddr{fd: fd}, nil
}

// heldAddr is an address held by holdAddr.
type heldAddr struct{ fd int }

// release gives the address back, for the node to bind it again.
func (h *heldAddr) release() {
	if h != nil {
		syscall.Close(h.fd)
	}
}
