// Package shard divides a fleet's parents between the replicas of `tether watch` that
// share one etcd: each parent is owned by exactly one live replica, ownership is held
// by the replica's lease, and the parents are spread over the live replicas by
// rendezvous hashing, so a replica joining or leaving moves only its own share.
//
// Keys, under the state's prefix:
//
//	PREFIX/replicas/ID     the replica (host, pid, whether it takes its share; JSON), on its lease
//	PREFIX/owners/PARENT   the ID of the replica owning PARENT, on the same lease
//
// An owner key is created only when absent (a transaction comparing its creation
// revision with 0), so two replicas never own one parent; it is deleted only by its
// owner (compared by value), or vanishes with the owner's lease when the owner dies or
// is cut off. A replica that has not heard its lease renewed for more than half its TTL
// gives up every parent at once — before etcd can expire the lease and hand the
// parents to another — so a replica cut off from etcd stops applying first.
//
// Ownership decides who plans and applies a parent; the per-parent locks of the state
// (state.Store.Lock) still guard every apply, so even a replica acting on an ownership
// it just lost cannot write beside the new owner.
package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultTTL is the lease of a replica: a replica killed with SIGKILL loses its
// parents within it.
const DefaultTTL = 10 * time.Second

// Options configure a replica.
type Options struct {
	// Client is the etcd client, Prefix the state's key prefix ("tether/").
	Client *clientv3.Client
	Prefix string
	// ID names the replica; default HOST-PID.
	ID string
	// TTL is the replica's lease (default DefaultTTL, at least 2s).
	TTL time.Duration
	// Gained is told the parents this replica took (on the background loop, not on
	// Sync): the daemon reconciles them at once instead of at its next interval.
	Gained func(parents []string)
	Logger *slog.Logger
}

// Replica is one daemon's membership: its lease, the parents it owns.
type Replica struct {
	o   Options
	log *slog.Logger

	mu        sync.Mutex
	lease     clientv3.LeaseID
	lastRenew time.Time
	live      bool // the lease is believed alive (renewed within TTL/2)
	units     []string
	known     bool // Sync was called once: units is the fleet's
	owned     map[string]bool
	handovers int  // parents taken after the first division, or released to another replica
	balanced  bool // a first division was made: later claims are takeovers
	holds     int  // reconciles running: owned parents are not released under them
	active    bool // the replica's key says it takes its share (see member.Active)
	since     time.Time
	lostCh    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
}

