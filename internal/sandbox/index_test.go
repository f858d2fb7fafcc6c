package sandbox

import (
	"fmt"
	"testing"
)

// The domain index and the exact listaccts lookups that use it follow accounts
// through creation, a domain change, a rename, removal, state seeded behind the
// index's back, and a restart: every step is checked against the answer of a full
// (regex) listing, which never uses the index.
func TestExactLookupsFollowAccounts(t *testing.T) {
	s := startTest(t, "")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")

	listed := func(searchtype, search, method string) []string {
		t.Helper()
		e := s.call("web1", "listaccts", "searchtype", searchtype, "search", search, "searchmethod", method, "want", "user,domain")
		if !e.ok() || len(e.Data) == 0 {
			return nil
		}
		var d struct {
			Acct []acct `json:"acct"`
		}
		e.decode(t, &d)
		var out []string
		for _, a := range d.Acct {
			out = append(out, a.User+"@"+a.Domain)
		}
		return out
	}
	// exact answers what a full scan answers: the regex search anchored the same way.
	same := func(step, searchtype, search string) {
		t.Helper()
		got := fmt.Sprint(listed(searchtype, search, "exact"))
		want := fmt.Sprint(listed(searchtype, "^"+search+"$", "regex"))
		if searchtype == "domain" && search != "" {
			// regex search is case-insensitive; exact is not.
			if got != want && !(got == "[]" && search != lower(search)) {
				t.Errorf("%s: exact %s %q = %s, regex = %s", step, searchtype, search, got, want)
			}
			return
		}
		if got != want {
			t.Errorf("%s: exact %s %q = %s, regex = %s", step, searchtype, search, got, want)
		}
	}

	steps := []struct {
		name string
		do   func()
		user string // looked up by user and domain after the step
		dom  string
		want string // exact user lookup answer
	}{
		{"created", func() {}, "alice", "alice.example", "[alice@alice.example]"},
		{"duplicate domain refused", func() {
			s.refused("already exists", "web1", "createacct", "username", "carol", "domain", "alice.example")
		}, "carol", "alice.example", "[]"},
		{"domain changed", func() { s.must("web1", "modifyacct", "user", "alice", "domain", "alice2.example") },
			"alice", "alice2.example", "[alice@alice2.example]"},
		{"old domain is free", func() {
			s.must("web1", "createacct", "username", "carol", "domain", "alice.example")
		}, "carol", "alice.example", "[carol@alice.example]"},
		{"renamed", func() { s.must("web1", "modifyacct", "user", "bob", "newuser", "bobby") },
			"bobby", "bob.example", "[bobby@bob.example]"},
		{"removed", func() { s.must("web1", "removeacct", "username", "carol") }, "carol", "alice.example", "[]"},
		{"seeded behind the index", func() {
			n := s.nodeByName("web1")
			n.mu.Lock()
			n.st.Accounts["dave"] = &account{User: "dave", Domain: "dave.example", Owner: "root", Plan: "default", IP: n.st.IPv4}
			n.markDirty()
			n.mu.Unlock()
			s.refused("already exists", "web1", "createacct", "username", "erin", "domain", "dave.example")
		}, "dave", "dave.example", "[dave@dave.example]"},
		{"case of the domain", func() {}, "alice", "ALICE2.example", "[alice@alice2.example]"},
	}
	// One test, not subtests: the helpers fail the test they were started with.
	for _, st := range steps {
		st.do()
		if got := fmt.Sprint(listed("user", st.user, "exact")); got != st.want {
			t.Errorf("%s: exact user %s = %s, want %s", st.name, st.user, got, st.want)
		}
		same(st.name, "user", st.user)
		same(st.name, "domain", st.dom)
		same(st.name, "domain", "missing.example")
	}

	// A restart rebuilds the index from the state file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startTest(t, s.dir)
	s2.refused("already exists", "web1", "createacct", "username", "frank", "domain", "alice2.example")
	if a := s2.account("web1", "bobby"); a == nil || a.Domain != "bob.example" {
		t.Errorf("after restart bobby = %+v", a)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
