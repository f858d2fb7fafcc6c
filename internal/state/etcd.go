package state

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Etcd keeps the state in an etcd v3 cluster, under one key prefix:
//
//	PREFIX/inventory/ADDRESS        an Entry (JSON)
//	PREFIX/protected/ADDRESS        "1"
//	PREFIX/journals/ID/header       a JournalHeader (JSON) without its changes
//	PREFIX/journals/ID/changes/N    changes N… of its plan ([]PlannedChange, JSON)
//	PREFIX/journals/ID/step/CHANGE  the last Step of one change (JSON)
//	PREFIX/kv/NS/KEY                the providers' key-value space (NS escaped)
//	PREFIX/locks/PARENT/LEASE       concurrency.Mutex keys, one per waiting writer
//	PREFIX/holders/PARENT           who holds PARENT's lock (JSON), on the lock's lease
//
// One key per entry, so an update writes only what changed; several keys change in
// one transaction. etcd caps the operations of one transaction (--max-txn-ops, 128
// by default): a larger inventory or key-value update is written in transactions
// of txnOps, each atomic; every entry stands on its own, so a crash between two
// leaves some entries written and the rest found again by the next apply's observe.
//
// Every write made with a context carrying locks (WithLocks) is conditional on still
// holding them (fence.go): a writer whose lease ended writes nothing and gets a
// *LockLostError naming the new holder.
type Etcd struct {
	c      *clientv3.Client
	prefix string
	ttl    int
}

var _ Store = (*Etcd)(nil)

// txnOps is how many operations go in one transaction (etcd's default cap).
const txnOps = 128

// DefaultLockTTL is the lease of a parent's lock, in seconds: a writer that dies or is
// cut off from etcd loses its locks within it.
const DefaultLockTTL = 10

// Environment variables that give the etcd store its TLS files and credentials; the
// URL's query may name the same files (cert=, key=, ca=) but never a password.
const (
	EnvEtcdCert         = "TETHER_ETCD_CERT"
	EnvEtcdKey          = "TETHER_ETCD_KEY"
	EnvEtcdCA           = "TETHER_ETCD_CA"
	EnvEtcdUser         = "TETHER_ETCD_USER"
	EnvEtcdPassword     = "TETHER_ETCD_PASSWORD"
	EnvEtcdPasswordFile = "TETHER_ETCD_PASSWORD_FILE"
)

// IsEtcdURL says whether a --state value names an etcd cluster.
func IsEtcdURL(s string) bool {
	return strings.HasPrefix(s, "etcd://") || strings.HasPrefix(s, "etcds://")
}

// OpenURL opens the state a --state value (or $TETHER_STATE) names: an etcd URL
// (etcd://HOST:PORT[,HOST:PORT…]/PREFIX) or a folder.
func OpenURL(ctx context.Context, spec string) (Store, error) {
	if IsEtcdURL(spec) {
		return OpenEtcd(ctx, spec, os.Getenv)
	}
	return Open(spec)
}

// EtcdConfig is an etcd URL read: the endpoints, the key prefix and what to connect
// with.
type EtcdConfig struct {
	Endpoints                 []string
	Prefix                    string
	CertFile, KeyFile, CAFile string
	User, Password            string
	TLS                       bool
	LockTTL                   int
}

