package whmapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
)

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in    string
		n     int64
		valid bool
		err   bool
	}{
		{`12`, 12, true, false},
		{`"12"`, 12, true, false},
		{`" 7 "`, 7, true, false},
		{`12.0`, 12, true, false},
		{`"-1"`, -1, true, false},
		{`null`, 0, false, false},
		{`""`, 0, false, false},
		{`"unlimited"`, 0, false, false},
		{`"*unknown*"`, 0, false, false},
		{`true`, 0, false, true},
		{`[1]`, 0, false, true},
	}
	for _, tt := range tests {
		var f FlexInt
		err := json.Unmarshal([]byte(tt.in), &f)
		if (err != nil) != tt.err || f.N != tt.n || f.Valid != tt.valid {
			t.Errorf("%s → %+v, %v; want %d valid=%t err=%t", tt.in, f, err, tt.n, tt.valid, tt.err)
		}
	}
}

func TestFlexBool(t *testing.T) {
	tests := []struct {
		in   string
		want bool
		err  bool
	}{
		{`1`, true, false}, {`0`, false, false}, {`"1"`, true, false}, {`"0"`, false, false},
		{`true`, true, false}, {`false`, false, false}, {`"yes"`, true, false}, {`"off"`, false, false},
		{`null`, false, false}, {`""`, false, false}, {`"maybe"`, false, true}, {`2`, false, true},
	}
	for _, tt := range tests {
		var b FlexBool
		err := json.Unmarshal([]byte(tt.in), &b)
		if (err != nil) != tt.err || bool(b) != tt.want {
			t.Errorf("%s → %t, %v; want %t err=%t", tt.in, b, err, tt.want, tt.err)
		}
	}
}

func TestFlexString(t *testing.T) {
	for in, want := range map[string]string{`"a"`: "a", `11`: "11", `null`: "", `true`: "true"} {
		var s FlexString
		if err := json.Unmarshal([]byte(in), &s); err != nil || string(s) != want {
			t.Errorf("%s → %q, %v; want %q", in, s, err, want)
		}
	}
	var s FlexString
	if err := json.Unmarshal([]byte(`{"a":1}`), &s); err == nil {
		t.Error("object accepted as a string")
	}
}

func TestMajorVersion(t *testing.T) {
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"11.118.0.5", 118, false},
		{"118.0.5", 118, false},
		{"11.86.0.0", 86, false},
		{"", 0, true},
		{"abc", 0, true},
		{"11", 11, false},
	}
	for _, tt := range tests {
		got, err := MajorVersion(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("MajorVersion(%q) = %d, %v; want %d err=%t", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestAcctDecoding(t *testing.T) {
	var d struct {
		Acct []Acct `json:"acct"`
	}
	in := `{"acct":[{"user":"a","suspended":"1","ipv6":["2001:db8::1"],"owner":"root","plan":5,"email":"*unknown*","child_nodes":[{"workload":"Mail","alias":"m1"},{"workload":"Mail","alias":"m2"}]},
	{"user":"b","suspended":0,"ipv6":[],"child_nodes":[]},{"user":"c","suspended":false,"ipv6":""}]}`
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	a, b, c := d.Acct[0], d.Acct[1], d.Acct[2]
	if !bool(a.Suspended) || !a.HasIPv6() || a.Plan != "5" || bool(b.Suspended) || b.HasIPv6() || c.HasIPv6() {
		t.Errorf("decoded %+v %+v %+v", a, b, c)
	}
	if n, extra := a.MailNode(); n != "m1" || len(extra) != 1 || extra[0] != "m2" {
		t.Errorf("MailNode = %q %v", n, extra)
	}
	if n, _ := b.MailNode(); n != "" {
		t.Errorf("b MailNode = %q", n)
	}
}

func TestUserFeatureEnabled(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"feature_list_setting":"1","cpuser_setting":null}`, true},
		{`{"feature_list_setting":"1","cpuser_setting":"0"}`, false},
		{`{"feature_list_setting":0,"cpuser_setting":1}`, true},
		{`{"feature_list_setting":"0","cpuser_setting":""}`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		var f UserFeature
		if err := json.Unmarshal([]byte(tt.in), &f); err != nil {
			t.Fatal(err)
		}
		if f.Enabled() != tt.want {
			t.Errorf("%s → %t, want %t", tt.in, f.Enabled(), tt.want)
		}
	}
}

// FuzzDecode: whatever a server answers, decoding returns an envelope or an error,
// never panics, and never reports success without metadata.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"data":{"acct":[{"user":"a","suspended":"1","child_nodes":[{"workload":"Mail","alias":"m"}]}]},"metadata":{"command":"listaccts","version":1,"result":1,"reason":"OK"}}`))
	f.Add([]byte(`{"data":{"type":"SendToParent","detail":{}},"metadata":{"command":"x","version":"1","result":"0","reason":"no"}}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(`{"metadata":{"result":1}}`))
	c, err := New("web1", providers.Endpoint{URL: "https://web1.example.net:2087", User: "root", Token: "fuzz-token-000000"}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var out struct {
			Acct []Acct `json:"acct"`
		}
		env, err := c.decode("listaccts", body, &out)
		if err == nil && (env == nil || !bool(env.Metadata.Result)) {
			t.Fatalf("success without a successful envelope: %+v", env)
		}
		if _, err := c.decode("listaccts", body, nil); err != nil && strings.Contains(err.Error(), "fuzz-token-000000") {
			t.Fatal("token in error")
		}
	})
}
