package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// remoteResult is a decoded WHM API 1 answer from another node. Data is nil when the
// caller's value took it in the same pass (remoteInto).
type remoteResult struct {
	Metadata remoteMeta      `json:"metadata"`
	Data     json.RawMessage `json:"data"`
}

// remoteMeta is the metadata of a remote answer a parent reads.
type remoteMeta struct {
	Result json.Number `json:"result"`
	Reason string      `json:"reason"`
}

// remoteError is a function-level failure on the remote node (result 0).
type remoteError struct {
	fn     string
	reason string
}

func (e *remoteError) Error() string { return e.fn + ": " + e.reason }

// httpStatusError is a remote call refused at the HTTP level (401, 403).
type httpStatusError struct {
	code int
	msg  string
}

func (e *httpStatusError) Error() string { return e.msg }

// remote calls fn on the node known by host as a real server would, over HTTP: the
// host name is resolved in-process to the node, and the call is served in-process
// (serveLocal) with what the wire would show, or over the node's port
// (remoteHTTP) when a test asks for it.
func (sb *Sandbox) remote(ctx context.Context, host, user, token, fn string, params url.Values) (*remoteResult, error) {
	return sb.remoteInto(ctx, host, user, token, fn, params, nil)
}

// remoteInto is remote decoding the answer's data into data (a pointer) in the same
// pass as its metadata, when data is not nil and the answer fits it: a proxied UAPI
// call's answer was scanned four times (checked and decoded as an envelope, its data
// checked and decoded again). An answer that does not fit is decoded as remote does,
// its data left in the result's Data for the caller to decode and report as before.
func (sb *Sandbox) remoteInto(ctx context.Context, host, user, token, fn string, params url.Values, data any) (*remoteResult, error) {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	return sb.remoteForm(ctx, host, user, token, fn, form, data)
}

// remoteForm is remoteInto given a form of its own to send, which it changes (it
// adds api.version) and, in process, hands to the target as its parsed form.
func (sb *Sandbox) remoteForm(ctx context.Context, host, user, token, fn string, form url.Values, data any) (*remoteResult, error) {
	target := sb.nodeByHost(host)
	if target == nil {
		return nil, fmt.Errorf("the system could not resolve the host name “%s”", host)
	}
	ctx, cancel := context.WithTimeout(ctx, sb.opts.RemoteTimeout)
	defer cancel()
	form.Set("api.version", "1")
	auth := "whm " + user + ":" + token
	var status int
	var body []byte
	var err error
	if sb.opts.remoteOverHTTP {
		status, body, err = sb.remoteHTTP(ctx, target, host, fn, form.Encode(), auth)
	} else {
		taker, _ := data.(typedTaker)
		var ans localAnswer
		ans, err = target.serveLocal(ctx, fn, form, auth, taker != nil)
		if err != nil {
			err = fmt.Errorf("the system failed to reach “%s”: %s", host, connErrText(err))
		} else if ans.typed != nil {
			if res, ok := takeTyped(ans, taker); ok {
				return res, nil
			}
			ans.bytes()
		}
		status, body = ans.status, ans.body
	}
	if err != nil {
		return nil, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &httpStatusError{code: status, msg: fmt.Sprintf("“%s” did not accept the authentication (HTTP %d)", host, status)}
	default:
		return nil, fmt.Errorf("“%s” answered HTTP %d", host, status)
	}
	if len(body) > remoteMaxAnswer {
		body = body[:remoteMaxAnswer] // what the wire path reads of it
	}
	return decodeRemote(host, fn, body, data)
}

// typedTaker is a remoteInto data value that can take an in-process answer as the
// target's handler built it, unencoded: takeTyped reports whether it took the
// envelope's data, left as decoding its bytes would have left it. It takes only
// what encoding and decoding again would not change (see proxiedUAPI.takeTyped);
// an answer it refuses is encoded and decoded as before.
type typedTaker interface {
	takeTyped(env *answer) bool
}

// takeTyped is remoteInto's result for a typed in-process answer: only a success
// (HTTP 200, result 1, a reason that is valid UTF-8 and so decodes to itself) whose
// data taker takes; any other is read from its bytes.
func takeTyped(ans localAnswer, taker typedTaker) (*remoteResult, bool) {
	env, ok := ans.typed.(*answer)
	if !ok || ans.status != http.StatusOK {
		return nil, false
	}
	meta, ok := env.Metadata.(*answerMeta)
	if !ok || meta.Result != 1 || !utf8.ValidString(meta.Reason) || !taker.takeTyped(env) {
		return nil, false
	}
	return &remoteResult{Metadata: remoteMeta{Result: "1", Reason: meta.Reason}}, true
}

// decodeRemote reads a remote answer's body (remoteInto).
func decodeRemote(host, fn string, body []byte, data any) (*remoteResult, error) {
	res := &remoteResult{}
	if data != nil {
		one := struct {
			Metadata *remoteMeta `json:"metadata"`
			Data     any         `json:"data"`
		}{&res.Metadata, data}
		if json.Unmarshal(body, &one) == nil {
			if res.Metadata.Result.String() != "1" {
				return res, &remoteError{fn: fn, reason: res.Metadata.Reason}
			}
			return res, nil
		}
		res = &remoteResult{}
	}
	if err := json.Unmarshal(body, res); err != nil {
		return nil, fmt.Errorf("“%s” sent an answer that is not WHM API 1 JSON: %w", host, err)
	}
	if res.Metadata.Result.String() != "1" {
		return res, &remoteError{fn: fn, reason: res.Metadata.Reason}
	}
	return res, nil
}

// remoteMaxAnswer bounds how much of a remote answer is read.
const remoteMaxAnswer = 16 << 20

// remoteHTTP sends a call to target over its port: status and body, or the error
// that reached or read it, worded for host.
func (sb *Sandbox) remoteHTTP(ctx context.Context, target *node, host, fn, body, auth string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.scheme()+"://"+target.addr+"/json-api/"+fn, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	resp, err := sb.client.Do(req)
	if err != nil {
		// The URL holds no secret, but say it plainly rather than echo Go's wording.
		return 0, nil, fmt.Errorf("the system failed to reach “%s”: %s", host, connErrText(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, remoteMaxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("the system failed to read the answer of “%s”: %w", host, err)
	}
	return resp.StatusCode, data, nil
}

func connErrText(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "deadline exceeded"), strings.Contains(s, "Timeout"):
		return "timed out"
	case strings.Contains(s, "context canceled"):
		return "canceled"
	}
	return "connection failed"
}

// callChild calls fn on a linked child as its parent (api.persona=parent).
func (n *node) callChild(ctx context.Context, l link, fn string, params url.Values) (*remoteResult, error) {
	return n.callChildInto(ctx, l, fn, params, nil)
}

// callChildInto is callChild decoding the answer's data into data (remoteInto).
func (n *node) callChildInto(ctx context.Context, l link, fn string, params url.Values, data any) (*remoteResult, error) {
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	return n.callChildForm(ctx, l, fn, p, data)
}

// callChildForm is callChildInto given a form of its own, which it changes
// (remoteForm): a proxied UAPI call's form was copied three times on its way.
func (n *node) callChildForm(ctx context.Context, l link, fn string, form url.Values, data any) (*remoteResult, error) {
	form.Set("api.persona", "parent")
	return n.sb.remoteForm(ctx, l.Hostname, l.Username, l.Token, fn, form, data)
}

// linkCopy returns a copy of the link of alias, so it can be used without the lock.
func (n *node) linkCopy(alias string) (link, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.st.Links[alias]
	if !ok {
		return link{}, false
	}
	return *l, true
}