// ParseEtcdURL reads etcd[s]://HOST:PORT[,HOST:PORT…]/PREFIX[?cert=F&key=F&ca=F&ttl=S];
// files and credentials may also come from the environment (getenv). etcds://, or a
// certificate or CA, means TLS. A user or password in the URL is refused: it would
// end up in shell histories, process lists and logs.
func ParseEtcdURL(spec string, getenv func(string) string) (EtcdConfig, error) {
	var cfg EtcdConfig
	rest, tlsScheme := strings.CutPrefix(spec, "etcds://")
	if !tlsScheme {
		var ok bool
		if rest, ok = strings.CutPrefix(spec, "etcd://"); !ok {
			return cfg, fmt.Errorf("state %q: want etcd://HOST:2379[,HOST…]/PREFIX", spec)
		}
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return cfg, errors.New("state: credentials in an etcd URL are refused; set " + EnvEtcdUser + " and " + EnvEtcdPasswordFile)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return cfg, fmt.Errorf("state %q: an empty etcd host", spec)
		}
		cfg.Endpoints = append(cfg.Endpoints, h)
	}
	cfg.Prefix = strings.Trim(prefix, "/")
	if cfg.Prefix == "" {
		return cfg, fmt.Errorf("state %q: want a key prefix after the hosts (etcd://HOST:2379/tether)", spec)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return cfg, fmt.Errorf("state %q: %w", spec, err)
	}
	for k := range q {
		switch k {
		case "cert", "key", "ca", "ttl":
		default:
			return cfg, fmt.Errorf("state %q: unknown option %q (cert, key, ca, ttl)", spec, k)
		}
	}
	pick := func(qk, env string) string {
		if v := q.Get(qk); v != "" {
			return v
		}
		return getenv(env)
	}
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = pick("cert", EnvEtcdCert), pick("key", EnvEtcdKey), pick("ca", EnvEtcdCA)
	cfg.TLS = tlsScheme || cfg.CertFile != "" || cfg.CAFile != ""
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return cfg, errors.New("state: an etcd client certificate needs both cert and key")
	}
	cfg.User = getenv(EnvEtcdUser)
	cfg.Password = getenv(EnvEtcdPassword)
	if f := getenv(EnvEtcdPasswordFile); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return cfg, fmt.Errorf("state: etcd password file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if cfg.User != "" && cfg.Password == "" {
		return cfg, fmt.Errorf("state: %s is set without %s", EnvEtcdUser, EnvEtcdPasswordFile)
	}
	cfg.LockTTL = DefaultLockTTL
	if v := q.Get("ttl"); v != "" {
		if cfg.LockTTL, err = strconv.Atoi(v); err != nil || cfg.LockTTL < 2 {
			return cfg, fmt.Errorf("state %q: ttl wants whole seconds, at least 2", spec)
		}
	}
	return cfg, nil
}

