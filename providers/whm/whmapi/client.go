// Package whmapi is an HTTP client for WHM API 1: token authentication, the JSON
// envelope, typed errors, lenient decoding, TLS verification and retries. One Client
// talks to one node. It knows nothing of the fleet model; the whm provider maps its
// answers onto schema types.
package whmapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/providers"
)

// Options tune a Client. The zero value gives the defaults.
type Options struct {
	// CallTimeout bounds one HTTP attempt (default 2 minutes: listaccts of a large
	// parent is slow). The caller's context bounds the whole call, retries included.
	CallTimeout time.Duration
	// Attempts is the most attempts per call (default 4).
	Attempts int
	// BaseDelay and MaxDelay shape the exponential backoff (defaults 250 ms, 8 s).
	BaseDelay, MaxDelay time.Duration
	// MaxBody caps a response body (default 256 MiB) so a runaway answer cannot
	// exhaust memory.
	MaxBody int64
	// Transport replaces the HTTP transport (tests); TLS settings are then ignored.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Secrets are further strings to keep out of errors and logs: the tokens of other
	// nodes this client sends (a child's token when linking it, a nameserver's when
	// adding it to the DNS cluster), which a server may quote back.
	Secrets []string
	// SharedSecrets are more such strings, prepared once (NewSecretSet) for every
	// client of a fleet: the provider keeps every node's token out of every client's
	// reports, and 1,000 clients each escaping and holding 1,000 tokens was 100 MB
	// of a plan's heap.
	SharedSecrets *SecretSet
	// OnCall, when set, is told every function called and the parameter names sent.
	// Tests use it to check calls against the official function list.
	OnCall func(function string, params url.Values)
	// OnDecode, when set, is told every Go value a function's data is decoded into.
	// Tests use it to hold every field the provider reads against the reference.
	OnDecode func(function string, out any)
}

// SecretSet is a list of strings to redact with their URL-escaped forms, built once
// and shared read-only by any number of clients.
type SecretSet struct {
	redacts []string
}

// NewSecretSet prepares secrets for redaction; empty strings are dropped.
func NewSecretSet(secrets []string) *SecretSet {
	s := &SecretSet{redacts: make([]string, 0, 2*len(secrets))}
	for _, t := range secrets {
		if t != "" {
			s.redacts = append(s.redacts, t, url.QueryEscape(t))
		}
	}
	return s
}

// Client speaks WHM API 1 to one node.
type Client struct {
	node    string
	base    *url.URL
	user    string
	token   string
	http    *http.Client
	opts    Options
	log     *slog.Logger
	warned  sync.Once
	secure  bool
	redacts []string
	shared  *SecretSet
	auth    string // the Authorization header's value: "whm USER:TOKEN"
}

