package sandbox

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A parent's call to another node of the sandbox (the uapi_cpanel proxy to a mail
// child, link probes, distribution tasks, DNS cluster checks) is served in-process:
// the target node's own ServeHTTP runs on an in-memory request and answer. Over
// HTTPS each call cost a TLS record each way, an HTTP request parsed and an answer
// framed on both sides: 33,333 proxied calls made that 1.7 CPU-s of the sandbox's
// ≈11 per plan of the 100k fleet, on a machine the plan keeps CPU-bound.
//
// What a parent can observe of the call stays that of the HTTP path (remoteHTTP,
// which internal tests keep beside it to hold the two to the same answers):
//   - the request is the same form, path and Authorization header, answered by the
//     same handler: authentication, body limits, faults, refusals, call counts and
//     PeakInFlight are the target's own;
//   - the answer is the bytes the handler wrote, status included, decoded as those
//     read from the wire;
//   - an offline node (its port closed) refuses: "connection refused";
//   - a hung or slow node is given up after RemoteTimeout ("timed out"), and a call
//     its parent abandons ends ("canceled"), the handler seeing its request's
//     context end as it does behind net/http;
//   - a node going offline during a call drops it ("connection failed"), as closing
//     its connections does, and so does a handler that hangs up (hangUp);
//   - at most proxyConnsPerChild calls reach one node at once, more wait, as the
//     parent's transport bounds its connections per child; Traffic.Connections
//     counts a connection where the transport would have dialled one (no kept one
//     free: first use, idle past proxyIdleTimeout, or closed since).

// localConn is one of the connections a node's parents hold to it in-process.
type localConn struct {
	lastUsed time.Time // when it went idle
	gen      uint64    // the sandbox's idleGen when it went idle
}

// localPool bounds the in-process calls to one node as the parents' transport bounds
// its connections per child (proxyConnsPerChild), and keeps the idle ones as it
// does: the most recently used is taken first.
type localPool struct {
	sem  chan struct{}
	mu   sync.Mutex
	idle []*localConn
}

// get waits for a free connection: a kept one still open, or nil (one to dial).
func (p *localPool) get(ctx context.Context, gen uint64) (*localConn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		lc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if lc.gen == gen && time.Since(lc.lastUsed) <= proxyIdleTimeout {
			return lc, nil
		}
	}
	return nil, nil
}

// put gives back the connection a call used: kept for the next call, or closed.
func (p *localPool) put(lc *localConn, keep bool, gen uint64) {
	if keep {
		lc.lastUsed, lc.gen = time.Now(), gen
		p.mu.Lock()
		p.idle = append(p.idle, lc)
		p.mu.Unlock()
	}
	<-p.sem
}

// localConns is the node's localPool.
func (n *node) localConns() *localPool {
	n.localOnce.Do(func() {
		n.localPool = &localPool{sem: make(chan struct{}, proxyConnsPerChild)}
	})
	return n.localPool
}

// closeIdleConns is sb.client.CloseIdleConnections for both paths: kept connections
// (on the wire and in-process) are closed, the next call to each node dials.
func (sb *Sandbox) closeIdleConns() {
	sb.idleGen.Add(1)
	if sb.client != nil {
		sb.client.CloseIdleConnections()
	}
}

// errConnDropped is a call whose connection closed before its answer: the text of
// connErrText's fallback, "connection failed".
var errConnDropped = errors.New("connection dropped")

// localAnswer is what an in-process call was answered: the status and the bytes
// written, or, when the caller asked for it and the handler answered through
// writeJSON, the value it would have encoded (typed, body empty).
type localAnswer struct {
	status int
	body   []byte
	typed  any
}