// OpenEtcd connects to the cluster an etcd URL names.
func OpenEtcd(ctx context.Context, spec string, getenv func(string) string) (*Etcd, error) {
	cfg, err := ParseEtcdURL(spec, getenv)
	if err != nil {
		return nil, err
	}
	cc := clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: cfg.User, Password: cfg.Password}
	if cfg.TLS {
		info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile}
		var tc *tls.Config
		if cfg.CertFile != "" || cfg.CAFile != "" {
			if tc, err = info.ClientConfig(); err != nil {
				return nil, fmt.Errorf("state: etcd TLS files: %w", err)
			}
		} else {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cc.TLS = tc
	}
	c, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("state: connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	e := &Etcd{c: c, prefix: cfg.Prefix + "/", ttl: cfg.LockTTL}
	// Fail at open, not at the first write, when the cluster is not there.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Get(pctx, e.prefix+"probe", clientv3.WithCountOnly()); err != nil {
		c.Close()
		return nil, fmt.Errorf("state: etcd %s does not answer: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return e, nil
}

// Client is the store's etcd client, for what shares the cluster with it (the
// daemon's replicas, internal/shard).
func (e *Etcd) Client() *clientv3.Client { return e.c }

// Prefix is the store's key prefix, ending in "/".
func (e *Etcd) Prefix() string { return e.prefix }

// Close closes the client (locks still held lose their lease when it expires).
func (e *Etcd) Close() error { return e.c.Close() }

func (e *Etcd) key(parts ...string) string { return e.prefix + strings.Join(parts, "/") }

// commit writes ops in transactions of at most txnOps operations.
func (e *Etcd) commit(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), txnOps)
		if _, err := e.txn(ctx, nil, ops[:n]...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// fence is one lock of this store a write is made under (WithLocks): the comparison
// that holds while the lock's mutex key is still the one its holder created (the key
// goes with the lease; a new holder's key has another creation revision).
type fence struct {
	parent string
	cmp    clientv3.Cmp
}

func (e *Etcd) fences(ctx context.Context) []fence {
	var out []fence
	for _, u := range locksOf(ctx) {
		// A lock of the same state (prefix), whichever handle took it.
		if l, ok := u.(*etcdLock); ok && l.e.prefix == e.prefix {
			out = append(out, fence{l.parent, l.m.IsOwner()})
		}
	}
	return out
}

// txn writes ops in one transaction if conds hold and every lock ctx carries is still
// held (see fence.go). ok is false when one of conds failed; a lost lock is a
// *LockLostError. Either way nothing of ops was written.
//
// etcd caps a transaction's comparisons as it caps its operations (--max-txn-ops):
// the locks beyond what fits beside conds are checked first, in transactions of
// their own, just before the write. Only the locks checked with the write itself are
// checked atomically with it: an apply holding more than txnOps parents has a window
// of one round trip for the others.
func (e *Etcd) txn(ctx context.Context, conds []clientv3.Cmp, ops ...clientv3.Op) (ok bool, err error) {
	fs := e.fences(ctx)
	for len(fs) > 0 && len(conds)+len(fs) > txnOps {
		n := min(len(fs), txnOps)
		r, err := e.c.Txn(ctx).If(fenceCmps(fs[:n])...).Commit()
		if err != nil {
			return false, err
		}
		if !r.Succeeded {
			return false, e.lostLock(ctx, fs[:n])
		}
		fs = fs[n:]
	}
	r, err := e.c.Txn(ctx).If(append(slices.Clip(conds), fenceCmps(fs)...)...).Then(ops...).Commit()
	if err != nil {
		return false, err
	}
	if r.Succeeded {
		return true, nil
	}
	if len(fs) > 0 {
		if err := e.lostLock(ctx, fs); err != nil {
			return false, err
		}
	}
	return false, nil
}

func fenceCmps(fs []fence) []clientv3.Cmp {
	out := make([]clientv3.Cmp, len(fs))
	for i, f := range fs {
		out[i] = f.cmp
	}
	return out
}

// lostLock finds which of fs is no longer held, after a transaction conditional on
// them failed, and names who holds it now. nil when every one is held: the
// transaction failed on a condition of its own.
func (e *Etcd) lostLock(ctx context.Context, fs []fence) error {
	for _, f := range fs {
		r, err := e.c.Txn(ctx).If(f.cmp).Commit()
		if err != nil {
			return fmt.Errorf("parent %s: the lock was not found held, and checking it failed: %w", f.parent, err)
		}
		if r.Succeeded {
			continue
		}
		lost := &LockLostError{Parent: f.parent}
		// Our holder record went with our lease: one there now is the new holder's.
		if g, err := e.c.Get(ctx, e.key("holders", f.parent)); err == nil && len(g.Kvs) > 0 {
			var h Holder
			if json.Unmarshal(g.Kvs[0].Value, &h) == nil && h.PID != 0 {
				lost.Holder = &h
			}
		}
		return lost
	}
	return nil
}

// Inventory implements Store.
func (e *Etcd) Inventory(ctx context.Context) (map[string]Entry, error) {
	r, err := e.c.Get(ctx, e.key("inventory")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("state: read inventory: %w", err)
	}
	out := make(map[string]Entry, len(r.Kvs))
	for _, kv := range r.Kvs {
		var en Entry
		if err := json.Unmarshal(kv.Value, &en); err != nil {
			return nil, fmt.Errorf("state: inventory entry %s is damaged: %w", kv.Key, err)
		}
		out[en.Address] = en
	}
	return out, nil
}

// UpdateInventory implements Store.
func (e *Etcd) UpdateInventory(ctx context.Context, add []Entry, remove []string) error {
	ops := make([]clientv3.Op, 0, len(add)+len(remove))
	last := map[string]int{}
	for i, en := range add {
		last[en.Address] = i
	}
	removing := map[string]bool{}
	for _, a := range remove {
		if _, ok := last[a]; !ok && !removing[a] {
			removing[a] = true
			ops = append(ops, clientv3.OpDelete(e.key("inventory", a)))
		}
	}
	for i, en := range add {
		if last[en.Address] != i {
			continue // etcd refuses two puts of one key in a transaction; the last wins
		}
		b, err := json.Marshal(en)
		if err != nil {
			return fmt.Errorf("state: update inventory: %w", err)
		}
		ops = append(ops, clientv3.OpPut(e.key("inventory", en.Address), string(b)))
	}
	if err := e.commit(ctx, ops); err != nil {
		return fmt.Errorf("state: update inventory: %w", err)
	}
	return nil
}

// Protected implements Store.
func (e *Etcd) Protected(ctx context.Context) (map[string]bool, error) {
	pfx := e.key("protected") + "/"
	r, err := e.c.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("state: read protected: %w", err)
	}
	out := make(map[string]bool, len(r.Kvs))
	for _, kv := range r.Kvs {
		out[strings.TrimPrefix(string(kv.Key), pfx)] = true
	}
	return out, nil
}