// New builds the client for one node from its endpoint. It fails on a bad URL or an
// unreadable CA file; it makes no request.
func New(node string, ep providers.Endpoint, opts Options) (*Client, error) {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 2 * time.Minute
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 250 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 8 * time.Second
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if ep.URL == "" {
		return nil, fmt.Errorf("node %s: no WHM API URL", node)
	}
	u, err := url.Parse(strings.TrimRight(ep.URL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("node %s: WHM API URL %q is not http(s)://HOST[:PORT]", node, ep.URL)
	}
	if ep.User == "" {
		return nil, fmt.Errorf("node %s: no WHM user in the credentials", node)
	}
	if ep.Token == "" {
		return nil, fmt.Errorf("node %s: user %q has no API token (set tokenEnv or tokenFile)", node, ep.User)
	}
	c := &Client{node: node, base: u, user: ep.User, token: ep.Token, opts: opts, log: opts.Logger,
		auth: "whm " + ep.User + ":" + ep.Token}
	c.redacts = append([]string{ep.Token, url.QueryEscape(ep.Token)}, NewSecretSet(opts.Secrets).redacts...)
	c.shared = opts.SharedSecrets
	rt := opts.Transport
	if rt == nil {
		tr, err := transport(node, u.String(), ep)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	c.secure = !ep.Insecure
	c.http = &http.Client{
		Transport: rt,
		// WHM never redirects API calls; a redirect means a login page or a proxy, and
		// following it could send the Authorization header elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// CloseIdleConnections closes the client's idle connections to the node.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Node names the node this client talks to.
func (c *Client) Node() string { return c.node }

// Envelope is the top level of every WHM API 1 answer.
type Envelope struct {
	Metadata Metadata        `json:"metadata"`
	Data     json.RawMessage `json:"data"`
}

// Metadata is the envelope's metadata.
type Metadata struct {
	Command string     `json:"command"`
	Version FlexInt    `json:"version"`
	Result  FlexBool   `json:"result"`
	Reason  FlexString `json:"reason"`
	// metadata.output (raw, messages, warnings) is documented for a few functions
	// only and Tether needs none of it: it is not read.
}

type typedData struct {
	Type   string          `json:"type"`
	Detail json.RawMessage `json:"detail"`
}

// Kind says how a call may be retried.
type Kind int

const (
	// Read changes nothing: retried on transport errors and 5xx. Sent as GET.
	Read Kind = iota
	// Idempotent changes something, but running it twice leaves the same state
	// (setacls, setminimumpasswordstrengths): retried like a read. Sent as POST.
	Idempotent
	// Once must not run twice (createacct, link, modifyacct that starts a task): retried
	// only when the request provably never reached the server. Sent as POST.
	Once
)

// Call runs a WHM API 1 function and decodes data into out (which may be nil).
// Params must not include api.version; it is always added.
func (c *Client) Call(ctx context.Context, kind Kind, function string, params url.Values, out any) (*Envelope, error) {
	return c.do(ctx, kind, "/json-api/"+url.PathEscape(function), function, params, true, out)
}

// Form posts (or, for reads, GETs) a WHM screen such as /cgi/adjustclusterdns.cgi
// with the same authentication and returns the body. WHM's DNS cluster has no JSON
// API, so these answer HTML.
func (c *Client) Form(ctx context.Context, kind Kind, path string, params url.Values) (string, error) {
	env, err := c.do(ctx, kind, path, path, params, false, nil)
	if err != nil {
		return "", err
	}
	return string(env.Data), nil
}

func (c *Client) do(ctx context.Context, kind Kind, path, function string, params url.Values, isJSON bool, out any) (*Envelope, error) {
	if c.opts.OnCall != nil {
		c.opts.OnCall(function, params)
	}
	if !c.secure {
		c.warned.Do(func() {
			c.log.Warn("TLS verification is OFF for this node (tls.insecure: true): its identity is not checked and the API token could be sent to an impostor",
				"node", c.node)
		})
	}
	// The one retry policy (providers.RetryPolicy), in this layer for calls: a
	// transient failure is tried again unless the call must not run twice and the
	// request may have reached the server (a retry could create twice: createacct);
	// then the caller must look before trying again, and the engine's change retry,
	// which checks first, does. What this layer gave up on is marked
	// providers.ErrRetried, so nothing above retries it again.
	var reached bool
	policy := providers.RetryPolicy{Attempts: c.opts.Attempts, Initial: c.opts.BaseDelay, Max: c.opts.MaxDelay}
	env, err := providers.Retry(ctx, policy, func() (*Envelope, error) {
		var env *Envelope
		var err error
		env, reached, err = c.attempt(ctx, kind, path, function, params, isJSON, out)
		return env, err
	}, func(error) bool { return kind != Once || !reached }, func(err error, attempt int, delay time.Duration) {
		c.log.Debug("retrying WHM call", "node", c.node, "function", function, "attempt", attempt, "delay", delay, "error", err.Error())
	})
	var stopped *providers.RetryStopped
	if errors.As(err, &stopped) {
		return nil, fmt.Errorf("node %s: %s: %w", c.node, function, err)
	}
	return env, err
}

// attempt makes one HTTP request. reached says whether the request may have reached
// the server (it was at least partly written).
func (c *Client) attempt(ctx context.Context, kind Kind, path, function string, params url.Values, isJSON bool, out any) (env *Envelope, reached bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	// The trace says whether the request was (at least partly) written; the request
	// is made with it, not copied onto it afterwards (WithContext copies).
	var wrote atomic.Bool
	tctx := httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	var req *http.Request
	if kind == Read {
		q := make(url.Values, len(params)+1)
		for k, v := range params {
			q[k] = v
		}
		if isJSON {
			q.Set("api.version", "1")
		}
		// The query is set on the parsed URL, not written into the string parsed: a
		// batch's query is tens of kilobytes, copied into the string and scanned
		// again by url.Parse, which keeps it as it is (it holds no control byte:
		// encodeQuery escapes them).
		query := encodeQuery(q)
		req, err = http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
		if req != nil {
			req.URL.RawQuery = query
		}
	} else {
		// Writes go in a form body: secrets (a child's API token) stay out of URLs,
		// which proxies and access logs record. The body is params as they are
		// (api.version, which callers never pass, goes in the URL), without the
		// copy a read's query needs.
		q := params
		if _, ok := params["api.version"]; ok && isJSON {
			q = maps.Clone(params)
			delete(q, "api.version")
		}
		if isJSON {
			u.RawQuery = "api.version=1"
		}
		req, err = http.NewRequestWithContext(tctx, http.MethodPost, u.String(), strings.NewReader(encodeQuery(q)))
		if req != nil {
			req.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("node %s: %s: build request: %v", c.node, function, c.redact(err.Error()))
	}
	req.Header["Authorization"] = []string{c.auth}
	req.Header["Accept"] = []string{"application/json"}
	resp, err := c.http.Do(req)
	reached = wrote.Load()
	if err != nil {
		return nil, reached, c.transportError(ctx, function, err)
	}
	defer resp.Body.Close()
	buf := getBodyBuffer(resp.ContentLength, c.opts.MaxBody)
	defer putBodyBuffer(buf)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.opts.MaxBody+1)); err != nil {
		return nil, true, c.transportError(ctx, function, fmt.Errorf("reading the answer: %w", err))
	}
	// body is the pooled buffer's: everything kept past this call is copied out of
	// it (encoding/json copies strings and RawMessages; snippets and a screen's
	// text are converted to strings).
	body := buf.Bytes()
	if int64(len(body)) > c.opts.MaxBody {
		return nil, true, &DecodeError{Node: c.node, Function: function, Err: fmt.Errorf("answer larger than %d bytes", c.opts.MaxBody)}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, true, &AuthError{Node: c.node, User: c.user, Function: function, Status: resp.StatusCode}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, true, &HTTPError{Node: c.node, Function: function, Status: resp.StatusCode,
			Snippet: "redirected (to a login page?): check the URL and port (2087 for WHM)"}
	case resp.StatusCode != http.StatusOK:
		return nil, true, &HTTPError{Node: c.node, Function: function, Status: resp.StatusCode, Snippet: c.snippet(body)}
	}
	if !isJSON {
		return &Envelope{Data: bytes.Clone(body)}, true, nil
	}
	env, err = c.decode(function, body, out)
	if err != nil {
		return env, true, err
	}
	return env, true, nil
}

// bodyPool holds the buffers answers are read into: read with io.ReadAll, each
// answer grew a new buffer by doubling (cleared and copied at each step), the
// plan of a large fleet reading thousands of them at once.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody is the largest buffer kept for reuse: a rare huge listaccts is not
// worth holding on to between plans.
const maxPooledBody = 4 << 20

// getBodyBuffer returns an empty buffer with room for an answer of length n (as
// Content-Length gives it, -1 when unknown) plus the byte that tells it exceeds
// limit.
func getBodyBuffer(n, limit int64) *bytes.Buffer {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	if n >= 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead)
	}
	return buf
}

func putBodyBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		bodyPool.Put(buf)
	}
}

