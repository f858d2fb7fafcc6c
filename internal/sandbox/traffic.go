package sandbox

import (
	"maps"
	"sync"
)

// traffic counts what reaches one node, for tests that judge a client's use of the
// network (connections reused, calls bounded): a server sees both, a client's own
// counters would have to replace the transport being judged.
type traffic struct {
	mu       sync.Mutex
	conns    int64
	inflight map[string]int64
	peak     map[string]int64
}

// Traffic is what one node has seen since it started.
type Traffic struct {
	// Connections is the number of connections accepted.
	Connections int64
	// PeakInFlight is the most requests served at once, by path
	// (/json-api/FUNCTION or a screen's path), latency faults included.
	PeakInFlight map[string]int64
}

func (t *traffic) connected() {
	t.mu.Lock()
	t.conns++
	t.mu.Unlock()
}

// begin counts a request to path in flight until the returned func is called.
func (t *traffic) begin(path string) func() {
	t.mu.Lock()
	if t.inflight == nil {
		t.inflight, t.peak = map[string]int64{}, map[string]int64{}
	}
	t.inflight[path]++
	t.peak[path] = max(t.peak[path], t.inflight[path])
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.inflight[path]--
		t.mu.Unlock()
	}
}

// Traffic returns what node has seen so far.
func (sb *Sandbox) Traffic(nodeName string) Traffic {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return Traffic{}
	}
	n.traffic.mu.Lock()
	defer n.traffic.mu.Unlock()
	return Traffic{Connections: n.traffic.conns, PeakInFlight: maps.Clone(n.traffic.peak)}
}
