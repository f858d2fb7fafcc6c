// Package sandbox runs a simulated cPanel & WHM fleet on loopback: one HTTP server per
// node speaking WHM API 1 as ../../../shared/whm-api.md describes it, linked nodes with
// their refusals and proxying, distributed mail, and persistent state, so providers can
// be tested against something they cannot tell from a real server.
//
// The WHM API lives in the fn_*.go files; everything a test or the command line uses to
// drive or inspect the sandbox from outside (faults, mail, sessions) is in inspect.go
// and faults.go and never reachable through /json-api.
package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/schema"
)

// Options configure Start.
type Options struct {
	// StateDir holds the persistent state and endpoints.json. Required.
	StateDir string
	// Fleet, when set, creates blank servers for its nodes that do not exist yet.
	Fleet *schema.Fleet
	// Faults to inject from the start, by node name.
	Faults map[string]Faults
	Logger *slog.Logger
	// TaskDelay is how long background tasks (profile activation, distribution) take.
	// Zero means 2s, like a small real conversion; tests use a few milliseconds.
	TaskDelay time.Duration
	// RemoteTimeout bounds one parent→child call. Zero means 10s.
	RemoteTimeout time.Duration
	// FlushInterval is how often changed state is written. Zero means 200ms.
	FlushInterval time.Duration
	// DNSSyncInterval is how often every DNS cluster is fully replicated (changes
	// are pushed at once anyway). Zero means 5s.
	DNSSyncInterval time.Duration
	// PlainHTTP serves WHM over plain HTTP instead of HTTPS (a real server's port
	// 2086). By default each node serves HTTPS with its own self-signed certificate,
	// as a real server does until its host name has a signed one.
	PlainHTTP bool
	// DNSKeys are TSIG keys (name → base64 secret) every node's nameserver requires
	// for UPDATE and AXFR; none means unsigned UPDATE and AXFR are accepted.
	DNSKeys map[string]string

	// remoteOverHTTP sends calls between nodes over HTTP(S) instead of in-process
	// (inproc.go); internal tests set it to hold both paths to the same answers.
	remoteOverHTTP bool
}

// Endpoints is the content of endpoints.json: how to reach each node.
type Endpoints struct {
	Nodes map[string]Endpoint `json:"nodes"`
}

// Endpoint is one node's addresses and root credentials. Token is a secret.
type Endpoint struct {
	WHM   string `json:"whm"`
	DNS   string `json:"dns"`
	User  string `json:"user"`
	Token string `json:"token"`
	// Fingerprint is the SHA-256 of the node's certificate ("sha256:HEX") and CAFile
	// the certificate itself (PEM): either pins it. Empty with PlainHTTP.
	Fingerprint string `json:"fingerprint,omitempty"`
	CAFile      string `json:"caFile,omitempty"`
}

// Sandbox is a running simulated fleet.
type Sandbox struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	tasks  sync.WaitGroup
	client *http.Client
	// idleGen counts closeIdleConns calls: an in-process connection kept from
	// before one is closed (inproc.go).
	idleGen atomic.Uint64

	mu    sync.RWMutex
	nodes map[string]*node // by node name
	// addrs resolves a host name or an IPv4 address to its node (nodeByHost). A
	// node's host and address are fixed for the sandbox's life (no function it
	// models renames a server or changes its main address), so the index is built
	// once at Start; indexAddrs rebuilds it should that change.
	addrs  map[string]*node
	closed bool
}

// node is one simulated server: its state, its HTTP server and its faults.
type node struct {
	sb   *Sandbox
	name string

	mu sync.Mutex // guards st
	st *nodeState

	localHdr atomic.Pointer[localHeaders] // the last in-process calls' header (localHeader)

	dirty   bool // guarded by mu
	writeMu sync.Mutex

	srv   *http.Server
	cert  *tls.Certificate // nil with PlainHTTP
	addr  string           // 127.0.0.1:PORT, kept across offline periods
	lnMu  sync.Mutex
	ln    net.Listener
	conns map[net.Conn]http.ConnState // guarded by lnMu
	// held keeps the node's WHM and DNS addresses while it is offline (hold_linux.go);
	// guarded by lnMu.
	held []*heldAddr
	// local holds the in-process calls in flight to the node and how to drop each
	// (inproc.go); guarded by lnMu.
	local     map[*localConn]func()
	localOnce sync.Once
	localPool *localPool
	faultsMu  sync.Mutex
	faults    Faults
	dns       zoneServer

	callsMu sync.Mutex
	calls   map[string]int // authenticated API calls served, by function (tests count them)
	traffic traffic
}

