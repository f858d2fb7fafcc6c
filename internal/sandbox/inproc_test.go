package sandbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// xidRe matches the random exception id WHM puts in a reason.
var xidRe = regexp.MustCompile(`\(XID [a-z0-9]{6}\)`)

// remoteOutcome is what a parent makes of a remote call: the answer's data and the
// error, XIDs blanked.
func remoteOutcome(res *remoteResult, err error) string {
	var b strings.Builder
	if res != nil {
		fmt.Fprintf(&b, "result=%s reason=%q data=%s", res.Metadata.Result, res.Metadata.Reason, res.Data)
	}
	if err != nil {
		fmt.Fprintf(&b, " err(%T)=%s", err, err.Error())
	}
	return xidRe.ReplaceAllString(b.String(), "(XID x)")
}

// TestRemoteInProcessAsHTTP: a call from one node to another served in-process
// (serveLocal) comes out as the same call over the child's HTTPS port: answers,
// authentication, faults (offline, hanging, errors, latency, refusals), a parent
// giving up, body limits, and what the child counts (calls, requests in flight,
// connections).
func TestRemoteInProcessAsHTTP(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "carol", "domain", "carol.example", "mail_node_alias", "mail1")
	s.waitIdle()
	s.uapiStatus("web1", "carol", "add_forwarder", "domain", "carol.example", "email", "a", "fwdopt", "fwd", "fwdemail", "x@example.org")
	tok := s.eps.Nodes["mail1"].Token
	list := url.Values{"cpanel.user": {"carol"}, "cpanel.module": {"Email"}, "cpanel.function": {"list_forwarders"}, "domain": {"carol.example"}, "api.persona": {"parent"}}
	big := url.Values{"user": {"carol"}, "pad": {strings.Repeat("x", maxBody)}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		faults Faults
		ctx    func(*testing.T) context.Context // a fresh one per path; Background when nil
		token  string
		fn     string
		params url.Values
		want   string // in the outcome of both paths
	}{
		{name: "answer", fn: "uapi_cpanel", params: list, want: "x@example.org"},
		{name: "no persona", fn: "uapi_cpanel", params: url.Values{"cpanel.user": {"carol"}, "cpanel.module": {"Email"}, "cpanel.function": {"list_forwarders"}, "domain": {"carol.example"}}, want: "SendToParent"},
		{name: "version", fn: "version", want: "result=1"},
		{name: "bad token", token: "WRONG", fn: "version", want: "did not accept the authentication (HTTP 401)"},
		{name: "unknown function", fn: "nosuchfn", want: "Unknown app"},
		{name: "body too large", fn: "PRIVATE_end_sessions", params: big, want: "larger than"},
		{name: "offline", faults: Faults{Offline: true}, fn: "version", want: "failed to reach “mail1.example.net”: connection refused"},
		{name: "errors", faults: Faults{ErrorRate: 1}, fn: "version", want: "answered HTTP 500"},
		{name: "latency", faults: Faults{Latency: time.Millisecond}, fn: "version", want: "result=1"},
		{name: "refused", faults: Faults{Refuse: map[string]Refusal{"version": {Reason: "no thanks", Type: "Nope"}}}, fn: "version", want: `reason="no thanks"`},
		{name: "hanging", faults: Faults{Timeout: true}, ctx: shortCtx, fn: "version", want: "failed to reach “mail1.example.net”: timed out"},
		{name: "parent gave up", ctx: func(*testing.T) context.Context { return cancelled }, fn: "version", want: "failed to reach “mail1.example.net”: canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetFaults("mail1", tc.faults); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.SetFaults("mail1", Faults{}) }()
			token := tc.token
			if token == "" {
				token = tok
			}
			var got [2]string
			var calls, peak [2]int64
			for i, overHTTP := range []bool{true, false} {
				s.opts.remoteOverHTTP = overHTTP
				ctx := context.Background()
				if tc.ctx != nil {
					ctx = tc.ctx(t)
				}
				before := s.Calls("mail1")[tc.fn]
				res, err := s.remote(ctx, "mail1.example.net", "root", token, tc.fn, tc.params)
				got[i] = remoteOutcome(res, err)
				calls[i] = int64(s.Calls("mail1")[tc.fn] - before)
				peak[i] = s.Traffic("mail1").PeakInFlight["/json-api/"+tc.fn]
			}
			s.opts.remoteOverHTTP = false
			if got[0] != got[1] {
				t.Errorf("over HTTP:   %s\nin-process: %s", got[0], got[1])
			}
			if !strings.Contains(got[1], tc.want) {
				t.Errorf("outcome %s, want %q in it", got[1], tc.want)
			}
			if calls[0] != calls[1] {
				t.Errorf("calls counted: %d over HTTP, %d in-process", calls[0], calls[1])
			}
			if peak[1] < peak[0] {
				t.Errorf("peak in flight %d after the in-process call, %d over HTTP", peak[1], peak[0])
			}
		})
	}

	// Connections: three calls in a row after the kept ones were closed use one.
	for _, overHTTP := range []bool{true, false} {
		s.opts.remoteOverHTTP = overHTTP
		s.closeIdleConns()
		before := s.Traffic("mail1").Connections
		for range 3 {
			if _, err := s.remote(context.Background(), "mail1.example.net", "root", tok, "version", nil); err != nil {
				t.Fatal(err)
			}
		}
		got := s.Traffic("mail1").Connections - before
		// net/http puts a connection back in its pool on a goroutine of its own, and a
		// call that finds none yet dials while it waits: over HTTP a second
		// connection is possible, though rare; in-process it is exactly one.
		if got < 1 || (!overHTTP && got != 1) {
			t.Errorf("over HTTP %t: %d connections for three calls in a row, want 1", overHTTP, got)
		}
	}
	s.opts.remoteOverHTTP = false
}

