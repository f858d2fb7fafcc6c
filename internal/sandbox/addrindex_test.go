package sandbox

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// nodeByHost answers from its index what a scan of every node's state would, for
// host names in any case, with a trailing dot, and IPv4 addresses.
func TestNodeByHostIndex(t *testing.T) {
	s := startTest(t, "")
	tests := []struct {
		host string
		want string // node name; "" for none
	}{
		{"web1.example.net", "web1"},
		{"WEB1.Example.NET", "web1"},
		{"mail2.example.net.", "mail2"},
		{"192.0.2.53", "ns1"},
		{"192.0.2.11", "web2"},
		{"nowhere.example.net", ""},
		{"192.0.2.99", ""},
		{"", ""},
		{"web1", ""}, // a node's name is not its host name
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got := s.nodeByHost(tt.host)
			if name := nodeName(got); name != tt.want {
				t.Errorf("nodeByHost(%q) = %q, want %q", tt.host, name, tt.want)
			}
			if scan := nodeName(scanByHost(s.Sandbox, tt.host)); scan != tt.want {
				t.Errorf("a scan of the states finds %q for %q, the table says %q", scan, tt.host, tt.want)
			}
		})
	}
}

// Resolving a host must not wait for any node's state lock: a parent proxying to a
// child waited behind every busy node of the fleet. With every node's lock held,
// nodeByHost still answers (it would deadlock here if it took one).
func TestNodeByHostTakesNoNodeLock(t *testing.T) {
	s := startTest(t, "")
	nodes := slices.Collect(maps.Values(s.nodes))
	for _, n := range nodes {
		n.mu.Lock()
	}
	got := s.nodeByHost("mail1.example.net")
	for _, n := range nodes {
		n.mu.Unlock()
	}
	if nodeName(got) != "mail1" {
		t.Fatalf("nodeByHost(mail1.example.net) = %q, want mail1", nodeName(got))
	}
}

// indexAddrs follows a node whose host name and address changed: the new ones find
// it, the old ones nothing; an address two nodes share finds the first by name, and
// a host name wins over an address spelled the same.
func TestIndexAddrsFollowsChanges(t *testing.T) {
	s := startTest(t, "")
	set := func(name, host, ip string) {
		t.Helper()
		n := s.nodeByName(name)
		n.mu.Lock()
		n.st.Host, n.st.IPv4 = host, ip
		n.mu.Unlock()
	}
	set("ns1", "ns9.example.net", "192.0.2.59")
	s.indexAddrs()
	set("web2", "web2.example.net", "192.0.2.20") // mail1's address too
	s.indexAddrs()
	tests := []struct {
		host string
		want string
	}{
		{"ns9.example.net", "ns1"},
		{"192.0.2.59", "ns1"},
		{"ns1.example.net", ""},
		{"192.0.2.53", ""},
		{"192.0.2.20", "mail1"}, // mail1 sorts before web2
		{"192.0.2.11", ""},
	}
	for _, tt := range tests {
		if got := nodeName(s.nodeByHost(tt.host)); got != tt.want {
			t.Errorf("after the change, nodeByHost(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
	set("mail2", "192.0.2.21", "192.0.2.11") // a host named like web2's old address
	set("old1", "old1.example.net", "192.0.2.21")
	s.indexAddrs()
	if got := nodeName(s.nodeByHost("192.0.2.21")); got != "mail2" {
		t.Errorf("nodeByHost(192.0.2.21) = %q, want mail2 (its host name, over old1's address)", got)
	}
}

func nodeName(n *node) string {
	if n == nil {
		return ""
	}
	return n.name
}

// scanByHost is what nodeByHost did before its index: every node's state, in turn.
func scanByHost(sb *Sandbox, host string) *node {
	key := addrKey(host)
	if key == "" {
		return nil
	}
	for _, n := range sb.nodes {
		n.mu.Lock()
		h, ip := n.st.Host, n.st.IPv4
		n.mu.Unlock()
		if h == key || ip == key {
			return n
		}
	}
	return nil
}

// BenchmarkNodeByHost2000 resolves host names on a fleet of 2,000 nodes (the
// issue's carry shape): the index against the scan it replaced, in the same run.
func BenchmarkNodeByHost2000(b *testing.B) {
	sb := &Sandbox{nodes: map[string]*node{}}
	for i := range 2000 {
		name := fmt.Sprintf("n%04d", i)
		sb.nodes[name] = &node{sb: sb, name: name, st: newNodeState(name, name+".perf.test", fmt.Sprintf("10.%d.%d.1", i/256, i%256), "11.118.0.1")}
	}
	sb.indexAddrs()
	hosts := make([]string, 0, 2000)
	for name := range sb.nodes {
		hosts = append(hosts, name+".perf.test")
	}
	for _, bm := range []struct {
		name    string
		resolve func(string) *node
	}{
		{"index", sb.nodeByHost},
		{"scan", func(h string) *node { return scanByHost(sb, h) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if bm.resolve(hosts[i%len(hosts)]) == nil {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
}