// Start loads the state in opts.StateDir, creates the fleet's missing nodes, starts one
// HTTP server per node on 127.0.0.1 and writes endpoints.json. ctx bounds the start
// only: the sandbox runs until Close. A node already in the state keeps its saved
// host, address and version even if the fleet now says otherwise (it is an existing
// server).
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.StateDir == "" {
		return nil, errors.New("sandbox: no state folder given")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TaskDelay == 0 {
		opts.TaskDelay = 2 * time.Second
	}
	if opts.RemoteTimeout == 0 {
		opts.RemoteTimeout = 10 * time.Second
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.DNSSyncInterval == 0 {
		opts.DNSSyncInterval = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(opts.StateDir, "nodes"), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: state folder: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	sb := &Sandbox{
		opts: opts, log: opts.Logger, ctx: sctx, cancel: cancel,
		nodes:  map[string]*node{},
		client: &http.Client{Transport: proxyTransport(nil)},
	}
	states, err := loadStates(opts.StateDir)
	if err != nil {
		cancel()
		return nil, err
	}
	loaded := map[string]bool{}
	for name := range states {
		loaded[name] = true
	}
	if opts.Fleet != nil {
		for _, name := range slices.Sorted(maps.Keys(opts.Fleet.Nodes)) {
			if _, ok := states[name]; ok {
				continue
			}
			fn := opts.Fleet.Nodes[name]
			if fn == nil {
				continue
			}
			st, err := blankServer(name, fn)
			if err != nil {
				cancel()
				return nil, err
			}
			states[name] = st
		}
	}
	// A node's name becomes its state file's name: only a valid link alias (letters,
	// digits, "_" and "-") is ever joined into a path.
	for _, name := range slices.Sorted(maps.Keys(states)) {
		if p := schema.LinkAliasProblem(name); p != "" {
			cancel()
			return nil, fmt.Errorf("sandbox: node name %q %s (TETHER-L10); nothing was served or written", name, p)
		}
	}
	hosts := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(states)) {
		h := states[name].Host
		if other, dup := hosts[h]; dup {
			cancel()
			return nil, fmt.Errorf("sandbox: nodes %s and %s have the same host name %s: host names resolve nodes, so each must be unique", other, name, h)
		}
		hosts[h] = name
	}
	for _, name := range slices.Sorted(maps.Keys(states)) {
		// A node read from its file is already saved; rewriting 10k accounts and their
		// zones per parent at every start made each sandboxed command pay for it.
		n := &node{sb: sb, name: name, st: states[name], conns: map[net.Conn]http.ConnState{}, local: map[*localConn]func(){}, dirty: !loaded[name]}
		if f, ok := opts.Faults[name]; ok {
			n.faults = f
		}
		sb.nodes[name] = n
	}
	sb.indexAddrs()
	// Nodes start in parallel: each parses its saved zones (10k accounts' worth on a
	// large parent), which is most of a start and shares nothing between nodes.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, name := range slices.Sorted(maps.Keys(sb.nodes)) {
		n := sb.nodes[name]
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("sandbox: start: %w", err)
			}
			if err := n.start(); err != nil {
				return fmt.Errorf("sandbox: node %s: %w", name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		_ = sb.Close()
		return nil, err
	}
	if !opts.PlainHTTP {
		// Parents reach children over HTTPS and trust them, as a parent trusts a child
		// whose host name has a valid certificate (tls_verified 1).
		var fps []string
		for _, n := range sb.nodes {
			fps = append(fps, Fingerprint(n.cert.Certificate[0]))
		}
		conf := pinnedTLS(fps...)
		conf.CurvePreferences = whmCurves
		sb.client = &http.Client{Transport: proxyTransport(conf)}
	}
	if err := sb.flushAll(); err != nil {
		_ = sb.Close()
		return nil, err
	}
	if err := sb.writeEndpoints(); err != nil {
		_ = sb.Close()
		return nil, err
	}
	sb.tasks.Add(2)
	go sb.flusher()
	go sb.dnsSyncLoop()
	for _, n := range sb.nodes {
		n.resumeTasks()
	}
	return sb, nil
}

// blankServer is a fresh install of a fleet node.
func blankServer(name string, fn *schema.Node) (*nodeState, error) {
	if fn.Host == "" {
		return nil, fmt.Errorf("sandbox: node %s: no host name", name)
	}
	major := fn.Version
	if major == 0 {
		major = 118
	}
	ipv4 := fn.IPv4
	if ipv4 == "" {
		// Every server has an address of its own: WHM keys DNS cluster members by
		// it, so two nodes sharing one would be one member (and a cyclic trust).
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		ipv4 = fmt.Sprintf("198.51.100.%d", 1+h.Sum32()%254)
	}
	return newNodeState(name, fn.Host, ipv4, fmt.Sprintf("11.%d.0.%d", major, 1+len(name)%30)), nil
}

func (n *node) start() error {
	n.srv = &http.Server{
		Handler:           n,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				n.traffic.connected()
			}
			n.lnMu.Lock()
			defer n.lnMu.Unlock()
			switch s {
			case http.StateClosed, http.StateHijacked:
				delete(n.conns, c)
			default:
				n.conns[c] = s
			}
		},
		// Handshake failures (a client that does not trust the certificate, plain
		// HTTP sent to HTTPS) are the client's to report; keep them at debug.
		ErrorLog: slog.NewLogLogger(n.sb.log.Handler(), slog.LevelDebug),
	}
	if !n.sb.opts.PlainHTTP {
		n.mu.Lock()
		host := n.st.Host
		n.mu.Unlock()
		c, err := nodeCert(n.sb.opts.StateDir, n.name, host)
		if err != nil {
			return err
		}
		n.cert = &c
	}
	ln, err := n.listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	n.addr = ln.Addr().String()
	if err := n.startDNS(); err != nil {
		ln.Close()
		return err
	}
	n.lnMu.Lock()
	n.ln = ln
	n.lnMu.Unlock()
	go func() { _ = n.srv.Serve(ln) }()
	if n.currentFaults().Offline {
		n.setOffline(true)
	}
	return nil
}

