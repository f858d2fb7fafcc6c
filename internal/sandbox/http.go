package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/internal/sandbox/dnscluster"
)

// maxBody bounds a request body; bigger ones are refused before parsing.
const maxBody = 2 << 20

// call is one WHM API 1 request being answered.
type call struct {
	n       *node
	ctx     context.Context
	fn      string
	args    url.Values
	user    string   // authenticated user
	acls    []string // effective ACLs of the token
	persona string
	// tokenHash identifies the token of the request (PRIVATE_unset_as_child_node
	// expires it on request).
	tokenHash string

	reason   string         // success reason; "OK" when empty
	meta     map[string]any // extra metadata keys (dumpzone warnings, …)
	raw      string
	messages []string
	warnings []string
}

// apiError is a function-level failure: HTTP 200, result 0, reason, optional data.
type apiError struct {
	reason string
	data   any
}

func (e *apiError) Error() string { return e.reason }

// fail is a failure reported with a plain reason (a function setting result 0 itself).
func fail(format string, a ...any) error { return &apiError{reason: fmt.Sprintf(format, a...)} }

// die is a failure from an exception inside the function: WHM prefixes "API failure: "
// and cPanel exceptions carry an "(XID xxxxxx) " id.
func die(format string, a ...any) error {
	return &apiError{reason: "API failure: (XID " + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 6) + ") " + fmt.Sprintf(format, a...)}
}

// perlDie is a failure from a plain Perl die (a string, not a cPanel exception):
// "API failure: " and the text, without an XID.
func perlDie(format string, a ...any) error {
	return &apiError{reason: "API failure: " + fmt.Sprintf(format, a...)}
}

// typedErr is a failure with data {type, detail}.
func typedErr(reason, typ string, detail any) error {
	return &apiError{reason: reason, data: map[string]any{"type": typ, "detail": detail}}
}

func missing(name string) error { return die("Provide the “%s” parameter.", name) }

type handler func(c *call) (any, error)

// function is one WHM API 1 function: its handler and the ACL it needs.
type function struct {
	h   handler
	acl string // "" = any authenticated user; else this ACL (or "all")
	// root is true when only root (not a reseller) may call it.
	root bool
}

var functions map[string]function

func init() {
	functions = map[string]function{}
	for name, f := range metaFunctions() {
		functions[name] = f
	}
	for name, f := range linkFunctions() {
		functions[name] = f
	}
	for name, f := range accountFunctions() {
		functions[name] = f
	}
	for name, f := range resellerFunctions() {
		functions[name] = f
	}
	for name, f := range privateFunctions() {
		functions[name] = f
	}
	for name, f := range zoneFunctions() {
		functions[name] = f
	}
	for name, f := range uapiFunctions() {
		functions[name] = f
	}
}

// needsParent lists, per function, the arguments naming an account that a child node
// refuses to act on unless the parent sends the call (api.persona=parent).
var needsParent = map[string][]string{
	"changepackage": {"user"},
	"modifyacct":    {"user"},
	"removeacct":    {"user", "username"},
	"suspendacct":   {"user"},
	"unsuspendacct": {"user"},
	// The linked nodes guide: "The system blocks all cPanel API calls on the child
	// node" for distributed accounts; the parent sends them (api.persona=parent).
	"uapi_cpanel": {"cpanel.user"},
}