// TestRemoteDroppedWhenOffline: a call in flight to a node that goes offline ends
// with "connection failed" on both paths, as its connection closes.
func TestRemoteDroppedWhenOffline(t *testing.T) {
	s := startTest(t, "")
	tok := s.eps.Nodes["mail1"].Token
	for _, overHTTP := range []bool{true, false} {
		s.opts.remoteOverHTTP = overHTTP
		if err := s.SetFaults("mail1", Faults{Timeout: true}); err != nil {
			t.Fatal(err)
		}
		n := s.nodeByName("mail1")
		inFlight := func() int64 {
			n.traffic.mu.Lock()
			defer n.traffic.mu.Unlock()
			return n.traffic.inflight["/json-api/version"]
		}
		// The hung handler of the HTTP path may outlive its closed connection (it
		// waits for the sandbox to close): count from what is in flight already.
		before := inFlight()
		done := make(chan error, 1)
		go func() {
			_, err := s.remote(context.Background(), "mail1.example.net", "root", tok, "version", nil)
			done <- err
		}()
		// Wait for the call to hang on the node, then take the node down.
		for inFlight() == before {
			time.Sleep(time.Millisecond)
		}
		if err := s.SetFaults("mail1", Faults{Timeout: true, Offline: true}); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if err == nil || !strings.HasSuffix(err.Error(), "failed to reach “mail1.example.net”: connection failed") {
			t.Errorf("over HTTP %t: %v, want connection failed", overHTTP, err)
		}
		if err := s.SetFaults("mail1", Faults{}); err != nil {
			t.Fatal(err)
		}
	}
	s.opts.remoteOverHTTP = false
}

