package rfc2136

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Memory remembers, per member and zone, what Tether last pushed. A write-only member
// is never read, so this is the only way a second run can know it has nothing to send.
// The value is opaque to the store (a digest, plus per-RRset digests); internal/state
// can satisfy this interface. member is "PARENT/MEMBER"; zone has no final dot.
type Memory interface {
	Get(member, zone string) (string, bool)
	Put(member, zone, digest string) error
}

// Health is what Tether keeps about a member's failures (DESIGN.md: DNS members'
// health). It never holds a secret: LastError is an error text from this package.
type Health struct {
	// Failures counts consecutive failed commands; a success resets it.
	Failures int `json:"failures"`
	// Disabled is set past the failure threshold and cleared only by Enable.
	Disabled   bool      `json:"disabled,omitempty"`
	DisabledAt time.Time `json:"disabledAt,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
	// NeedsResync is set by Enable: the member's zones are compared in full and
	// rewritten before its answers are trusted again.
	NeedsResync bool `json:"needsResync,omitempty"`
	// Joined is when an apply first succeeded on the member: from then on Tether
	// manages it, and a member with no Joined is observed as absent (plan: create).
	// Address and Role are the last applied, so a member removed from the fleet can
	// still be shown (plan: delete).
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

// FileStore keeps everything in one JSON file, written atomically (temporary file,
// then rename) under an OS file lock, so `tether dns enable` in one process and an
// apply in another do not lose each other's writes. It stands in until the state
// package serves DNS members' health.
type FileStore struct {
	Path string
	mu   sync.Mutex
}

// NewFileStore returns a store kept at path (its folder is created on first write).
func NewFileStore(path string) *FileStore { return &FileStore{Path: path} }

func (s *FileStore) lock() (func(), error) {
	s.mu.Lock()
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("state %s: %w", s.Path, err)
	}
	f, err := os.OpenFile(s.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("state %s: lock: %w", s.Path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("state %s: lock: %w", s.Path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		s.mu.Unlock()
	}, nil
}

func (s *FileStore) load() (*storeData, error) {
	var d storeData
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return &d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.Path, err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("state %s: %w", s.Path, err)
	}
	return &d, nil
}

func (s *FileStore) save(d *storeData) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), ".rfc2136-*")
	if err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	return nil
}

func (s *FileStore) update(fn func(*storeData)) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.load()
	if err != nil {
		return err
	}
	fn(d)
	return s.save(d)
}

func (s *FileStore) read() (*storeData, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.load()
}

// Get implements Memory. An unreadable file reads as "nothing remembered", which
// makes the next run push again: safe, if wasteful.
func (s *FileStore) Get(member, zone string) (string, bool) {
	d, err := s.read()
	if err != nil {
		return "", false
	}
	return d.get(member, zone)
}

// Put implements Memory.
func (s *FileStore) Put(member, zone, digest string) error {
	return s.update(func(d *storeData) { d.put(member, zone, digest) })
}

// Health implements HealthStore.
func (s *FileStore) Health(member string) (Health, error) {
	d, err := s.read()
	if err != nil {
		return Health{}, err
	}
	return d.Health[member], nil
}

// UpdateHealth implements HealthStore.
func (s *FileStore) UpdateHealth(member string, fn func(*Health)) (Health, error) {
	var h Health
	err := s.update(func(d *storeData) {
		h = d.Health[member]
		fn(&h)
		d.setHealth(member, h)
	})
	return h, err
}

// Members implements Lister.
func (s *FileStore) Members() ([]string, error) {
	d, err := s.read()
	if err != nil {
		return nil, err
	}
	return d.members(), nil
}

// Forget implements Store.
func (s *FileStore) Forget(member string) error {
	return s.update(func(d *storeData) { d.forget(member) })
}

// pushed is what the memory holds for a zone of a member: the zone digest and a short
// digest per RRset.
type pushed struct {
	Digest string
	Sets   map[string]string
}

// encode writes "v1 DIGEST" then one "NAME TYPE<TAB>SETDIGEST" line per RRset.
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

// PutMany stores several zones of one member in one atomic write: a push of a
// thousand zones costs one file write, not a thousand.
func (s *FileStore) PutMany(member string, zones map[string]string) error {
	return s.update(func(d *storeData) {
		for z, v := range zones {
			d.put(member, z, v)
		}
	})
}

// batchMemory collects one run's Puts and writes them together at the end. Reads see
// the pending values. If the process dies first, the zones are pushed again next
// time, which is harmless: a push replaces RRsets, it does not append.
type batchMemory struct {
	Memory
	mu      sync.Mutex
	pending map[string]map[string]string
}

func (b *batchMemory) Get(member, zone string) (string, bool) {
	b.mu.Lock()
	v, ok := b.pending[member][zone]
	b.mu.Unlock()
	if ok {
		return v, true
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
