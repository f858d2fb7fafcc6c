package dnsverify

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

// serve answers from a fixed record list, like an authoritative member would.
func serve(t *testing.T, records ...string) string {
	t.Helper()
	var rrs []dns.RR
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		found := false
		for _, rr := range rrs {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				found = true
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func fleet() *schema.Fleet {
	return &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"web1":  {Role: "parent", IPv4: "192.0.2.10"},
			"mail1": {Role: "child", Parent: "web1", IPv4: "192.0.2.20"},
		},
		Accounts: map[string]*schema.Account{
			"alice": {Parent: "web1", Domain: "alice.example", Mail: &schema.MailPlacement{Node: "mail1"}},
		},
	}
}

func TestVerify(t *testing.T) {
	good := serve(t,
		"alice.example. 300 IN A 192.0.2.10",
		"www.alice.example. 300 IN CNAME alice.example.",
		"mail.alice.example. 300 IN A 192.0.2.20",
		"webmail.alice.example. 300 IN A 192.0.2.20",
		"alice.example. 300 IN MX 0 mail.alice.example.",
	)
	stale := serve(t, // mail still on the parent: distribution did not reach this member
		"alice.example. 300 IN A 192.0.2.10",
		"www.alice.example. 300 IN A 192.0.2.10",
		"mail.alice.example. 300 IN A 192.0.2.10",
		"webmail.alice.example. 300 IN A 192.0.2.10",
		"alice.example. 300 IN MX 0 mail.alice.example.",
	)
	ctx := context.Background()
	if got := Verify(ctx, fleet(), []Target{{"ns1", good, nil}}, Options{}); len(got) != 0 {
		t.Fatalf("good member reported: %v", got)
	}
	got := Verify(ctx, fleet(), []Target{{"ns1", good, nil}, {"ns2", stale, nil}}, Options{})
	var lines []string
	for _, m := range got {
		lines = append(lines, m.String())
	}
	want := []string{
		"ns2: alice.example. MX: got mail.alice.example. → 192.0.2.10, want 192.0.2.20 (mail distributed to mail1)",
		"ns2: mail.alice.example. A: got 192.0.2.10, want 192.0.2.20 (mail distributed to mail1)",
		"ns2: webmail.alice.example. A: got 192.0.2.10, want 192.0.2.20 (mail distributed to mail1)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("mismatches:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestVerifyUnreachableMemberFails(t *testing.T) {
	// A port nothing listens on: every name must be reported, none passes silently.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	got := Verify(context.Background(), fleet(), []Target{{"gone", addr, nil}}, Options{Timeout: 200 * time.Millisecond})
	if len(got) != len(Expectations(fleet())) {
		t.Fatalf("got %d mismatches, want one per expectation (%d): %v", len(got), len(Expectations(fleet())), got)
	}
}

// Each server is asked only about the zones it holds: a parent about its own
// accounts, a cluster member about its cluster's parent's. Two parents without a
// cluster answer REFUSED for each other's zones; that is no mismatch.
func TestVerifyAsksEachServerItsOwnZones(t *testing.T) {
	f := fleet()
	f.Nodes["web2"] = &schema.Node{Role: schema.RoleParent, IPv4: "192.0.2.11"}
	f.Accounts["bea"] = &schema.Account{Parent: "web2", Domain: "bea.example"}
	web1 := serve(t,
		"alice.example. 300 IN A 192.0.2.10",
		"www.alice.example. 300 IN A 192.0.2.10",
		"mail.alice.example. 300 IN A 192.0.2.20",
		"webmail.alice.example. 300 IN A 192.0.2.20",
		"alice.example. 300 IN MX 0 mail.alice.example.",
	)
	web2 := serve(t,
		"bea.example. 300 IN A 192.0.2.11",
		"www.bea.example. 300 IN A 192.0.2.11",
		"mail.bea.example. 300 IN A 192.0.2.11",
		"webmail.bea.example. 300 IN A 192.0.2.11",
		"bea.example. 300 IN MX 0 mail.bea.example.",
	)
	ctx := context.Background()
	targets := []Target{{"web1 (parent)", web1, []string{"web1"}}, {"web2 (parent)", web2, []string{"web2"}}}
	if got := Verify(ctx, f, targets, Options{}); len(got) != 0 {
		t.Fatalf("scoped servers reported: %v", got)
	}
	if n := Checks(Expectations(f), targets); n != 10 {
		t.Errorf("%d checks, want 5 per server", n)
	}
	// Asked about everything, each parent fails the other's names: the old report.
	if got := Verify(ctx, f, []Target{{"web1 (parent)", web1, nil}, {"web2 (parent)", web2, nil}}, Options{}); len(got) != 10 {
		t.Errorf("unscoped: %d mismatches, want 10: %v", len(got), got)
	}
}