// UpdateProtected implements Store.
func (e *Etcd) UpdateProtected(ctx context.Context, add, remove []string) error {
	var ops []clientv3.Op
	seen := map[string]bool{}
	for _, a := range add {
		if !seen[a] {
			seen[a] = true
			ops = append(ops, clientv3.OpPut(e.key("protected", a), "1"))
		}
	}
	for _, a := range remove {
		if !seen[a] {
			seen[a] = true
			ops = append(ops, clientv3.OpDelete(e.key("protected", a)))
		}
	}
	if err := e.commit(ctx, ops); err != nil {
		return fmt.Errorf("state: update protected: %w", err)
	}
	return nil
}

// BeginJournal implements Store: the old steps and change lists of a reused id are
// deleted first, then the plan's changes are written in parts of journalPart, and
// the header last, so a journal is seen (Journals) only once it is whole. One value
// holding the whole plan would pass etcd's request limit (1.5 MiB by default) at
// about 13,000 changes.
func (e *Etcd) BeginJournal(ctx context.Context, h JournalHeader) error {
	if err := checkID(h.ID); err != nil {
		return err
	}
	changes := h.Changes
	h.Changes = nil
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
	}
	// Not the whole journal prefix: etcd refuses a put inside a range deleted in the
	// same transaction, and the header must not be there while the parts are written.
	if _, err := e.txn(ctx, nil,
		clientv3.OpDelete(e.key("journals", h.ID, "header")),
		clientv3.OpDelete(e.key("journals", h.ID, "step")+"/", clientv3.WithPrefix()),
		clientv3.OpDelete(e.key("journals", h.ID, "changes")+"/", clientv3.WithPrefix()),
	); err != nil {
		return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
	}
	var ops []clientv3.Op
	size := 0
	for i := 0; i < len(changes); i += journalPart {
		part, err := json.Marshal(changes[i:min(i+journalPart, len(changes))])
		if err != nil {
			return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
		}
		if len(ops) > 0 && (size+len(part) > txnBytes || len(ops) == txnOps) {
			if err := e.commit(ctx, ops); err != nil {
				return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
			}
			ops, size = nil, 0
		}
		ops = append(ops, clientv3.OpPut(e.key("journals", h.ID, "changes", fmt.Sprintf("%08d", i)), string(part)))
		size += len(part)
	}
	if err := e.commit(ctx, append(ops, clientv3.OpPut(e.key("journals", h.ID, "header"), string(b)))); err != nil {
		return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
	}
	return nil
}

// journalPart is how many planned changes one key of a journal holds (about 100
// bytes each), and txnBytes what one transaction carries at most: under etcd's
// default request limit of 1.5 MiB.
const (
	journalPart = 1000
	txnBytes    = 1 << 20
)