// Join registers a replica and starts keeping its lease and its share of the parents
// until Close.
func Join(ctx context.Context, o Options) (*Replica, error) {
	if o.Client == nil {
		return nil, errors.New("shard: an etcd client is required")
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < 2*time.Second {
		return nil, fmt.Errorf("shard: a TTL of %s is too short (at least 2s)", o.TTL)
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if strings.ContainsAny(o.ID, "/ \n") {
		return nil, fmt.Errorf("shard: replica id %q: no '/', spaces or newlines", o.ID)
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/") + "/"
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replica{o: o, log: o.Logger.With("replica", o.ID), owned: map[string]bool{}, since: time.Now().UTC(),
		lostCh: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if err := r.register(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.loop(bg)
	return r, nil
}

// ID is the replica's name.
func (r *Replica) ID() string { return r.o.ID }

// TTL is the replica's lease.
func (r *Replica) TTL() time.Duration { return r.o.TTL }

func (r *Replica) key(parts ...string) string { return r.o.Prefix + strings.Join(parts, "/") }

type member struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
	// Active: the replica has read the fleet (Sync) and takes its share. Parents are
	// divided among active replicas only, so one that joined but cannot reconcile yet
	// (its clone still fetching, its first commit invalid) is given nothing to leave
	// unapplied.
	Active bool `json:"active"`
}

// record is the replica's key's value.
func (r *Replica) record(active bool) string {
	host, _ := os.Hostname()
	b, _ := json.Marshal(member{Host: host, PID: os.Getpid(), Since: r.since, Active: active})
	return string(b)
}

// register grants a lease and puts the replica's key on it.
func (r *Replica) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.TTL)
	defer cancel()
	g, err := r.o.Client.Grant(ctx, int64((r.o.TTL+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("shard: register replica %s: %w", r.o.ID, err)
	}
	r.mu.Lock()
	active := r.known
	r.mu.Unlock()
	if _, err := r.o.Client.Put(ctx, r.key("replicas", r.o.ID), r.record(active), clientv3.WithLease(g.ID)); err != nil {
		r.o.Client.Revoke(context.WithoutCancel(ctx), g.ID) //nolint:errcheck // it expires anyway
		return fmt.Errorf("shard: register replica %s: %w", r.o.ID, err)
	}
	r.mu.Lock()
	r.lease, r.lastRenew, r.live, r.active = g.ID, time.Now(), true, active
	if r.lostCh == nil {
		r.lostCh = make(chan struct{})
	}
	r.mu.Unlock()
	return nil
}

// loop keeps the lease alive, gives everything up when it cannot, and rebalances when
// replicas come and go (a watch on PREFIX/replicas/) and every 3 TTL/10 besides.
func (r *Replica) loop(ctx context.Context) {
	defer close(r.done)
	// The lease is checked every TTL/10, so giving up comes at most TTL/2+TTL/10 after
	// the last renewal; the division is checked every third of the TTL.
	tick := time.NewTicker(r.o.TTL / 10)
	defer tick.Stop()
	n := 0
	watchReplicas := func() clientv3.WatchChan {
		return r.o.Client.Watch(clientv3.WithRequireLeader(ctx), r.key("replicas")+"/", clientv3.WithPrefix())
	}
	// Released parents are claimed by the replica they belong to as soon as it hears.
	watchReleases := func() clientv3.WatchChan {
		return r.o.Client.Watch(clientv3.WithRequireLeader(ctx), r.key("owners")+"/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	}
	wch, och := watchReplicas(), watchReleases()
	for {
		ka, kaCancel := r.keepAlive(ctx)
		// One lease's life: renewals until it is lost.
	lease:
		for {
			select {
			case <-ctx.Done():
				kaCancel()
				return
			case resp, ok := <-ka:
				if !ok || resp == nil {
					break lease
				}
				r.mu.Lock()
				r.lastRenew = time.Now()
				r.mu.Unlock()
			case <-tick.C:
				if r.expired() {
					break lease
				}
				if n++; n%3 == 0 {
					if wch == nil {
						wch = watchReplicas()
					}
					if och == nil {
						och = watchReleases()
					}
					r.rebalance(ctx)
				}
			case _, ok := <-wch:
				if !ok {
					wch = nil // watched again on the next tick, not in a busy loop
				}
				r.rebalance(ctx)
			case _, ok := <-och:
				if !ok {
					och = nil
				}
				r.rebalance(ctx)
			case <-r.wake:
				r.rebalance(ctx)
			}
		}
		kaCancel()
		r.drop("the lease was not renewed within half its TTL (etcd out of reach?)")
		// Join again with a new lease once etcd answers; the old owner keys expire with
		// the old lease, and are then claimed anew.
		for {
			if ctx.Err() != nil {
				return
			}
			if err := r.register(ctx); err == nil {
				r.log.Info("replica registered again after losing its lease")
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(r.o.TTL / 3):
			}
		}
	}
}

func (r *Replica) keepAlive(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, context.CancelFunc) {
	r.mu.Lock()
	id := r.lease
	r.mu.Unlock()
	kctx, cancel := context.WithCancel(ctx)
	ch, err := r.o.Client.KeepAlive(kctx, id)
	if err != nil {
		c := make(chan *clientv3.LeaseKeepAliveResponse)
		close(c)
		return c, cancel
	}
	return ch, cancel
}

// expired says whether the lease went unrenewed past half its TTL: etcd expires it at
// the earliest a whole TTL after the last renewal it answered, so giving up here
// leaves at least half a TTL between this replica's last write and another's first.
func (r *Replica) expired() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live && time.Since(r.lastRenew) > r.o.TTL/2
}

// drop gives up every parent at once: the lease is presumed lost.
func (r *Replica) drop(why string) {
	r.mu.Lock()
	if !r.live {
		r.mu.Unlock()
		return
	}
	n := len(r.owned)
	r.live = false
	r.owned = map[string]bool{}
	close(r.lostCh)
	r.lostCh = make(chan struct{})
	id := r.lease
	r.mu.Unlock()
	r.log.Error("gave up every parent: this replica stops applying", "parents", n, "why", why)
	// Best effort: if etcd answers after all, free the parents for the others now.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.o.Client.Revoke(ctx, id) //nolint:errcheck // it expires anyway
}

// Lost is closed when the replica gives its parents up (its lease is presumed lost);
// each loss closes the channel returned before it.
func (r *Replica) Lost() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostCh
}

// Bind returns a context cancelled when the replica loses its lease: a reconcile
// started under ownership stops starting changes when the ownership goes.
func (r *Replica) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	lost := r.Lost()
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lost:
			cancel(errors.New("this replica lost its etcd lease: its parents go to another replica"))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// Sync sets the parents to divide (the fleet's, from the commit being reconciled),
// claims this replica's share and releases the rest; it returns the parents owned.
func (r *Replica) Sync(ctx context.Context, units []string) ([]string, error) {
	units = slices.Clone(units)
	sort.Strings(units)
	units = slices.Compact(units)
	r.mu.Lock()
	r.units, r.known = units, true
	r.mu.Unlock()
	if _, err := r.balance(ctx); err != nil {
		return nil, err
	}
	return r.Owned(), nil
}

// rebalance runs balance from the background loop and tells Gained what was taken.
func (r *Replica) rebalance(ctx context.Context) {
	r.mu.Lock()
	known := r.known
	r.mu.Unlock()
	if !known {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.TTL/2)
	defer cancel()
	gained, err := r.balance(ctx)
	if err != nil {
		r.log.Warn("rebalance", "err", err.Error())
		return
	}
	if len(gained) > 0 && r.o.Gained != nil {
		r.o.Gained(gained)
	}
}

// balance reads the live replicas and the owners, releases what this replica owns
// and should not (another replica ranks first, or the fleet dropped the parent), and
// claims what it should own and nobody does. It returns the parents claimed.
func (r *Replica) balance(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	live, lease, units, active := r.live, r.lease, r.units, r.active
	r.mu.Unlock()
	if !live {
		return nil, errors.New("shard: this replica has no lease (etcd out of reach?); it owns nothing")
	}
	if !active {
		// The first Sync: from now on this replica takes its share.
		if _, err := r.o.Client.Put(ctx, r.key("replicas", r.o.ID), r.record(true), clientv3.WithLease(lease)); err != nil {
			return nil, fmt.Errorf("shard: mark replica %s active: %w", r.o.ID, err)
		}
		r.mu.Lock()
		r.active = true
		r.mu.Unlock()
	}
	rr, err := r.o.Client.Get(ctx, r.key("replicas")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("shard: read replicas: %w", err)
	}
	replicas := make([]string, 0, len(rr.Kvs))
	self := false
	for _, kv := range rr.Kvs {
		id := strings.TrimPrefix(string(kv.Key), r.key("replicas")+"/")
		if id == r.o.ID {
			self = true
		}
		var m member
		if json.Unmarshal(kv.Value, &m) == nil && m.Active || id == r.o.ID {
			replicas = append(replicas, id)
		}
	}
	if !self {
		// Our key is gone: the lease expired on the server.
		r.drop("the replica's key is gone from etcd")
		return nil, errors.New("shard: this replica's lease expired in etcd; it owns nothing")
	}
	op := r.key("owners") + "/"
	or, err := r.o.Client.Get(ctx, op, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("shard: read owners: %w", err)
	}
	owners := make(map[string]string, len(or.Kvs))
	for _, kv := range or.Kvs {
		owners[strings.TrimPrefix(string(kv.Key), op)] = string(kv.Value)
	}
	want := make(map[string]bool, len(units))
	for _, u := range units {
		want[u] = Rank(u, replicas) == r.o.ID
	}
	var gained []string
	// Release first, so a parent is never held by a replica that should let it go
	// while the one it belongs to waits.
	r.mu.Lock()
	held := r.holds > 0
	r.mu.Unlock()
	for u, owner := range owners {
		if owner != r.o.ID || want[u] {
			continue
		}
		if held && slices.Contains(units, u) {
			// A reconcile is running on what this replica owns: the parent goes when it
			// ends, so the next owner observes it after this replica's last change,
			// never a plan made while changes were still landing.
			continue
		}
		k := r.key("owners", u)
		tr, err := r.o.Client.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", r.o.ID)).Then(clientv3.OpDelete(k)).Commit()
		if err != nil {
			return gained, fmt.Errorf("shard: release %s: %w", u, err)
		}
		r.mu.Lock()
		delete(r.owned, u)
		if tr.Succeeded && slices.Contains(units, u) {
			r.handovers++
		}
		r.mu.Unlock()
		r.log.Info("released parent", "parent", u, "to", Rank(u, replicas))
	}
	for _, u := range units {
		owner, taken := owners[u]
		switch {
		case owner == r.o.ID:
			r.mu.Lock()
			r.owned[u] = true
			r.mu.Unlock()
			continue
		case taken || !want[u]:
			r.mu.Lock()
			delete(r.owned, u)
			r.mu.Unlock()
			continue
		}
		k := r.key("owners", u)
		tr, err := r.o.Client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, r.o.ID, clientv3.WithLease(lease))).Commit()
		if err != nil {
			return gained, fmt.Errorf("shard: claim %s: %w", u, err)
		}
		if !tr.Succeeded {
			continue
		}
		r.mu.Lock()
		r.owned[u] = true
		if r.balanced {
			r.handovers++
		}
		r.mu.Unlock()
		gained = append(gained, u)
	}
	r.mu.Lock()
	r.balanced = true
	r.mu.Unlock()
	if len(gained) > 0 {
		r.log.Info("took parents", "parents", len(gained), "first", gained[0])
	}
	return gained, nil
}

// Hold keeps the owned parents from being released to other replicas until the
// returned function is called (a reconcile running on them); a lost lease still drops
// them at once. Parents not yet owned can still be claimed.
func (r *Replica) Hold() func() {
	r.mu.Lock()
	r.holds++
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.holds--
			r.mu.Unlock()
			r.Nudge()
		})
	}
}