// listen opens the node's WHM port: TLS with the node's certificate, or plain HTTP.
func (n *node) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || n.cert == nil {
		return ln, err
	}
	return tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*n.cert}, CurvePreferences: whmCurves}), nil
}

// Bounds of the parent→child proxy's connections. A parent keeps its connections to
// each child open and reuses them, as cpsrvd's own client does with keep-alive: a
// fresh TCP and TLS handshake per proxied call made a 100k-account apply over 1,000
// parents fail calls with "connection failed" (ports and descriptors ran out, and
// the handshakes took the CPU). The per-child bound keeps descriptors bounded: at most
// proxyConnsPerChild per child however many calls are in flight; more calls wait
// for a connection.
const (
	proxyConnsPerChild = 16
	proxyIdlePerChild  = 16
	proxyIdleTimeout   = 30 * time.Second
)

func proxyTransport(tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     tlsConf,
		MaxConnsPerHost:     proxyConnsPerChild,
		MaxIdleConnsPerHost: proxyIdlePerChild,
		MaxIdleConns:        0, // no overall cap: the per-child one bounds it
		IdleConnTimeout:     proxyIdleTimeout,
		ForceAttemptHTTP2:   false,
	}
}

// scheme is how the node's WHM is reached.
func (n *node) scheme() string {
	if n.cert == nil {
		return "http"
	}
	return "https"
}

// setOffline closes the listener (connections are refused) and stops DNS, or opens
// both again on the same ports.
func (n *node) setOffline(off bool) {
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	if off {
		if n.ln != nil {
			n.ln.Close()
			n.ln = nil
		}
		for c := range n.conns {
			c.Close()
		}
		n.dropLocal()
		// Parents must not find a kept connection to it: their next call dials, and
		// is refused, as a call to a server that went down is.
		n.sb.closeIdleConns()
		n.stopDNS()
		n.holdAddrs()
		return
	}
	n.releaseAddrs()
	n.restartDNS()
	if n.ln != nil {
		return
	}
	// A connection to it that a parent's transport put back in its pool after the
	// drop above (the transport returns a connection once the answer is read, on a
	// goroutine of its own) is dead: closed now, the next call dials instead of
	// failing with "connection failed" (TestDistributionChildOffline, under load).
	n.sb.closeIdleConns()
	ln, err := n.listen(n.addr)
	if err != nil {
		n.sb.log.Error("sandbox: node back online", "node", n.name, "err", err)
		return
	}
	n.ln = ln
	go func() { _ = n.srv.Serve(ln) }()
}