// RecordStep implements Store: the step is written only while the header exists, in
// one transaction, so a journal another process ended takes no more steps.
func (e *Etcd) RecordStep(ctx context.Context, id string, s Step) error {
	return e.RecordSteps(ctx, id, []Step{s})
}

// RecordSteps implements StepsRecorder: up to txnOps-1 steps per transaction, each
// transaction written only while the header exists.
func (e *Etcd) RecordSteps(ctx context.Context, id string, steps []Step) error {
	if err := checkID(id); err != nil {
		return err
	}
	hk := e.key("journals", id, "header")
	for len(steps) > 0 {
		n := min(len(steps), txnOps-1)
		// etcd refuses two puts of one key in a transaction; the last step of a
		// change wins, as it would written one by one.
		last := map[string]int{}
		for i, s := range steps[:n] {
			last[s.ID] = i
		}
		ops := make([]clientv3.Op, 0, n)
		for i, s := range steps[:n] {
			if last[s.ID] != i {
				continue
			}
			b, err := json.Marshal(s)
			if err != nil {
				return fmt.Errorf("state: journal %s: %w", id, err)
			}
			ops = append(ops, clientv3.OpPut(e.key("journals", id, "step", s.ID), string(b)))
		}
		ok, err := e.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(hk), ">", 0)}, ops...)
		if err != nil {
			return fmt.Errorf("state: journal %s: record %d step(s): %w", id, n, err)
		}
		if !ok {
			return fmt.Errorf("state: journal %s is not open", id)
		}
		steps = steps[n:]
	}
	return nil
}

// Journals implements Store: one read, so a journal is seen whole.
func (e *Etcd) Journals(ctx context.Context) ([]*Journal, error) {
	pfx := e.key("journals") + "/"
	r, err := e.c.Get(ctx, pfx, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("state: read journals: %w", err)
	}
	byID := map[string]*Journal{}
	steps := map[string]map[string]Step{}
	parts := map[string][]PlannedChange{}
	for _, kv := range r.Kvs {
		id, rest, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), pfx), "/")
		switch {
		case rest == "header":
			j := &Journal{Steps: map[string]Step{}}
			if err := json.Unmarshal(kv.Value, &j.JournalHeader); err != nil {
				return nil, fmt.Errorf("state: journal %s is damaged: %w", id, err)
			}
			byID[id] = j
		case strings.HasPrefix(rest, "changes/"):
			// Keys sort by their zero-padded first index: parts come in plan order.
			var part []PlannedChange
			if err := json.Unmarshal(kv.Value, &part); err != nil {
				return nil, fmt.Errorf("state: journal %s is damaged: %w", id, err)
			}
			parts[id] = append(parts[id], part...)
		case strings.HasPrefix(rest, "step/"):
			var s Step
			if json.Unmarshal(kv.Value, &s) != nil || s.ID == "" {
				continue
			}
			if steps[id] == nil {
				steps[id] = map[string]Step{}
			}
			steps[id][s.ID] = s
		}
	}
	out := make([]*Journal, 0, len(byID))
	for id, j := range byID {
		j.Changes = append(j.Changes, parts[id]...)
		for k, s := range steps[id] {
			j.Steps[k] = s
		}
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Started.Equal(out[b].Started) {
			return out[a].Started.Before(out[b].Started)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

// EndJournal implements Store.
func (e *Etcd) EndJournal(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, err := e.txn(ctx, nil, clientv3.OpDelete(e.key("journals", id)+"/", clientv3.WithPrefix())); err != nil {
		return fmt.Errorf("state: end journal %s: %w", id, err)
	}
	return nil
}

// ReleaseJournal implements Store: the header is read, then rewritten without the
// parents (or the journal deleted) in a transaction that holds only if the header is
// unchanged since; another writer's release in between makes it read again.
func (e *Etcd) ReleaseJournal(ctx context.Context, id string, parents []string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	hk := e.key("journals", id, "header")
	for {
		r, err := e.c.Get(ctx, hk)
		if err != nil {
			return false, fmt.Errorf("state: release journal %s: %w", id, err)
		}
		if len(r.Kvs) == 0 {
			return true, nil
		}
		var h JournalHeader
		if err := json.Unmarshal(r.Kvs[0].Value, &h); err != nil {
			return false, fmt.Errorf("state: journal %s is damaged: %w", id, err)
		}
		left := remainingParents(h, parents)
		var op clientv3.Op
		if len(left) == 0 {
			op = clientv3.OpDelete(e.key("journals", id)+"/", clientv3.WithPrefix())
		} else {
			h.Parents = left
			b, err := json.Marshal(h)
			if err != nil {
				return false, fmt.Errorf("state: release journal %s: %w", id, err)
			}
			op = clientv3.OpPut(hk, string(b))
		}
		ok, err := e.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(hk), "=", r.Kvs[0].ModRevision)}, op)
		if err != nil {
			return false, fmt.Errorf("state: release journal %s: %w", id, err)
		}
		if ok {
			return len(left) == 0, nil
		}
	}
}

