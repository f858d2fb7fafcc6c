//go:build !linux

package sandbox

// holdAddr holds nothing off Linux: an offline node's ports are closed, free for
// another process to take until it comes back (hold_linux.go says why Linux holds
// them).
func holdAddr(addr string, udp bool) (*heldAddr, error) { return nil, nil }

type heldAddr struct{}

func (h *heldAddr) release() {}