// holdAddrs keeps the offline node's addresses from other processes until it comes
// back (holdAddr). Callers hold n.lnMu.
func (n *node) holdAddrs() {
	n.releaseAddrs()
	for _, a := range []struct {
		addr string
		udp  bool
	}{{n.addr, false}, {n.dns.addr, false}, {n.dns.addr, true}} {
		if a.addr == "" {
			continue
		}
		h, err := holdAddr(a.addr, a.udp)
		if err != nil {
			// Taken in the instant between closing it and holding it: the node may
			// not get it back, which coming online logs.
			n.sb.log.Warn("sandbox: node offline: its address is not held", "node", n.name, "err", err)
			continue
		}
		n.held = append(n.held, h)
	}
}

// releaseAddrs gives the held addresses back for the node to bind. Callers hold
// n.lnMu.
func (n *node) releaseAddrs() {
	for _, h := range n.held {
		h.release()
	}
	n.held = nil
}

// Endpoints returns how to reach every node.
func (sb *Sandbox) Endpoints() Endpoints {
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	eps := Endpoints{Nodes: map[string]Endpoint{}}
	for name, n := range sb.nodes {
		n.mu.Lock()
		tok := n.st.RootToken
		n.mu.Unlock()
		ep := Endpoint{WHM: n.scheme() + "://" + n.addr, DNS: n.dnsAddr(), User: "root", Token: tok}
		if n.cert != nil {
			ep.Fingerprint = Fingerprint(n.cert.Certificate[0])
			ep.CAFile = certFile(sb.opts.StateDir, name)
		}
		eps.Nodes[name] = ep
	}
	return eps
}

// Close stops every server and background task and writes the state.
func (sb *Sandbox) Close() error {
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		return nil
	}
	sb.closed = true
	sb.mu.Unlock()
	sb.cancel()
	for _, n := range sb.nodes {
		n.lnMu.Lock()
		if n.ln != nil {
			n.ln.Close()
			n.ln = nil
		}
		n.stopDNS()
		n.releaseAddrs()
		// Shutdown treats a connection that never carried a request as busy for its
		// first 5 s, and clients' transports often dial one more than they use: every
		// Close then waited out its 2 s timeout. Nothing will be served on those.
		for c, s := range n.conns {
			if s == http.StateNew || s == http.StateIdle {
				c.Close()
			}
		}
		n.lnMu.Unlock()
		if n.srv != nil { // nil when Start failed before this node started
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = n.srv.Shutdown(ctx)
			cancel()
		}
	}
	sb.tasks.Wait()
	sb.closeIdleConns()
	if err := sb.flushAll(); err != nil {
		return err
	}
	_ = os.Remove(pidFile(sb.opts.StateDir))
	return nil
}

// nodeByName returns a node, or nil.
func (sb *Sandbox) nodeByName(name string) *node {
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	return sb.nodes[name]
}

// nodeByHost resolves a host name to a node in-process, as DNS would for a real
// fleet; an IPv4 address finds the node that has it (a DNS cluster keeps its
// members by address). It reads the index only: scanning every node and locking
// each one's state per proxied parent→child call cost 9.1 CPU-s of a 60k apply
// on 2,000 nodes, and waited behind whichever node was busy.
func (sb *Sandbox) nodeByHost(host string) *node {
	key := addrKey(host)
	sb.mu.RLock()
	defer sb.mu.RUnlock()
	return sb.addrs[key]
}

// addrKey is how nodeByHost compares names: DNS names are case-insensitive and a
// trailing dot (the root) names the same host.
func addrKey(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// indexAddrs rebuilds the host and address index from every node's state. A host
// name is unique (Start refuses two nodes with one); when several nodes share an
// IPv4 address, the address finds the one whose name sorts first, and a host name
// always wins over an address that happens to be spelled the same.
func (sb *Sandbox) indexAddrs() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	addrs := make(map[string]*node, 2*len(sb.nodes))
	names := slices.Sorted(maps.Keys(sb.nodes))
	for _, name := range names {
		n := sb.nodes[name]
		n.mu.Lock()
		ip := n.st.IPv4
		n.mu.Unlock()
		if k := addrKey(ip); k != "" {
			if _, taken := addrs[k]; !taken {
				addrs[k] = n
			}
		}
	}
	for _, name := range names {
		n := sb.nodes[name]
		n.mu.Lock()
		h := n.st.Host
		n.mu.Unlock()
		if k := addrKey(h); k != "" {
			addrs[k] = n
		}
	}
	sb.addrs = addrs
}

// markDirty records that n.st changed; the flusher writes it soon. Callers hold n.mu.
func (n *node) markDirty() { n.dirty = true }

// majorOf returns the major of a "11.MAJOR.x.y" version, or 0.
func majorOf(v string) int {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0
	}
	m, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0
	}
	return m
}