// decode reads the envelope and, in the same pass, data into out (when not nil):
// listaccts of a large parent is tens of megabytes, worth scanning once.
func (c *Client) decode(function string, body []byte, out any) (*Envelope, error) {
	if bd, ok := out.(*batchDecode); ok {
		return c.decodeBatch(function, body, bd)
	}
	env, derr, err := c.decodeEnvelope(function, body, out)
	if err != nil {
		return env, err
	}
	if derr != nil {
		return env, &DecodeError{Node: c.node, Function: function, Err: fmt.Errorf("data: %s", c.redact(derr.Error()))}
	}
	return env, nil
}

// decodeEnvelope is decode but for data out cannot hold, which it returns apart
// (derr) for the caller to report.
func (c *Client) decodeEnvelope(function string, body []byte, out any) (env *Envelope, derr, err error) {
	env = &Envelope{}
	if out == nil {
		derr = json.Unmarshal(body, env)
	} else {
		if c.opts.OnDecode != nil {
			c.opts.OnDecode(function, out)
		}
		w := struct {
			Metadata Metadata `json:"metadata"`
			Data     any      `json:"data"`
		}{Data: out}
		derr = json.Unmarshal(body, &w)
		env.Metadata = w.Metadata
	}
	var syn *json.SyntaxError
	if errors.As(derr, &syn) {
		return nil, nil, &DecodeError{Node: c.node, Function: function, Err: errors.New(c.redact(derr.Error())), Snippet: c.snippet(body)}
	}
	if env.Metadata.Command == "" && env.Metadata.Version.N == 0 && !bool(env.Metadata.Result) {
		return nil, nil, &DecodeError{Node: c.node, Function: function, Err: errors.New("no metadata"), Snippet: c.snippet(body)}
	}
	if !env.Metadata.Result {
		// A failure's data is {type, detail} (or absent), whatever out expected.
		ae := &APIError{Node: c.node, Function: function, Reason: c.redact(string(env.Metadata.Reason))}
		var td struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(body, &td) == nil {
			env.Data = td.Data
			var t typedData
			if len(td.Data) > 0 && td.Data[0] == '{' && json.Unmarshal(td.Data, &t) == nil {
				ae.Type, ae.Detail = t.Type, t.Detail
			}
		}
		return env, nil, ae
	}
	return env, derr, nil
}