// shortCtx is a parent that gives up soon.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// TestProxiedUAPIBytesAsHTTP: a parent relaying a child's UAPI result it took in
// process unencoded (proxiedUAPI.takeTyped) sends the bytes it sends when it reads
// the child's answer over HTTPS: rows with HTML, quotes, invalid UTF-8 and line
// separators, no rows, failures of the function (one echoing invalid UTF-8), data it
// does not take (add_forwarder's), no data, a batch, and a child refusing or
// failing; the typed path is taken where it can be and only there.
func TestProxiedUAPIBytesAsHTTP(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "carol", "domain", "carol.example", "mail_node_alias", "mail1")
	s.waitIdle()
	child := s.nodeByName("mail1")
	child.mu.Lock()
	child.st.Accounts["carol"].Forwarders = []forwarder{
		{Dest: "a<&>\"q\"@carol.example", Forward: "x@example.org"},
		{Dest: "b\xff\xfe@carol.example", Forward: "line\u2028sep\u2029@example.org"},
		{Dest: "c@carol.example", Forward: ":fail: no <such> person\t\x01"},
		{Dest: "d@other.example", Forward: "y@example.org"},
	}
	child.mu.Unlock()
	uapi := func(fn string, kv ...string) []string {
		return append([]string{"cpanel.user", "carol", "cpanel.module", "Email", "cpanel.function", fn}, kv...)
	}
	cmd := func(fn string, kv ...string) string {
		q := url.Values{}
		args := uapi(fn, kv...)
		for i := 0; i+1 < len(args); i += 2 {
			q.Add(args[i], args[i+1])
		}
		return "uapi_cpanel?" + q.Encode()
	}
	for _, tc := range []struct {
		name   string
		faults Faults
		fn     string
		kv     []string
		typed  bool // the in-process path takes the child's result unencoded
	}{
		{name: "rows", fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "carol.example"), typed: true},
		{name: "no rows", fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "carol.example", "regex", "^zzz"), typed: true},
		{name: "failure", fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "other.example"), typed: true},
		{name: "failure, invalid UTF-8", fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "carol.example", "regex", "(\xff")},
		{name: "add", fn: "uapi_cpanel", kv: uapi("add_forwarder", "domain", "carol.example", "email", "e", "fwdopt", "fwd", "fwdemail", "z@example.org")},
		{name: "delete", fn: "uapi_cpanel", kv: uapi("delete_forwarder", "address", "e@carol.example", "forwarder", "z@example.org"), typed: true},
		{name: "batch", fn: "batch", kv: []string{"command-0", cmd("list_forwarders", "domain", "carol.example"), "command-1", cmd("list_forwarders", "domain", "nope.example")}},
		{name: "child refuses", faults: Faults{Refuse: map[string]Refusal{"uapi_cpanel": {Reason: "no <thanks>"}}}, fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "carol.example")},
		{name: "child fails", faults: Faults{ErrorRate: 1}, fn: "uapi_cpanel", kv: uapi("list_forwarders", "domain", "carol.example")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetFaults("mail1", tc.faults); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.SetFaults("mail1", Faults{}) }()
			var got [2]string
			for i, overHTTP := range []bool{true, false} {
				s.opts.remoteOverHTTP = overHTTP
				e := s.call("web1", tc.fn, tc.kv...)
				got[i] = xidRe.ReplaceAllString(e.Raw, "(XID x)")
			}
			s.opts.remoteOverHTTP = false
			if got[0] != got[1] {
				t.Errorf("over HTTP:   %s\nin-process: %s", got[0], got[1])
			}
			if tc.fn != "uapi_cpanel" {
				return
			}
			p := url.Values{"api.persona": {"parent"}}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				p.Add(tc.kv[i], tc.kv[i+1])
			}
			var d proxiedUAPI
			_, _ = s.remoteInto(context.Background(), "mail1.example.net", "root", s.eps.Nodes["mail1"].Token, "uapi_cpanel", p, &d)
			if (d.typed != nil) != tc.typed {
				t.Errorf("taken unencoded: %t, want %t", d.typed != nil, tc.typed)
			}
		})
	}
}

// TestFormRoundTrips: a form handed to the target parsed is the one its ParseForm
// would have read from the bytes (parsing form.Encode() gives it back), and the
// length formRoundTrips counts is that of the bytes, so a form larger than the
// target reads is still sent as bytes for it to refuse.
func TestFormRoundTrips(t *testing.T) {
	pieces := append([]string{"a", "~-_.", "a b", "x=y&z", "+%;?#/", "ü", "\xff\x00", "api.version"}, nastyStrings...)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		form := url.Values{}
		for range r.IntN(5) {
			k := pieces[r.IntN(len(pieces))] + pieces[r.IntN(len(pieces))]
			for range r.IntN(3) {
				form.Add(k, pieces[r.IntN(len(pieces))]+pieces[r.IntN(len(pieces))])
			}
			if _, ok := form[k]; !ok && r.IntN(2) == 0 {
				form[k] = []string{}
			}
		}
		enc := form.Encode()
		parsed, err := url.ParseQuery(enc)
		if err != nil {
			t.Fatalf("form %d %q: %v", i, enc, err)
		}
		if len(parsed) == 0 {
			parsed = url.Values{}
		}
		roundTrips := reflect.DeepEqual(parsed, form)
		if got := formRoundTrips(form); got != roundTrips {
			t.Errorf("form %d %#v: formRoundTrips %t, parsing %q gives it back: %t", i, form, got, enc, roundTrips)
		}
	}
	for _, n := range []int{maxBody - 2, maxBody - 1, maxBody} {
		form := url.Values{"a": {strings.Repeat("é", (n-2)/6) + strings.Repeat("x", (n-2)%6)}}
		if enc := form.Encode(); formRoundTrips(form) != (len(enc) <= maxBody) {
			t.Errorf("%d bytes encoded: formRoundTrips %t", len(enc), formRoundTrips(form))
		}
	}
}
