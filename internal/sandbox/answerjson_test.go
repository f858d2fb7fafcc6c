package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// nastyStrings are strings whose JSON differs between careless encoders: HTML,
// quotes, backslashes, every kind of control character, invalid UTF-8 (alone, in
// runs, cut sequences), U+2028 and U+2029, DEL, multi-byte text.
var nastyStrings = []string{
	"", "plain", "<a href=\"x\">&amp;</a>", `back\slash`, "\b\f\n\r\t\x00\x01\x1f", "\x7f",
	"bad\xff", "\xff\xfe\xfd", "cut\xe2\x80", "\xe2\x80\xa8 and \xe2\x80\xa9", "crème brûlée ✓ 𝄞",
	"a@b.example", "|/usr/bin/prog \"x\"", ":fail: no <such> person",
}

// randValue builds a value of the kinds answers hold, depth levels deep at most:
// those appendAnswer writes itself and some it leaves to encoding/json.
func randValue(r *rand.Rand, depth int) any {
	str := func() string {
		if r.IntN(3) == 0 {
			return nastyStrings[r.IntN(len(nastyStrings))] + nastyStrings[r.IntN(len(nastyStrings))]
		}
		return nastyStrings[r.IntN(len(nastyStrings))]
	}
	strs := func() []string {
		if r.IntN(4) == 0 {
			return nil
		}
		out := []string{}
		for range r.IntN(4) {
			out = append(out, str())
		}
		return out
	}
	leaf := r.IntN(8)
	if depth <= 0 {
		leaf = r.IntN(5)
	}
	switch leaf {
	case 0:
		return str()
	case 1:
		return []int{0, 1, -7, 1 << 40, -1 << 62}[r.IntN(5)]
	case 2:
		return r.IntN(2) == 0
	case 3:
		return nil
	case 4:
		// Left to encoding/json: floats, other maps, structs, Marshalers.
		return []any{1.5, 1e21, int64(-3), uint8(7), map[string]int{"b": 1, "a": 2},
			struct {
				X string `json:"x,omitempty"`
			}{str()}, json.Number("12"), strs()}[r.IntN(8)]
	case 5:
		if r.IntN(6) == 0 {
			return map[string]any(nil)
		}
		m := map[string]any{}
		for range r.IntN(6) {
			m[str()] = randValue(r, depth-1)
		}
		return m
	case 6:
		l := []any{}
		for range r.IntN(4) {
			l = append(l, randValue(r, depth-1))
		}
		return l
	}
	switch r.IntN(8) {
	case 0:
		c := &call{fn: str(), reason: str(), raw: str(), messages: strs(), warnings: strs()}
		if r.IntN(2) == 0 {
			c.meta = map[string]any{str(): randValue(r, depth-1)}
		}
		var err error
		if r.IntN(3) == 0 {
			err = &apiError{reason: str(), data: randValue(r, depth-1)}
		}
		return c.envelope(randValue(r, depth-1), err)
	case 1:
		u := &uapiResult{Errors: strs(), Messages: strs(), Warnings: strs(), Status: r.IntN(2), Metadata: map[string]any{"transformed": 1, "proxied_from": []any{str()}}}
		if r.IntN(4) == 0 {
			u.Metadata = nil
		}
		switch r.IntN(3) {
		case 0:
			var rows []forwarderRow
			for range r.IntN(4) {
				d, f := str(), str()
				rows = append(rows, forwarderRow{d, f, html.EscapeString(d), html.EscapeString(f), url.QueryEscape(d), url.QueryEscape(f)})
			}
			u.Data = rows
		case 1:
			u.Data = randValue(r, depth-1)
		}
		if r.IntN(6) == 0 {
			return (*uapiResult)(nil)
		}
		return u
	case 2:
		if r.IntN(2) == 0 {
			return []featureRow{{CPUserSetting: []any{nil, 0, 1}[r.IntN(3)], Feature: str(), FeatureList: str(), FeatureListSetting: r.IntN(2), User: str()}}
		}
		return []map[string]any{{"user": str(), "feature": str(), "cpuser_setting": nil, "feature_list_setting": 1}, {}}
	case 3:
		a := account{User: str(), Domain: str(), Owner: str(), Plan: str(), IP: str(), UID: r.IntN(9999), StartDate: int64(r.IntN(1 << 31)), Suspended: r.IntN(2) == 0, SuspendReason: str(), IPv6: strs(), MailNode: str()}
		l := acctList{{a: a}, {a: a, summary: true}, {a: a, fields: wantFields([]string{"user", "child_nodes", "nosuch"})}}
		if r.IntN(2) == 0 {
			return l[r.IntN(3)]
		}
		return l
	case 4:
		return json.RawMessage(" {\"a\" : [1, \"x\\u0041\" ]}\n")
	case 5:
		return json.RawMessage(nil)
	case 6:
		return &answerOutput{Messages: strs(), Raw: str(), Warnings: strs()}
	}
	return strs()
}