func (c *Client) transportError(ctx context.Context, function string, err error) error {
	// url.Error repeats the URL; the URL holds only the function and read parameters,
	// but the message is ours to shape, so keep just the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := c.redact(err.Error())
	te := &TransportError{Node: c.node, Function: function, Err: errors.New(msg)}
	var untrusted *UntrustedError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &untrusted):
		te.Permanent = true
		te.Err = untrusted
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		te.Permanent = true
		te.Err = fmt.Errorf("TLS certificate not trusted: %s (pin it with tls.fingerprint or give its CA in tls.caFile)", msg)
	case ctx.Err() != nil:
		// The caller's deadline or cancellation: not worth retrying here.
		te.Permanent = true
		te.Err = fmt.Errorf("%s: %w", msg, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		te.Err = fmt.Errorf("no answer within %s: %s", c.opts.CallTimeout, msg)
	}
	return te
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) snippet(body []byte) string {
	const max = 120
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return c.redact(s)
}

// Redact removes the node's token from text, for callers that report what a server
// said (an HTML screen's message).
func (c *Client) Redact(s string) string { return c.redact(s) }

// redact removes the token from text a server or library produced: a server may echo
// a request back in an error page.
func (c *Client) redact(s string) string {
	s = redactAll(s, c.redacts)
	if c.shared != nil {
		s = redactAll(s, c.shared.redacts)
	}
	return s
}

func redactAll(s string, secrets []string) string {
	for _, t := range secrets {
		if t != "" && strings.Contains(s, t) {
			s = strings.ReplaceAll(s, t, "[REDACTED]")
		}
	}
	return s
}