func (n *node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // net/http closes the connection without a response
			}
			n.sb.log.Error("sandbox: handler panic", "node", n.name, "path", r.URL.Path, "panic", v)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	}()
	defer n.traffic.begin(r.URL.Path)()
	if n.injectFaults(w, r) {
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/json-api/"):
		n.serveAPI(w, r, strings.TrimPrefix(path, "/json-api/"))
	case path == "/sandbox/faults":
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if _, _, ok := n.authenticate(r); !ok {
			denied(w)
			return
		}
		n.serveFaults(w, r)
	default:
		// The DNS-cluster screens authenticate and bound their bodies themselves.
		if h := n.extraRoute(path); h != nil {
			if rf, refused := n.refusal(path); refused {
				if _, _, ok := n.authenticate(r); !ok {
					denied(w)
					return
				}
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(dnscluster.ErrorPage(rf.Reason)))
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

func denied(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("WWW-Authenticate", `whm realm="WHM"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("Access denied\n"))
}

// authenticate checks `Authorization: whm USER:TOKEN` and returns the user and the
// token's effective ACLs.
func (n *node) authenticate(r *http.Request) (string, []string, bool) {
	u, acls, _, ok := n.authenticateToken(r)
	return u, acls, ok
}

func (n *node) authenticateToken(r *http.Request) (string, []string, string, bool) {
	return n.authenticateHeader(r.Header.Get("Authorization"))
}

// authenticateHeader is authenticateToken given the Authorization header's value.
func (n *node) authenticateHeader(h string) (string, []string, string, bool) {
	a, ok := parseAuth(h)
	if !ok {
		return "", nil, "", false
	}
	return n.authenticateHashed(a)
}

// authCreds are the user and the token's hash an Authorization header carries.
type authCreds struct{ user, hash string }

// parseAuth reads `whm USER:TOKEN`.
func parseAuth(h string) (authCreds, bool) {
	scheme, detail, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "whm") {
		return authCreds{}, false
	}
	user, tok, ok := strings.Cut(strings.TrimSpace(detail), ":")
	if !ok || user == "" || tok == "" {
		return authCreds{}, false
	}
	return authCreds{user: user, hash: hashToken(tok)}, true
}

// authenticateHashed is authenticateHeader once the header is read.
func (n *node) authenticateHashed(c authCreds) (string, []string, string, bool) {
	user, hash := c.user, c.hash
	now := time.Now().Unix()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.st.Tokens[user] {
		if t.Hash != hash {
			continue
		}
		if t.ExpiresAt > 0 && now >= t.ExpiresAt {
			return "", nil, "", false
		}
		if user == "root" {
			return user, slices.Clone(t.ACLs), hash, true
		}
		a := n.st.Accounts[user]
		if a == nil || !a.Reseller || a.Suspended {
			return "", nil, "", false
		}
		// A reseller's token holds at most the reseller's own ACLs.
		var eff []string
		for _, acl := range t.ACLs {
			if acl == "all" {
				eff = slices.Clone(a.ACLs)
				break
			}
			if slices.Contains(a.ACLs, acl) {
				eff = append(eff, acl)
			}
		}
		return user, eff, hash, true
	}
	return "", nil, "", false
}

func (n *node) serveAPI(w http.ResponseWriter, r *http.Request, fn string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		// Answered in the API's envelope, as every other failure of a call is, so a
		// client reads one shape whatever went wrong (see UNCONFIRMED.md).
		reason := fmt.Sprintf("The request could not be parsed: %s.", err.Error())
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reason = fmt.Sprintf("The request is larger than %d bytes.", maxBody)
		}
		writeJSON(w, map[string]any{"metadata": map[string]any{"command": fn, "version": 1, "result": 0, "reason": reason}})
		return
	}
	user, acls, hash, ok := n.authenticateToken(r)
	if !ok {
		denied(w)
		return
	}
	if v := r.Form.Get("api.version"); v != "1" {
		// Without api.version=1 the server runs the legacy API 0, which knows none of
		// the functions the sandbox speaks.
		if v == "" {
			v = "0"
		}
		msg := fmt.Sprintf("Unknown App Requested for this version (%s) of the api: %s", v, fn)
		writeJSON(w, map[string]any{
			"error": msg, "type": "text",
			"data": map[string]any{"result": "0", "reason": msg},
		})
		return
	}
	c := &call{n: n, ctx: r.Context(), fn: fn, args: r.Form, user: user, acls: acls, persona: r.Form.Get("api.persona"), tokenHash: hash}
	data, err := c.run()
	writeJSON(w, c.envelope(data, err))
}

func (c *call) dispatch() (any, error) {
	c.n.countCall(c.fn)
	if r, ok := c.n.refusal(c.fn); ok {
		if r.Type != "" {
			return nil, typedErr(r.Reason, r.Type, map[string]any{})
		}
		return nil, &apiError{reason: r.Reason}
	}
	f, ok := functions[c.fn]
	if !ok || c.fn == "" {
		return nil, fail("Unknown app (“%s”) requested for this version (1) of the API.", c.fn)
	}
	if c.user != "root" && (f.root || strings.HasPrefix(c.fn, "PRIVATE_")) {
		return nil, fail("Permission denied")
	}
	if f.acl != "" && !c.hasACL(f.acl) {
		return nil, fail("Permission denied")
	}
	if c.persona == "parent" && c.user != "root" {
		return nil, typedErr("Only a system administrator may identify as “parent”.", "PersonaForbidden", nil)
	}
	if strings.HasPrefix(c.fn, "PRIVATE_") && c.persona != "parent" {
		return nil, fail("Permission denied")
	}
	if c.persona != "parent" {
		for _, arg := range needsParent[c.fn] {
			u := c.args.Get(arg)
			if u == "" || u == "root" {
				continue
			}
			c.n.mu.Lock()
			a := c.n.st.Accounts[u]
			distributed := a != nil && a.ParentHost != ""
			c.n.mu.Unlock()
			if distributed {
				return nil, typedErr(fmt.Sprintf("Do not send API requests for “%s” to this node. Send this request to the account’s parent node.", u), "SendToParent", nil)
			}
		}
	}
	return f.h(c)
}

func (c *call) hasACL(acl string) bool {
	return slices.Contains(c.acls, "all") || slices.Contains(c.acls, acl)
}

// envelope is the answer to the call: {data, metadata}. It is typed, its fields in
// the order encoding/json writes a map's keys (sorted), so it encodes to the bytes
// the map it replaced did without boxing five values and sorting keys per answer
// (a parent's batch of forwarder reads holds one per distributed account). Extra
// metadata keys (c.meta) make the metadata a map again.
func (c *call) envelope(data any, err error) any {
	env := &answer{}
	meta := &answerMeta{Command: c.fn, Version: 1, Result: 1, Reason: "OK"}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{reason: "API failure: " + err.Error()}
		}
		meta.Result = 0
		meta.Reason = ae.reason
		if ae.data != nil {
			env.Data = ae.data
		}
	} else {
		if c.reason != "" {
			meta.Reason = c.reason
		}
		if data != nil {
			env.Data = data
		}
	}
	if c.raw != "" || len(c.messages) > 0 || len(c.warnings) > 0 {
		meta.Output = &answerOutput{Messages: c.messages, Raw: c.raw, Warnings: c.warnings}
	}
	if len(c.meta) == 0 {
		env.Metadata = meta
		return env
	}
	m := map[string]any{"command": meta.Command, "version": meta.Version, "result": meta.Result, "reason": meta.Reason}
	for k, v := range c.meta {
		m[k] = v
	}
	if meta.Output != nil {
		m["output"] = meta.Output
	}
	env.Metadata = m
	return env
}

// answer is a WHM API 1 envelope; data is left out when nil.
type answer struct {
	Data     any `json:"data,omitempty"`
	Metadata any `json:"metadata"` // *answerMeta or, with extra keys, a map
}

// answerMeta is metadata's usual keys, in sorted order.
type answerMeta struct {
	Command string        `json:"command"`
	Output  *answerOutput `json:"output,omitempty"`
	Reason  string        `json:"reason"`
	Result  int           `json:"result"`
	Version int           `json:"version"`
}

// answerOutput is metadata.output: each key only when it has something.
type answerOutput struct {
	Messages []string `json:"messages,omitempty"`
	Raw      string   `json:"raw,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// columnKeys and dropColumns let api.columns treat a batch's envelopes as the maps
// they were (columns.go).
func (a *answer) columnKeys() []string {
	if a.Data != nil {
		return []string{"data", "metadata"}
	}
	return []string{"metadata"}
}

func (a *answer) dropColumns(drop map[string]bool, _ map[any]any) any {
	out := map[string]any{}
	if a.Data != nil && !drop["data"] {
		out["data"] = a.Data
	}
	if !drop["metadata"] {
		out["metadata"] = a.Metadata
	}
	return out
}

// jsonBufs holds the buffers answers are encoded into: a parent's listaccts or batch
// answer is megabytes, grown by doubling from nothing on every call before.
var jsonBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer put back: a rare huge answer is not kept.
const maxPooledBuf = 32 << 20

// writeJSON encodes v (HTML left unescaped, as WHM's JSON; appendAnswer) and sends
// it; a value that does not encode is an HTTP 500, nothing of it sent.
func writeJSON(w http.ResponseWriter, v any) {
	if mr, ok := w.(*memResponse); ok && mr.keepTyped && mr.status == 0 && mr.body.Len() == 0 {
		// An in-process caller takes the value itself (serveLocal's typed), and
		// reads no header.
		mr.status, mr.typed = http.StatusOK, v
		return
	}
	bp := jsonBufs.Get().(*[]byte)
	b, err := appendAnswer((*bp)[:0], v)
	if b != nil && cap(b) <= maxPooledBuf {
		*bp = b
	}
	defer jsonBufs.Put(bp)
	if err != nil {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(append(b, '\n'))
}

// encodeAnswer is the body writeJSON sends for v.
func encodeAnswer(v any) ([]byte, error) {
	b, err := appendAnswer(nil, v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// --- arguments ---

func (c *call) str(name string) string { return c.args.Get(name) }

func (c *call) has(name string) bool { _, ok := c.args[name]; return ok }

func (c *call) required(name string) (string, error) {
	v := c.args.Get(name)
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}

// list folds name, name-0, name-1, … into one list, in that order.
func (c *call) list(name string) []string {
	type idx struct {
		i int
		v []string
	}
	// Both lists are sized before they are filled: a plan's batches name hundreds
	// of users as user-0, user-1, …, and growing the lists by doubling made the
	// sandbox allocate them several times over.
	var suffixed []idx
	prefix := name + "-"
	count := len(c.args[name])
	for k, vs := range c.args {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil || i < 0 {
			continue
		}
		if suffixed == nil {
			suffixed = make([]idx, 0, len(c.args))
		}
		suffixed = append(suffixed, idx{i, vs})
		count += len(vs)
	}
	var out []string
	if count > 0 {
		out = make([]string, 0, count)
	}
	for _, v := range c.args[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	slices.SortFunc(suffixed, func(a, b idx) int { return cmp.Compare(a.i, b.i) })
	for _, s := range suffixed {
		for _, v := range s.v {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil // every value empty: nil, as before the list was sized
	}
	return out
}

// intArg reads an optional whole number; present reports whether it was given.
func (c *call) intArg(name string) (v int, present bool, err error) {
	s := strings.TrimSpace(c.args.Get(name))
	if s == "" {
		return 0, false, nil
	}
	v, err = strconv.Atoi(s)
	if err != nil {
		return 0, true, die("The “%s” parameter must be a whole number, not “%s”.", name, s)
	}
	return v, true, nil
}

// boolArg reads an optional 0/1 flag (y/n and true/false are accepted too).
func (c *call) boolArg(name string) (v bool, present bool, err error) {
	s := strings.ToLower(strings.TrimSpace(c.args.Get(name)))
	switch s {
	case "":
		return false, false, nil
	case "1", "y", "yes", "true", "on":
		return true, true, nil
	case "0", "n", "no", "false", "off":
		return false, true, nil
	}
	return false, true, die("The “%s” parameter must be 1 or 0, not “%s”.", name, s)
}

// lock runs f with the node's state locked and marks it dirty if f reports a change.
func (c *call) lock(f func(st *nodeState) (changed bool, err error)) error {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	changed, err := f(c.n.st)
	if changed {
		c.n.markDirty()
	}
	return err
}

func (n *node) countCall(fn string) {
	n.callsMu.Lock()
	defer n.callsMu.Unlock()
	if n.calls == nil {
		n.calls = map[string]int{}
	}
	n.calls[fn]++
}

// Calls returns how many authenticated WHM API 1 calls each function of node
// nodeName has served since the sandbox started, a batch counting as itself and each
// of its commands: tests count from it what an apply did (a change applied twice
// shows as a second call).
func (sb *Sandbox) Calls(nodeName string) map[string]int {
	n := sb.nodeByName(nodeName)
	if n == nil {
		return nil
	}
	n.callsMu.Lock()
	defer n.callsMu.Unlock()
	return maps.Clone(n.calls)
}