// Owned lists the parents this replica owns, sorted.
func (r *Replica) Owned() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.owned))
	for u := range r.owned {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Owns reports whether this replica owns parent.
func (r *Replica) Owns(parent string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owned[parent]
}

// Live reports whether the replica holds its lease (and so may own parents).
func (r *Replica) Live() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

// Handovers counts parents that changed hands through this replica: taken after
// another replica had them, or released to another.
func (r *Replica) Handovers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handovers
}

// Units is the number of parents being divided, as the last Sync said.
func (r *Replica) Units() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.units)
}

// Nudge asks the background loop to rebalance now.
func (r *Replica) Nudge() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops the replica and revokes its lease: its parents are free at once for the
// others (a graceful stop hands over without waiting for the TTL).
func (r *Replica) Close() error {
	r.cancel()
	<-r.done
	r.mu.Lock()
	id, live := r.lease, r.live
	r.live = false
	r.owned = map[string]bool{}
	r.mu.Unlock()
	if !live {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.o.Client.Revoke(ctx, id); err != nil {
		return fmt.Errorf("shard: revoke the lease of %s: %w", r.o.ID, err)
	}
	return nil
}

// Rank returns the replica a parent belongs to among the live ones: the highest
// hash of (parent, replica) — rendezvous hashing, so removing a replica moves only
// its parents and adding one takes about 1/n of everyone's.
func Rank(parent string, replicas []string) string {
	var best string
	var top uint64
	for _, id := range replicas {
		h := fnv.New64a()
		h.Write([]byte(parent))
		h.Write([]byte{0})
		h.Write([]byte(id))
		// fnv alone clusters similar names; a final mix spreads them.
		s := mix(h.Sum64())
		if best == "" || s > top || (s == top && id < best) {
			best, top = id, s
		}
	}
	return best
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Assignment is who owns what, read from etcd (for `tether watch status` and tests).
type Assignment struct {
	// Replicas are the live replicas; Owners maps each owned parent to its replica.
	Replicas []string
	Owners   map[string]string
}

// Assignment reads who owns what now (every replica's share, not only this one's).
func (r *Replica) Assignment(ctx context.Context) (Assignment, error) {
	return Read(ctx, r.o.Client, r.o.Prefix)
}

// Read returns the live replicas and the owners under prefix.
func Read(ctx context.Context, c *clientv3.Client, prefix string) (Assignment, error) {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	a := Assignment{Owners: map[string]string{}}
	rr, err := c.Get(ctx, prefix+"replicas/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return a, fmt.Errorf("shard: read replicas: %w", err)
	}
	for _, kv := range rr.Kvs {
		a.Replicas = append(a.Replicas, strings.TrimPrefix(string(kv.Key), prefix+"replicas/"))
	}
	or, err := c.Get(ctx, prefix+"owners/", clientv3.WithPrefix())
	if err != nil {
		return a, fmt.Errorf("shard: read owners: %w", err)
	}
	for _, kv := range or.Kvs {
		a.Owners[strings.TrimPrefix(string(kv.Key), prefix+"owners/")] = string(kv.Value)
	}
	return a, nil
}