// Batch runs several read functions in one request with WHM's batch function and
// returns each one's envelope in order. A failing command yields its APIError at its
// index; the batch itself failing returns an error.
func (c *Client) Batch(ctx context.Context, commands []BatchCommand) ([]*Envelope, []error, error) {
	// Each result is read as an envelope straight away (its data kept raw for the
	// caller's decode): a result held as raw JSON and unmarshalled again would scan a
	// large answer (listaccts of a parent) twice more.
	var data struct {
		Result []*Envelope `json:"result"`
	}
	if _, err := c.Call(ctx, Read, "batch", batchQuery(commands), &data); err != nil {
		return nil, nil, err
	}
	if len(data.Result) != len(commands) {
		return nil, nil, &DecodeError{Node: c.node, Function: "batch", Err: fmt.Errorf("%d results for %d commands", len(data.Result), len(commands))}
	}
	return data.Result, c.batchErrors(commands, data.Result), nil
}

func batchQuery(commands []BatchCommand) url.Values {
	cmds := make([]string, len(commands))
	for i, bc := range commands {
		cmds[i] = commandQuery(bc.Function, bc.Params)
	}
	return url.Values{"command": cmds}
}

// batchErrors is each result's own failure: none (nil), a command that failed
// (APIError), or no result at all.
func (c *Client) batchErrors(commands []BatchCommand, results []*Envelope) []error {
	errs := make([]error, len(commands))
	for i, env := range results {
		if env == nil {
			errs[i] = &DecodeError{Node: c.node, Function: commands[i].Function, Err: errors.New("no result")}
			continue
		}
		if !env.Metadata.Result {
			errs[i] = &APIError{Node: c.node, Function: commands[i].Function, Reason: c.redact(string(env.Metadata.Reason))}
		}
	}
	return errs
}

// BatchRead is one read inside ReadBatch: the function, its parameters, and where
// its data is decoded (nil: not decoded).
type BatchRead struct {
	Function string
	Params   url.Values
	Out      any
	// DataName, when set, names the data in decode errors and OnDecode instead of
	// Function (uapi_cpanel's data is the UAPI function's: "uapi_cpanel
	// Email::list_forwarders").
	DataName string
	// command, when set, is the batch command as commandQuery writes it for
	// Function and Params, built by the caller without them (Forwarders').
	command string
}

func (r *BatchRead) dataName() string {
	if r.DataName != "" {
		return r.DataName
	}
	return r.Function
}

// batchSlot is one batch result read in the batch's own pass: Data holds the read's
// Out (a pointer), so encoding/json decodes the result's data straight into it, as
// decode does a call's; JSON null leaves the Out alone and Data nil.
type batchSlot struct {
	Metadata Metadata `json:"metadata"`
	Data     any      `json:"data"`
}

// discard takes a read's data when it has no Out: skipped, nothing built.
type discard struct{}

func (*discard) UnmarshalJSON([]byte) error { return nil }

// batchDecode is ReadBatch's out for the batch call: decode hands it to
// decodeBatch.
type batchDecode struct {
	reads []BatchRead
	// slots are the results when the one pass read them all; envs, when it could
	// not tell which read an error belongs to and the answer was read as envelopes.
	slots []*batchSlot
	envs  []*Envelope
}

// zeroOuts leaves every Out as ReadBatch's caller gave it (zero) after a pass that
// may have filled some.
func (bd *batchDecode) zeroOuts() {
	for _, r := range bd.reads {
		if r.Out != nil {
			if v := reflect.ValueOf(r.Out); v.Kind() == reflect.Pointer && !v.IsNil() {
				v.Elem().SetZero()
			}
		}
	}
}

// decodeBatch reads a batch answer in one pass, each result's data straight into
// its read's Out: by decodeBatchFast when it can, else by encoding/json
// (decodeBatchJSON), the batch's results read first as envelopes, their data kept as
// raw JSON and each unmarshalled again, scanned and copied a large listaccts three
// times more. Whatever that pass cannot attribute (data an Out cannot hold stops
// encoding/json mid-answer, a failed read's data went into its Out, results missing
// or too many) is read again as envelopes and decoded result by result, as before,
// so every error stays the one it was; errors are rare, the second pass with them.
func (c *Client) decodeBatch(function string, body []byte, bd *batchDecode) (*Envelope, error) {
	bd.slots, bd.envs = nil, nil
	if env, ok := c.decodeBatchFast(function, body, bd); ok {
		return env, nil
	}
	bd.zeroOuts()
	return c.decodeBatchJSON(function, body, bd)
}