// kvPrefix is one namespace's prefix; the namespace is escaped so that one
// namespace's prefix is never another's ("a" and "a/b").
func (e *Etcd) kvPrefix(ns string) string { return e.key("kv", url.PathEscape(ns)) + "/" }

// Get implements providers.State.
func (e *Etcd) Get(ctx context.Context, ns, key string) (string, bool, error) {
	if err := checkNS(ns); err != nil {
		return "", false, err
	}
	r, err := e.c.Get(ctx, e.kvPrefix(ns)+key)
	if err != nil {
		return "", false, fmt.Errorf("state: read %s %s: %w", ns, key, err)
	}
	if len(r.Kvs) == 0 {
		return "", false, nil
	}
	return string(r.Kvs[0].Value), true, nil
}

// List implements providers.State.
func (e *Etcd) List(ctx context.Context, ns string) (map[string]string, error) {
	if err := checkNS(ns); err != nil {
		return nil, err
	}
	pfx := e.kvPrefix(ns)
	r, err := e.c.Get(ctx, pfx, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("state: read %s: %w", ns, err)
	}
	out := make(map[string]string, len(r.Kvs))
	for _, kv := range r.Kvs {
		out[strings.TrimPrefix(string(kv.Key), pfx)] = string(kv.Value)
	}
	return out, nil
}

// Update implements providers.State: a compare-and-swap on the key's revision,
// retried when another writer got there first.
func (e *Etcd) Update(ctx context.Context, ns, key string, fn func(old string, ok bool) (string, bool)) (string, error) {
	if err := checkNS(ns); err != nil {
		return "", err
	}
	k := e.kvPrefix(ns) + key
	for {
		r, err := e.c.Get(ctx, k)
		if err != nil {
			return "", fmt.Errorf("state: update %s %s: %w", ns, key, err)
		}
		var old string
		var rev int64
		had := len(r.Kvs) > 0
		if had {
			old, rev = string(r.Kvs[0].Value), r.Kvs[0].ModRevision
		}
		v, del := fn(old, had)
		var op clientv3.Op
		switch {
		case del && !had, !del && had && v == old:
			return v, nil
		case del:
			op, v = clientv3.OpDelete(k), ""
		default:
			op = clientv3.OpPut(k, v)
		}
		ok, err := e.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", rev)}, op)
		if err != nil {
			return "", fmt.Errorf("state: update %s %s: %w", ns, key, err)
		}
		if ok {
			return v, nil
		}
	}
}

// Put implements providers.State.
func (e *Etcd) Put(ctx context.Context, ns string, values map[string]string) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	ops := make([]clientv3.Op, 0, len(values))
	for k, v := range values {
		ops = append(ops, clientv3.OpPut(e.kvPrefix(ns)+k, v))
	}
	if err := e.commit(ctx, ops); err != nil {
		return fmt.Errorf("state: write %s: %w", ns, err)
	}
	return nil
}

// Drop implements providers.State.
func (e *Etcd) Drop(ctx context.Context, ns string) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	if _, err := e.txn(ctx, nil, clientv3.OpDelete(e.kvPrefix(ns), clientv3.WithPrefix())); err != nil {
		return fmt.Errorf("state: drop %s: %w", ns, err)
	}
	return nil
}

