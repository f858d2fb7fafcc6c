package sandbox

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\x00", "ünïcödé “quotes”", "bad\xffbyte", "</script>&"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want := s
		if s == "bad\xffbyte" {
			want = "bad\ufffdbyte"
		}
		if back != want {
			t.Errorf("%q round-trips as %q", s, back)
		}
	}
}

func TestAcctViewWant(t *testing.T) {
	v := acctView{a: account{User: "alice", Domain: "alice.example", MailNode: "mail1", Suspended: true, SuspendReason: "x\"y"}, fields: wantFields([]string{"user", "child_nodes", "nosuchfield", "suspendreason"})}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(m) != 3 || m["user"] != "alice" || m["suspendreason"] != `x"y` {
		t.Fatalf("want view = %s", b)
	}
	if cn := m["child_nodes"].([]any); len(cn) != 1 || cn[0].(map[string]any)["alias"] != "mail1" {
		t.Fatalf("child_nodes = %v", m["child_nodes"])
	}
}
