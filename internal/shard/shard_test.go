package shard_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tether-dev/tether/internal/etcdtest"
	"github.com/tether-dev/tether/internal/shard"
)

func client(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func units(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("web%03d", i)
	}
	return out
}

// waitOwned waits until every unit is owned exactly once by one of want (and by
// nothing else), failing after d.
func waitOwned(t *testing.T, c *clientv3.Client, prefix string, us []string, want []*shard.Replica, d time.Duration) shard.Assignment {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		a, err := shard.Read(context.Background(), c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(a.Owners) == len(us)
		ids := map[string]bool{}
		for _, r := range want {
			ids[r.ID()] = true
		}
		for _, u := range us {
			if !ids[a.Owners[u]] {
				ok = false
			}
		}
		// Each replica's own view agrees with etcd: nobody believes it owns another's.
		for _, r := range want {
			for _, u := range r.Owned() {
				if a.Owners[u] != r.ID() {
					ok = false
				}
			}
		}
		if ok {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the parents are not owned once each by %d replicas: %v", d, len(want), a.Owners)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func join(t *testing.T, c *clientv3.Client, id string, ttl time.Duration, us []string) *shard.Replica {
	t.Helper()
	r, err := shard.Join(context.Background(), shard.Options{Client: c, Prefix: "t", ID: id, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplicasDivideAndTakeOver(t *testing.T) {
	srv := etcdtest.Start(t)
	obs := client(t, srv.Endpoint)
	us := units(30)
	const ttl = 3 * time.Second
	a := join(t, client(t, srv.Endpoint), "a", ttl, us)
	waitOwned(t, obs, "t", us, []*shard.Replica{a}, 5*time.Second)
	b := join(t, client(t, srv.Endpoint), "b", ttl, us)
	cc := client(t, srv.Endpoint)
	c := join(t, cc, "c", ttl, us)
	as := waitOwned(t, obs, "t", us, []*shard.Replica{a, b, c}, 10*time.Second)
	count := map[string]int{}
	for _, id := range as.Owners {
		count[id]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if count[id] < 4 {
			t.Errorf("replica %s owns %d of 30 parents: the division is not balanced (%v)", id, count[id], count)
		}
	}
	if a.Handovers() == 0 {
		t.Errorf("a released parents to b and c but counts no handover")
	}

	// A replica that joined but has not read the fleet yet (no Sync) is given nothing:
	// the parents it would rank first for stay with replicas that reconcile them.
	idle, err := shard.Join(context.Background(), shard.Options{Client: client(t, srv.Endpoint), Prefix: "t", ID: "idle", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 2) // several rebalances of a, b and c
	waitOwned(t, obs, "t", us, []*shard.Replica{a, b, c}, time.Second)
	idle.Close()

	// c dies without a word (its client closes, its lease is not revoked): its parents
	// go to a and b within the TTL.
	start := time.Now()
	cc.Close()
	waitOwned(t, obs, "t", us, []*shard.Replica{a, b}, 3*ttl)
	took := time.Since(start)
	t.Logf("takeover of a dead replica's parents: %s (TTL %s)", took.Round(10*time.Millisecond), ttl)
	if took < ttl/2 {
		t.Errorf("the parents moved after %s, before the dead replica's lease could expire", took)
	}

	// b stops cleanly: its lease is revoked and a takes everything at once.
	start = time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitOwned(t, obs, "t", us, []*shard.Replica{a}, ttl)
	t.Logf("handover on a clean stop: %s", time.Since(start).Round(10*time.Millisecond))
	a.Close()
}

// proxy forwards TCP to target until cut: a network partition between one replica
// and etcd.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.partition() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				in.Close()
				continue
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

// partition drops every connection and refuses new ones.
func (p *proxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A replica cut off from etcd gives its parents up before etcd expires its lease, so
// the replica that takes them over never writes beside it.
func TestCutOffReplicaStopsBeforeTheOthersTakeOver(t *testing.T) {
	srv := etcdtest.Start(t)
	obs := client(t, srv.Endpoint)
	us := units(12)
	const ttl = 3 * time.Second
	px := newProxy(t, srv.Endpoint)
	cut := join(t, client(t, px.ln.Addr().String()), "cut", ttl, us)
	other := join(t, client(t, srv.Endpoint), "other", ttl, us)
	waitOwned(t, obs, "t", us, []*shard.Replica{cut, other}, 10*time.Second)
	if len(cut.Owned()) == 0 {
		t.Fatal("the replica to cut off owns nothing; pick other names")
	}
	ctx, cancel := cut.Bind(context.Background())
	defer cancel()
	lost := cut.Lost()

	px.partition()
	start := time.Now()
	var gaveUp time.Duration
	select {
	case <-lost:
		gaveUp = time.Since(start)
	case <-time.After(2 * ttl):
		t.Fatalf("the cut-off replica still believes it owns %v after %s", cut.Owned(), 2*ttl)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Error("a reconcile bound to the lost ownership was not cancelled")
	}
	if len(cut.Owned()) != 0 {
		t.Errorf("after giving up it still owns %v", cut.Owned())
	}
	waitOwned(t, obs, "t", us, []*shard.Replica{other}, 3*ttl)
	took := time.Since(start)
	t.Logf("cut-off replica gave up after %s; the other owned everything after %s (TTL %s)", gaveUp.Round(10*time.Millisecond), took.Round(10*time.Millisecond), ttl)
	if gaveUp >= took {
		t.Errorf("the cut-off replica gave up (%s) no earlier than the other took over (%s): two writers", gaveUp, took)
	}
	cut.Close()
	other.Close()
}

func TestRankSpreadsAndMovesLittle(t *testing.T) {
	us := units(1000)
	three := []string{"r1", "r2", "r3"}
	count := map[string]int{}
	for _, u := range us {
		count[shard.Rank(u, three)]++
	}
	for _, id := range three {
		if count[id] < 250 || count[id] > 420 {
			t.Errorf("%s ranks first for %d of 1000 parents: %v", id, count[id], count)
		}
	}
	moved := 0
	for _, u := range us {
		if shard.Rank(u, three) != shard.Rank(u, []string{"r1", "r2", "r3", "r4"}) {
			moved++
		}
	}
	if moved < 150 || moved > 350 {
		t.Errorf("adding a fourth replica moved %d of 1000 parents; about 250 expected", moved)
	}
}