// decodeBatchJSON is decodeBatch through encoding/json alone: every answer the fast
// path declines.
func (c *Client) decodeBatchJSON(function string, body []byte, bd *batchDecode) (*Envelope, error) {
	bd.slots, bd.envs = nil, nil
	backing := make([]batchSlot, len(bd.reads))
	slots := make([]*batchSlot, len(bd.reads))
	for i, r := range bd.reads {
		if r.Out != nil {
			backing[i].Data = r.Out
		} else {
			backing[i].Data = &discard{}
		}
		slots[i] = &backing[i]
	}
	// encoding/json decodes a JSON array into the elements a slice already has
	// (merging, in v1's terms), so the preset slots are filled in place; a result
	// that is null sets its slot to nil.
	w := batchResults{Result: slots}
	env, derr, err := c.decodeEnvelope(function, body, &w)
	if err == nil && derr == nil && len(w.Result) == len(bd.reads) {
		ok := true
		for _, s := range w.Result {
			if s != nil && !s.Metadata.Result {
				ok = false // a failed read's data may sit in its Out
				break
			}
		}
		if ok {
			bd.slots = w.Result
			return env, nil
		}
	}
	bd.zeroOuts()
	var data struct {
		Result []*Envelope `json:"result"`
	}
	if env, err = c.decode(function, body, &data); err != nil {
		return env, err
	}
	bd.envs = data.Result
	return env, nil
}

// ReadBatch runs several reads in one batch request, one round trip on one
// connection, and decodes each one's data into its Out. errs[i] is read i's own
// failure (an *APIError, or a *DecodeError for data Out cannot hold); the error is
// the request's: transport, authentication, or the server refusing batch itself.
// The Outs are expected zero; a read that fails leaves its Out zero, or as far as
// its data was read.
func (c *Client) ReadBatch(ctx context.Context, reads []BatchRead) (errs []error, err error) {
	commands := make([]string, len(reads))
	for i, r := range reads {
		if commands[i] = r.command; r.command == "" {
			commands[i] = commandQuery(r.Function, r.Params)
		}
	}
	bd := &batchDecode{reads: reads}
	if _, err := c.Call(ctx, Read, "batch", url.Values{"command": commands}, bd); err != nil {
		bd.zeroOuts()
		return nil, err
	}
	if bd.slots != nil {
		errs = make([]error, len(reads))
		for i, s := range bd.slots {
			switch {
			case s == nil:
				errs[i] = &DecodeError{Node: c.node, Function: reads[i].Function, Err: errors.New("no result")}
			case reads[i].Out != nil && s.Data != nil && c.opts.OnDecode != nil:
				c.opts.OnDecode(reads[i].dataName(), reads[i].Out)
			}
		}
		return errs, nil
	}
	if len(bd.envs) != len(reads) {
		return nil, &DecodeError{Node: c.node, Function: "batch", Err: fmt.Errorf("%d results for %d commands", len(bd.envs), len(reads))}
	}
	cmds := make([]BatchCommand, len(reads))
	for i, r := range reads {
		cmds[i] = BatchCommand{Function: r.Function, Params: r.Params}
	}
	errs = c.batchErrors(cmds, bd.envs)
	for i, r := range reads {
		if errs[i] == nil && r.Out != nil {
			errs[i] = c.Decode(bd.envs[i], r.dataName(), r.Out)
		}
	}
	return errs, nil
}

// BatchCommand is one function call inside a batch.
type BatchCommand struct {
	Function string
	Params   url.Values
}

// Decode unmarshals an envelope's data into out, naming the node and function on error.
func (c *Client) Decode(env *Envelope, function string, out any) error {
	if env == nil || len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return nil
	}
	if c.opts.OnDecode != nil {
		c.opts.OnDecode(function, out)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &DecodeError{Node: c.node, Function: function, Err: err}
	}
	return nil
}