// Lock implements Store: a concurrency.Mutex on its own session (lease), so a writer
// that dies or loses etcd loses the lock within the TTL, and breaking one lock
// (revoking its lease) touches no other. The holder is written beside it on the same
// lease, so it disappears with the lock.
//
// It tries once first, with a context of its own: a ctx already done (a lock wait of
// 0) means "do not wait", not "do not try".
func (e *Etcd) Lock(ctx context.Context, parent string) (Unlocker, error) {
	if err := checkID(parent); err != nil {
		return nil, fmt.Errorf("state: lock parent %q: not a valid node name", parent)
	}
	h := holderFor(ctx)
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), etcdOpTimeout)
	defer cancel()
	// The lease is granted here, within the bound, rather than by NewSession (whose
	// grant waits as long as the client lives).
	lease, err := e.c.Grant(opCtx, int64(e.ttl))
	if err != nil {
		return nil, fmt.Errorf("state: lock parent %s: %w", parent, err)
	}
	sess, err := concurrency.NewSession(e.c, concurrency.WithLease(lease.ID), concurrency.WithTTL(e.ttl))
	if err != nil {
		e.c.Revoke(opCtx, lease.ID) //nolint:errcheck // it expires anyway
		return nil, fmt.Errorf("state: lock parent %s: %w", parent, err)
	}
	m := concurrency.NewMutex(sess, e.key("locks", parent))
	err = m.TryLock(opCtx)
	if errors.Is(err, concurrency.ErrLocked) && ctx.Err() == nil {
		err = m.Lock(ctx)
	}
	if err != nil {
		sess.Close()
		if errors.Is(err, concurrency.ErrLocked) || ctx.Err() != nil {
			return nil, fmt.Errorf("parent %s: %w (%s)", parent, ErrLocked, e.describeHolder(parent))
		}
		return nil, fmt.Errorf("state: lock parent %s: %w", parent, err)
	}
	b, _ := json.Marshal(h)
	// Only while we still own the mutex: the holder never names someone who lost it.
	r, err := e.c.Txn(opCtx).If(m.IsOwner()).Then(clientv3.OpPut(e.key("holders", parent), string(b), clientv3.WithLease(sess.Lease()))).Commit()
	if err == nil && !r.Succeeded {
		err = errors.New("the lock was lost as it was taken")
	}
	if err != nil {
		sess.Close() // revokes the lease: the mutex key goes with it
		return nil, fmt.Errorf("state: lock parent %s: record the holder: %w", parent, err)
	}
	return &etcdLock{e: e, parent: parent, sess: sess, m: m}, nil
}

// etcdOpTimeout bounds one etcd request the store makes on its own behalf (taking a
// lock once, recording its holder, describing it): a cluster that does not answer
// is an error, not a hang.
const etcdOpTimeout = 5 * time.Second

func (e *Etcd) describeHolder(parent string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := e.c.Get(ctx, e.key("holders", parent))
	if err == nil && len(r.Kvs) == 0 {
		return "holder unknown"
	}
	var b []byte
	if err == nil {
		b = r.Kvs[0].Value
	}
	return describe(b, err)
}

type etcdLock struct {
	e      *Etcd
	parent string
	once   sync.Once
	sess   *concurrency.Session
	m      *concurrency.Mutex
}

// Lost is closed when the lock's lease is gone (expired, revoked, or etcd out of
// reach for longer than the TTL): the writer no longer holds the parent.
func (l *etcdLock) Lost() <-chan struct{} { return l.sess.Done() }

func (l *etcdLock) Unlock() error {
	var err error
	l.once.Do(func() {
		// Closing the session revokes the lease: the mutex key and the holder go with it.
		err = l.sess.Close()
	})
	if err != nil {
		return fmt.Errorf("state: unlock parent %s: %w", l.parent, err)
	}
	return nil
}
