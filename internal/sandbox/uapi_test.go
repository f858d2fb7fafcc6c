package sandbox

import (
	"net/url"
	"slices"
	"testing"
)

// uapiStatus calls a UAPI Email function through uapi_cpanel on node and returns the
// UAPI status and errors (the WHM call itself must succeed).
func (s *testSB) uapiStatus(node, user, fn string, kv ...string) (int, []string) {
	s.t.Helper()
	e := s.must(node, "uapi_cpanel", append([]string{"cpanel.user", user, "cpanel.module", "Email", "cpanel.function", fn}, kv...)...)
	var d struct {
		UAPI struct {
			Status int      `json:"status"`
			Errors []string `json:"errors"`
		} `json:"uapi"`
	}
	e.decode(s.t, &d)
	return d.UAPI.Status, d.UAPI.Errors
}

// TestForwardersFollowMail: forwarders live where the account's mail is. Calls go to
// the parent, which sends them on to the mail child of a distributed account; the
// forwarders move with the mail when it is distributed, moved between children and
// brought back; a distributed account refuses a pipe to a program.
func TestForwardersFollowMail(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.link("web1", "mail2", "mail2")
	s.must("web1", "createacct", "username", "carol", "domain", "carol.example")
	add := func(kv ...string) {
		t.Helper()
		if st, errs := s.uapiStatus("web1", "carol", "add_forwarder", kv...); st != 1 {
			t.Fatalf("add_forwarder %v: status %d %v", kv, st, errs)
		}
	}
	add("domain", "carol.example", "email", "sales@carol.example", "fwdopt", "fwd", "fwdemail", "boss@example.org")
	add("domain", "carol.example", "email", "jobs", "fwdopt", "pipe", "pipefwd", "/home/carol/jobs.pl")
	want := []string{"jobs@carol.example |/home/carol/jobs.pl", "sales@carol.example boss@example.org"}
	if got := s.Forwarders("web1", "carol"); !slices.Equal(got, want) {
		t.Fatalf("on the parent: %v, want %v", got, want)
	}
	// The pipe must go before the account can be distributed without rule debt; the
	// sandbox still moves what is there.
	if st, errs := s.uapiStatus("web1", "carol", "delete_forwarder", "address", "jobs@carol.example", "forwarder", "|/home/carol/jobs.pl"); st != 1 {
		t.Fatalf("delete_forwarder: %d %v", st, errs)
	}
	want = want[1:]

	steps := []struct{ to, holder string }{{"mail1", "mail1"}, {"mail2", "mail2"}, {".local", "web1"}}
	for _, step := range steps {
		s.must("web1", "modifyacct", "user", "carol", "mail_node_alias", step.to)
		s.waitIdle()
		if got := s.Forwarders(step.holder, "carol"); !slices.Equal(got, want) {
			t.Fatalf("mail on %s: forwarders there %v, want %v", step.holder, got, want)
		}
		if step.holder != "web1" {
			if got := s.Forwarders("web1", "carol"); len(got) != 0 {
				t.Errorf("mail on %s: the parent still holds %v", step.holder, got)
			}
			// Through the parent, the child's forwarders.
			e := s.must("web1", "uapi_cpanel", "cpanel.user", "carol", "cpanel.module", "Email", "cpanel.function", "list_forwarders", "domain", "carol.example")
			var d struct {
				UAPI struct {
					Data     []struct{ Dest, Forward string } `json:"data"`
					Metadata struct {
						ProxiedFrom []string `json:"proxied_from"`
					} `json:"metadata"`
				} `json:"uapi"`
			}
			e.decode(t, &d)
			if len(d.UAPI.Data) != 1 || d.UAPI.Data[0].Dest != "sales@carol.example" || !slices.Equal(d.UAPI.Metadata.ProxiedFrom, []string{step.holder + ".example.net"}) {
				t.Errorf("mail on %s: list through the parent: %s", step.holder, e.Raw)
			}
			st, errs := s.uapiStatus("web1", "carol", "add_forwarder", "domain", "carol.example", "email", "jobs", "fwdopt", "pipe", "pipefwd", "/home/carol/jobs.pl")
			if st != 0 || len(errs) == 0 {
				t.Errorf("mail on %s: a pipe was accepted (status %d)", step.holder, st)
			}
			// Called directly, the child refuses: the parent must send it.
			s.refused("Send this request to the account’s parent node", step.holder, "uapi_cpanel", "cpanel.user", "carol", "cpanel.module", "Email", "cpanel.function", "list_forwarders", "domain", "carol.example")
		}
	}
}

// TestRecordObserveForwarders records what a parent answers to the provider's batch
// of forwarder reads for the accounts of testdata/whm/observe (alice, dave and the
// reseller bob, all with mail on mail1), in the provider's order:
// testdata/whm/observe/web1/batch.uapi_cpanel.json, replayed by providers/whm's
// TestObserveRecorded. dave holds a pipe to a program, written by hand (TETHER-L09
// debt on the server).
func TestRecordObserveForwarders(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	for _, a := range []struct{ user, domain string }{{"alice", "alice.example"}, {"bob", "bob-hosting.example"}, {"dave", "dave.example"}} {
		s.must("web1", "createacct", "username", a.user, "domain", a.domain, "mail_node_alias", "mail1")
	}
	s.waitIdle()
	if st, errs := s.uapiStatus("web1", "alice", "add_forwarder", "domain", "alice.example", "email", "sales", "fwdopt", "fwd", "fwdemail", "alice@example.org"); st != 1 {
		t.Fatalf("add_forwarder: %v", errs)
	}
	if err := s.AddForwarder("mail1", "dave", "jobs@dave.example", "|/home/dave/jobs.pl"); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, a := range []struct{ user, domain string }{{"alice", "alice.example"}, {"dave", "dave.example"}, {"bob", "bob-hosting.example"}} {
		q := url.Values{"cpanel.user": {a.user}, "cpanel.module": {"Email"}, "cpanel.function": {"list_forwarders"}, "domain": {a.domain}}
		cmds = append(cmds, "command", "uapi_cpanel?"+q.Encode())
	}
	record(t, "observe/web1/batch.uapi_cpanel", s.must("web1", "batch", cmds...))
	// The parent's DNS cluster is on, so the provider asks which zones are signed; a
	// BIND server (the sandbox's default) refuses (Cpanel/DNSSEC.pm).
	record(t, "observe/web1/fetch_ds_records_for_domains", s.refused("only supported on servers configured with PowerDNS", "web1", "fetch_ds_records_for_domains",
		"domain", "alice.example", "domain-1", "bob-hosting.example", "domain-2", "carol.example", "domain-3", "dave.example"))
}