// serveLocal answers a WHM API 1 call to n in-process, as remoteHTTP would over the
// wire: status and body, or the error net/http's client would have returned (which
// connErrText words). body is the url-encoded form, auth the Authorization header.
// With typed, an answer writeJSON would have encoded is handed back unencoded: a
// parent that only relays it (proxyUAPI) skips the child's encoding and its own
// decoding; one that cannot use it encodes it as writeJSON would (localAnswer.bytes).
//
// The form reaches the target parsed (req.Form), as its ParseForm would have read
// it from form.Encode(), a round trip that changes nothing: parsing it cost the
// child more than answering a forwarder read. A form larger than the target reads
// (maxBody), or with a key without values (which the round trip drops), is sent
// as its bytes, for the target to parse, or refuse, as it does.
func (n *node) serveLocal(ctx context.Context, fn string, form url.Values, auth string, typed bool) (localAnswer, error) {
	if err := ctx.Err(); err != nil {
		return localAnswer{}, err // a client does not send a call already given up
	}
	pool := n.localConns()
	lc, err := pool.get(ctx, n.sb.idleGen.Load())
	if err != nil {
		return localAnswer{}, err
	}
	kept := false
	defer func() { pool.put(lc, kept, n.sb.idleGen.Load()) }()
	cctx, drop := context.WithCancelCause(ctx)
	defer drop(nil)
	n.lnMu.Lock()
	if n.ln == nil {
		// The port is closed: offline, or the sandbox closing.
		n.lnMu.Unlock()
		return localAnswer{}, errors.New("connection refused")
	}
	if lc == nil {
		lc = &localConn{}
		n.traffic.connected()
	}
	n.local[lc] = func() { drop(errConnDropped) }
	n.lnMu.Unlock()
	defer func() {
		n.lnMu.Lock()
		delete(n.local, lc)
		n.lnMu.Unlock()
	}()

	body, parsed := "", formRoundTrips(form)
	if !parsed {
		body = form.Encode()
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, "/json-api/"+fn, strings.NewReader(body))
	if err != nil {
		return localAnswer{}, err
	}
	req.Host = n.addr
	req.RemoteAddr = "127.0.0.1:0"
	req.Header = n.localHeader(auth)
	if parsed {
		req.PostForm, req.Form = form, form
	}
	w := &memResponse{keepTyped: typed}
	aborted := n.serveRecovering(w, req)
	if cause := context.Cause(cctx); cause != nil {
		// Dropped by the node going offline, given up (RemoteTimeout) or abandoned
		// by the parent: whatever the handler wrote is not read.
		return localAnswer{}, cause
	}
	if aborted {
		// The handler hung up without an answer: the client reads the connection
		// closing.
		return localAnswer{}, errConnDropped
	}
	if w.status == 0 {
		w.status = http.StatusOK // a handler that wrote nothing: net/http's empty 200
	}
	kept = true
	return localAnswer{status: w.status, body: w.body.Bytes(), typed: w.typed}, nil
}

// localHeaders is the header of in-process calls to a node with one Authorization
// value, made once and shared: a caller's calls carry the same value (its client
// makes it once), and the handler only reads a request's header (authenticate,
// ParseForm). A map and two lists were made for every proxied forwarder read.
type localHeaders struct {
	auth string
	h    http.Header
}

// localHeader is the header of an in-process call sent with auth.
func (n *node) localHeader(auth string) http.Header {
	if lh := n.localHdr.Load(); lh != nil && lh.auth == auth {
		return lh.h
	}
	// The keys are canonical already (Header.Set canonicalises them).
	lh := &localHeaders{auth: auth, h: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {auth}}}
	n.localHdr.Store(lh)
	return lh.h
}

// bytes turns a typed answer into the status and body writeJSON would have sent
// (an answer that does not encode is its HTTP 500); others are left as they are.
func (a *localAnswer) bytes() {
	if a.typed == nil {
		return
	}
	body, err := encodeAnswer(a.typed)
	a.typed = nil
	if err != nil {
		a.status, a.body = http.StatusInternalServerError, []byte("Internal Server Error\n")
		return
	}
	a.body = body
}

// serveRecovering runs n's handler and reports whether it hung up (hangUp panics
// with http.ErrAbortHandler, which net/http turns into a closed connection).
func (n *node) serveRecovering(w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v) // ServeHTTP answers any other panic itself
			}
			aborted = true
		}
	}()
	n.ServeHTTP(w, r)
	return false
}

// dropLocal drops the in-process calls in flight to n, as closing its connections
// does to those on the wire. Callers hold n.lnMu.
func (n *node) dropLocal() {
	for _, drop := range n.local {
		drop()
	}
}

// memResponse is the answer of an in-process call. With keepTyped, writeJSON
// leaves the value it was given in typed instead of encoding it.
type memResponse struct {
	header    http.Header
	status    int
	body      bytes.Buffer
	keepTyped bool
	typed     any
}

func (w *memResponse) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{} // most in-process answers set none
	}
	return w.header
}

// formRoundTrips reports whether parsing form.Encode() gives form back and its
// bytes are within what a node reads of a body (maxBody): every key has a value,
// and the encoded length, counted as url.QueryEscape escapes (letters, digits and
// -_.~ as they are, a space as +, any other byte as %XX), with = and & between,
// is at most maxBody.
func formRoundTrips(form url.Values) bool {
	size := 0
	escaped := func(s string) int {
		n := len(s)
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				continue
			}
			switch c {
			case '-', '_', '.', '~', ' ':
				continue
			}
			n += 2
		}
		return n
	}
	pairs := 0
	for k, vs := range form {
		if len(vs) == 0 {
			return false
		}
		ek := escaped(k)
		for _, v := range vs {
			size += ek + 1 + escaped(v)
			pairs++
		}
	}
	if pairs > 0 {
		size += pairs - 1
	}
	return size <= maxBody
}

func (w *memResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *memResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}