// TestAppendAnswerAsEncodingJSON: appendAnswer writes what encoding/json (HTML left
// unescaped) writes, byte for byte, for generated answers of every kind it writes
// itself and some it leaves to encoding/json, and fails where encoding/json fails.
func TestAppendAnswerAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2026))
	for i := range 5000 {
		v := randValue(r, 4)
		want := encodeLikeWHM(t, v)
		got, err := encodeAnswer(v)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d (%#v):\nappendAnswer:  %s\nencoding/json: %s", i, v, got, want)
		}
	}
	for _, v := range []any{json.RawMessage("{"), map[string]any{"x": []any{func() {}}}, &answer{Data: make(chan int)}} {
		if _, err := json.Marshal(v); err == nil {
			t.Fatalf("%#v encodes", v)
		}
		if _, err := encodeAnswer(v); err == nil {
			t.Errorf("appendAnswer wrote %#v, which encoding/json refuses", v)
		}
	}
}

// TestAnswersAsEncodingJSON: the sandbox's own answers, for a parent holding
// accounts with awkward values (local and distributed, suspended, forwarders), are
// written as encoding/json writes them: the calls a plan makes (listaccts with want=
// and api.columns, features and forwarders in batches, proxied UAPI) and others.
func TestAnswersAsEncodingJSON(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	for i, name := range []string{"carol", "dave", "erin"} {
		kv := []string{"username", name, "domain", name + ".example"}
		if i > 0 {
			kv = append(kv, "mail_node_alias", "mail1")
		}
		s.must("web1", "createacct", kv...)
	}
	s.waitIdle()
	for _, node := range []string{"web1", "mail1"} {
		n := s.nodeByName(node)
		n.mu.Lock()
		for _, a := range n.st.Accounts {
			a.Forwarders = nil
			for i, x := range nastyStrings {
				a.Forwarders = append(a.Forwarders, forwarder{Dest: fmt.Sprintf("f%d%s@%s", i, x, a.Domain), Forward: x})
			}
			a.SuspendReason, a.ContactEmail = nastyStrings[2], nastyStrings[4]
		}
		n.mu.Unlock()
	}
	cmd := func(fn string, kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return fn + "?" + q.Encode()
	}
	list := func(user string) string {
		return cmd("uapi_cpanel", "cpanel.user", user, "cpanel.module", "Email", "cpanel.function", "list_forwarders", "domain", user+".example")
	}
	for _, tc := range []struct {
		fn string
		kv []string
	}{
		{"listaccts", nil},
		{"listaccts", []string{"want", "user,domain,owner,plan,email,suspended,ipv6,child_nodes"}},
		{"listaccts", []string{"want", "user,domain", "api.columns.enable", "1", "api.columns.a", "user", "api.columns.b", "nosuch"}},
		{"listaccts", []string{"search", "nobody", "searchtype", "user"}},
		{"accountsummary", []string{"user", "dave"}},
		{"get_users_features_settings", []string{"user", "carol", "feature", "apitokens"}},
		{"get_users_features_settings", []string{"user", "carol", "user-1", "dave"}},
		{"get_users_features_settings", []string{"user", "carol", "api.columns.enable", "1", "api.columns.a", "feature", "api.columns.b", "user", "api.columns.c", "nosuch"}},
		{"batch", []string{"command-0", cmd("get_users_features_settings", "user", "carol", "user-1", "dave", "feature", "apitokens"), "command-1", list("carol"), "command-2", list("dave"), "command-3", list("erin"), "command-4", cmd("nosuchfn")}},
		{"uapi_cpanel", []string{"cpanel.user", "dave", "cpanel.module", "Email", "cpanel.function", "list_forwarders", "domain", "dave.example", "regex", "\xff("}},
		{"version", nil}, {"myprivs", nil}, {"listacls", nil}, {"listresellers", nil}, {"acctcounts", nil},
		{"list_linked_server_nodes", nil}, {"listzones", nil}, {"dumpzone", []string{"domain", "carol.example"}},
		{"fetch_ds_records_for_domains", []string{"domain", "carol.example"}}, {"createacct", nil},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			args := url.Values{}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				args.Add(tc.kv[i], tc.kv[i+1])
			}
			c := &call{n: s.nodeByName("web1"), ctx: context.Background(), fn: tc.fn, args: args, user: "root", acls: []string{"all"}}
			data, err := c.run()
			env := c.envelope(data, err)
			want := encodeLikeWHM(t, env)
			got, gerr := encodeAnswer(env)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendAnswer:  %s\nencoding/json: %s", got, want)
			}
			if !strings.Contains(string(got), `"result":`) {
				t.Errorf("not an answer: %s", got)
			}
		})
	}
}
