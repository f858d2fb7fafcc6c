package schema

import (
	"testing"

	"cuelang.org/go/cue"
)

// TestForwarderProblems: what cPanel accepts of a forwarder, and what reads back as
// written, passes; anything else is named (TETHER-A03).
func TestForwarderProblems(t *testing.T) {
	from := []struct {
		from, domain string
		ok           bool
	}{
		{"sales", "alice.example", true},
		{"first.last", "alice.example", true},
		{"a!#$-=?^_{}~z", "alice.example", true},
		{"sales@alice.example", "alice.example", true},
		{"Sales@ALICE.example", "alice.example", true},
		// ſ (long s) folds to s but lowers to itself: another domain, as in fleet.cue.
		{"x@ſales.example", "sales.example", false},
		{" sales ", "alice.example", true},
		{"sales@other.example", "alice.example", false},
		{"sales@", "alice.example", false},
		{"x@y@alice.example", "alice.example", false},
		{"sales+eu", "alice.example", false},
		{"50%", "alice.example", false},
		{"a/b", "alice.example", false},
		{"it's", "alice.example", false},
		{"a*", "alice.example", false},
		{"a|b", "alice.example", false},
		{"a`b", "alice.example", false},
		{"a&b", "alice.example", false},
		{"a:b", "alice.example", false},
		{"a b", "alice.example", false},
		{".a", "alice.example", false},
		{"a.", "alice.example", false},
		{"a..b", "alice.example", false},
		{"", "alice.example", false},
		{"\"quoted\"", "alice.example", false},
		{"é", "alice.example", false},
	}
	for _, tt := range from {
		p, fix := forwarderFromProblem(tt.from, tt.domain)
		if (p == "") != tt.ok {
			t.Errorf("from %q on %s: problem %q, want ok=%v", tt.from, tt.domain, p, tt.ok)
		}
		if p != "" && fix == "" {
			t.Errorf("from %q: a problem without a fix", tt.from)
		}
	}
	to := []struct {
		to string
		ok bool
	}{
		{"alice@example.org", true},
		{"Alice.Smith+tag@Example.org", true},
		{"a@localhost", true},
		{"|/home/alice/bin/x", true},
		{"| /usr/local/bin/x --flag", true},
		{":blackhole:", true},
		{":fail:", true},
		{":fail: No longer here", true},
		{"alice", true},
		{"root", true},
		{"", false},
		{"  ", false},
		{"|", false},
		{"| ", false},
		{":defer: later", false},
		{":include:/etc/list", false},
		{":blackhole", false},
		{"a@example.org,b@example.org", false},
		{"a@example.org; b@example.org", false},
		{"a@@example.org", false},
		{"a@-example.org", false},
		{"a@example..org", false},
		{"a b@example.org", false},
		{"@example.org", false},
		{"Alice", false},
		{"not a user", false},
	}
	for _, tt := range to {
		if p := forwarderToProblem(tt.to); (p == "") != tt.ok {
			t.Errorf("to %q: problem %q, want ok=%v", tt.to, p, tt.ok)
		}
	}
}

// TestForwarderPatternsInStep: fleet.cue states the patterns of rules_forwarders.go.
func TestForwarderPatternsInStep(t *testing.T) {
	_, v := schemaValue(t)
	for _, tt := range []struct{ def, goPattern string }{
		{"#ForwarderLocal", forwarderLocalPattern},
		{"#ForwarderAddr", forwarderAddrPattern},
		{"#ForwarderSystem", forwarderSystemPattern},
		{"#ForwarderPipe", forwarderPipePattern},
	} {
		got, err := v.LookupPath(cue.ParsePath(tt.def)).String()
		if err != nil {
			t.Fatalf("%s: %v", tt.def, err)
		}
		if got != tt.goPattern {
			t.Errorf("%s differs from the Go pattern:\nCUE: %s\nGo:  %s", tt.def, got, tt.goPattern)
		}
	}
}

// TestLocalForwarders: what the schema accepts is compared as the servers list it.
func TestLocalForwarders(t *testing.T) {
	tests := []struct {
		name string
		in   []Forwarder
		want []Forwarder
	}{
		{"local parts unchanged", []Forwarder{{From: "sales", To: "a@example.org"}}, []Forwarder{{From: "sales", To: "a@example.org"}}},
		{"own domain dropped", []Forwarder{{From: "sales@alice.example", To: "a@example.org"}}, []Forwarder{{From: "sales", To: "a@example.org"}}},
		{"own domain in capitals", []Forwarder{{From: " Sales@ALICE.Example ", To: "a@example.org"}}, []Forwarder{{From: "Sales", To: "a@example.org"}}},
		{"bare fail", []Forwarder{{From: "gone", To: " :fail: "}}, []Forwarder{{From: "gone", To: ":fail: " + DefaultFailMessage}}},
		{"fail with a message", []Forwarder{{From: "gone", To: ":fail: Moved"}}, []Forwarder{{From: "gone", To: ":fail: Moved"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Account{Domain: "alice.example", Forwarders: tt.in}
			got := a.LocalForwarders()
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
