package rfc2136

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/providers"
)

// Memory remembers, per member and zone, what Tether last pushed. A write-only member
// is never read, so this is the only way a second run can know it has nothing to send.
// The value is opaque to the store (a digest, plus per-RRset digests); internal/state
// (StateStore) satisfies this interface. member is "PARENT/MEMBER"; zone has no final dot.
type Memory interface {
	Get(member, zone string) (string, bool)
	Put(member, zone, digest string) error
}

// Health is what Tether keeps about a member (DESIGN.md: DNS members' health), in
// Tether's state: consecutive failed commands (a success resets them), disabled past
// the threshold until Enable, a resync due after Enable, and when the member joined
// with its last applied address and role. It never holds a secret: LastError is an
// error text from this package.
type Health struct {
	// ConsecutiveFailures counts failed commands since the last success.
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	Disabled            bool      `json:"disabled,omitempty"`
	DisabledAt          time.Time `json:"disabledAt,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	// NeedsResync is set when a disabled member is re-enabled: its zones are compared
	// in full and rewritten before its answers are trusted again.
	NeedsResync bool `json:"needsResync,omitempty"`
	// Joined is when a change first succeeded on the member: from then on Tether
	// manages it. Address and Role are the last applied, so a member removed from the
	// fleet can still be shown (and its removal planned).
	Joined  time.Time `json:"joined,omitzero"`
	Address string    `json:"address,omitempty"`
	Role    string    `json:"role,omitempty"`
}

// Lister is implemented by stores that can list the members they know, so a member
// removed from the fleet is still observed and its removal planned.
type Lister interface {
	Members() ([]string, error)
}

func (d *storeData) members() []string {
	seen := map[string]bool{}
	for m := range d.Health {
		seen[m] = true
	}
	for m := range d.Memory {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// HealthStore keeps Health per member ("PARENT/MEMBER"). UpdateHealth is one atomic
// read-modify-write (fn sees the current value, zero when none), so two processes
// counting failures of one member do not lose a count; internal/state's
// UpdateHealth has the same shape.
type HealthStore interface {
	Health(member string) (Health, error)
	UpdateHealth(member string, fn func(*Health)) (Health, error)
}

// Store is everything the provider keeps about members.
type Store interface {
	Memory
	HealthStore
	// Forget drops all that is kept about a member (it left the cluster).
	Forget(member string) error
}

type storeData struct {
	Memory map[string]map[string]string `json:"memory,omitempty"`
	Health map[string]Health            `json:"health,omitempty"`
}

func (d *storeData) get(member, zone string) (string, bool) {
	v, ok := d.Memory[member][zone]
	return v, ok
}

func (d *storeData) put(member, zone, digest string) {
	if d.Memory == nil {
		d.Memory = map[string]map[string]string{}
	}
	if d.Memory[member] == nil {
		d.Memory[member] = map[string]string{}
	}
	d.Memory[member][zone] = digest
}

func (d *storeData) setHealth(member string, h Health) {
	if d.Health == nil {
		d.Health = map[string]Health{}
	}
	d.Health[member] = h
}

func (d *storeData) forget(member string) {
	delete(d.Memory, member)
	delete(d.Health, member)
}

// MemStore keeps everything in memory (tests, one-shot runs).
type MemStore struct {
	mu sync.Mutex
	d  storeData
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{} }

// Get implements Memory.
func (s *MemStore) Get(member, zone string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.get(member, zone)
}

// Put implements Memory.
func (s *MemStore) Put(member, zone, digest string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.put(member, zone, digest)
	return nil
}

// Health implements HealthStore.
func (s *MemStore) Health(member string) (Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Health[member], nil
}

// UpdateHealth implements HealthStore.
func (s *MemStore) UpdateHealth(member string, fn func(*Health)) (Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.d.Health[member]
	fn(&h)
	s.d.setHealth(member, h)
	return h, nil
}

// Members implements Lister.
func (s *MemStore) Members() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.members(), nil
}

// Forget implements Store.
func (s *MemStore) Forget(member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.forget(member)
	return nil
}

// Namespaces of Tether's state (providers.State) this provider owns: members' health,
// by member id, and what was pushed to each member, by zone. internal/state moves
// what older versions kept elsewhere into them.
const (
	healthNS     = "rfc2136/health"
	pushedPrefix = "rfc2136/pushed/"
)

func pushedNS(member string) string { return pushedPrefix + member }

// StateStore keeps members' health and pushed digests in Tether's state
// (providers.Config.State: the folder under .tether/state, or a distributed store),
// the same store plan and apply use, so `tether dns enable` and `tether dns verify`
// see what apply recorded whatever the working directory. The Store interface has
// no context; state calls are short, and one interrupted by Ctrl-C must still be
// recorded (a failure counted, a push remembered).
type StateStore struct {
	State providers.State
}

func (s StateStore) ctx() context.Context { return context.Background() }

// Get implements Memory. An unreadable state reads as "nothing remembered", which
// makes the next run push again: safe, if wasteful.
func (s StateStore) Get(member, zone string) (string, bool) {
	v, ok, err := s.State.Get(s.ctx(), pushedNS(member), zone)
	if err != nil {
		return "", false
	}
	return v, ok
}

// Put implements Memory.
func (s StateStore) Put(member, zone, digest string) error {
	return s.State.Put(s.ctx(), pushedNS(member), map[string]string{zone: digest})
}

// PutMany stores several zones of one member in one atomic write.
func (s StateStore) PutMany(member string, zones map[string]string) error {
	return s.State.Put(s.ctx(), pushedNS(member), zones)
}

// AllPushed returns every zone remembered for a member, in one read.
func (s StateStore) AllPushed(member string) (map[string]string, error) {
	return s.State.List(s.ctx(), pushedNS(member))
}

// Health implements HealthStore.
func (s StateStore) Health(member string) (Health, error) {
	v, ok, err := s.State.Get(s.ctx(), healthNS, member)
	if err != nil || !ok {
		return Health{}, err
	}
	return decodeHealth(member, v)
}

// AllHealth returns the recorded health of every member, by member id.
func (s StateStore) AllHealth(ctx context.Context) (map[string]Health, error) {
	all, err := s.State.List(ctx, healthNS)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Health, len(all))
	for m, v := range all {
		h, err := decodeHealth(m, v)
		if err != nil {
			return nil, err
		}
		out[m] = h
	}
	return out, nil
}

func decodeHealth(member, v string) (Health, error) {
	var h Health
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return Health{}, fmt.Errorf("health of %s is damaged: %w", member, err)
	}
	return h, nil
}

// UpdateHealth implements HealthStore: one atomic read-modify-write in the state.
func (s StateStore) UpdateHealth(member string, fn func(*Health)) (Health, error) {
	var out Health
	var failed error
	_, err := s.State.Update(s.ctx(), healthNS, member, func(old string, ok bool) (string, bool) {
		var h Health
		if ok {
			if h, failed = decodeHealth(member, old); failed != nil {
				return old, false // keep what is there; the error is reported
			}
		}
		fn(&h)
		out = h
		b, err := json.Marshal(h)
		if err != nil {
			failed = err
			return old, !ok
		}
		if ok {
			// An unchanged member writes nothing: most commands succeed on a healthy one.
			if prev, _ := decodeHealth(member, old); prev == h {
				return old, false
			}
		}
		return string(b), false
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return Health{}, fmt.Errorf("update health of %s: %w", member, err)
	}
	return out, nil
}

// Members implements Lister: every member with recorded health (each command sent
// to a member records its outcome, so a member Tether pushed to has health).
func (s StateStore) Members() ([]string, error) {
	all, err := s.State.List(s.ctx(), healthNS)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(all))
	for m := range all {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// Forget implements Store: the member's health and pushed digests go.
func (s StateStore) Forget(member string) error {
	if err := s.State.Drop(s.ctx(), pushedNS(member)); err != nil {
		return err
	}
	_, err := s.State.Update(s.ctx(), healthNS, member, func(string, bool) (string, bool) { return "", true })
	return err
}

// pushed is what the memory holds for a zone of a member: the zone digest, a short
// digest per RRset, and for a member Tether reads (sync) the SOA serial the member
// had when its copy was last read equal to Digest (0: unknown).
type pushed struct {
	Digest string
	Sets   map[string]string
	Serial uint32
}

// serialLine is the key of the line that holds Serial. It is no RRset's "NAME TYPE"
// (no space), so an older version reading it ignores it: a write-only member's gone
// RRsets are computed from keys with a type.
const serialLine = "@serial"

// encode writes "v1 DIGEST" then one "NAME TYPE<TAB>SETDIGEST" line per RRset, and
// "@serial<TAB>N" when the serial is known.
func (p pushed) encode() string {
	keys := make([]string, 0, len(p.Sets))
	for k := range p.Sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("v1 " + p.Digest)
	for _, k := range keys {
		b.WriteString("\n" + k + "\t" + p.Sets[k])
	}
	if p.Serial != 0 {
		b.WriteString("\n" + serialLine + "\t" + strconv.FormatUint(uint64(p.Serial), 10))
	}
	return b.String()
}

func decodePushed(s string) (pushed, bool) {
	lines := strings.Split(s, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "v1 ") {
		return pushed{}, false
	}
	p := pushed{Digest: strings.TrimPrefix(lines[0], "v1 "), Sets: map[string]string{}}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			return pushed{}, false
		}
		if k == serialLine {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return pushed{}, false
			}
			p.Serial = uint32(n)
			continue
		}
		p.Sets[k] = v
	}
	return p, true
}

// PutMany stores several zones of one member in one write.
func (s *MemStore) PutMany(member string, zones map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for z, v := range zones {
		s.d.put(member, z, v)
	}
	return nil
}

// AllPushed returns every zone remembered for a member.
func (s *MemStore) AllPushed(member string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.d.Memory[member]))
	for z, v := range s.d.Memory[member] {
		out[z] = v
	}
	return out, nil
}

// allPushed reads a member's remembered zones in one go when the store can.
func allPushed(m Memory, member string) (map[string]string, bool) {
	a, ok := m.(interface {
		AllPushed(string) (map[string]string, error)
	})
	if !ok {
		return nil, false
	}
	all, err := a.AllPushed(member)
	if err != nil {
		return map[string]string{}, true // as Get: nothing remembered, push again
	}
	return all, true
}

// batchMemory collects one run's Puts and writes them together at the end. Reads see
// the pending values. If the process dies first, the zones are pushed again next
// time, which is harmless: a push replaces RRsets, it does not append.
// The member's remembered zones are read once, on the first Get, when the store can
// return them all: a thousand zones cost one read of the state, not a thousand.
type batchMemory struct {
	Memory
	mu      sync.Mutex
	pending map[string]map[string]string
	loaded  map[string]map[string]string
}

func (b *batchMemory) Get(member, zone string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.pending[member][zone]; ok {
		return v, true
	}
	if all, ok := b.loaded[member]; ok {
		v, ok := all[zone]
		return v, ok
	}
	if all, ok := allPushed(b.Memory, member); ok {
		if b.loaded == nil {
			b.loaded = map[string]map[string]string{}
		}
		b.loaded[member] = all
		v, ok := all[zone]
		return v, ok
	}
	return b.Memory.Get(member, zone)
}

func (b *batchMemory) Put(member, zone, digest string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string]map[string]string{}
	}
	if b.pending[member] == nil {
		b.pending[member] = map[string]string{}
	}
	b.pending[member][zone] = digest
	return nil
}

// flush writes what was collected, with PutMany when the store has it.
func (b *batchMemory) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for member, zones := range b.pending {
		if pm, ok := b.Memory.(interface {
			PutMany(string, map[string]string) error
		}); ok {
			if err := pm.PutMany(member, zones); err != nil {
				return err
			}
			continue
		}
		for z, v := range zones {
			if err := b.Memory.Put(member, z, v); err != nil {
				return err
			}
		}
	}
	b.pending = nil
	return nil
}
