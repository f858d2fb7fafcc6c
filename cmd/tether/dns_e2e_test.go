package main

import (
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/sandbox"
)

// quickstartEnv is the quickstart fleet in a temporary folder.
func quickstartEnv(t *testing.T) env {
	t.Helper()
	b, err := os.ReadFile("../../examples/quickstart/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.write(t, string(b))
	return e
}

// lookup asks one nameserver directly; it returns the A addresses of name, or for MX
// the addresses of the exchanges (from the additional section or a second query).
func lookup(t *testing.T, server, name string, qtype uint16) []string {
	t.Helper()
	c := &dns.Client{Timeout: 2 * time.Second}
	ask := func(n string, qt uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(n), qt)
		r, _, err := c.Exchange(m, server)
		if err != nil {
			t.Fatalf("query %s %s @%s: %v", n, dns.TypeToString[qt], server, err)
		}
		return r
	}
	var out []string
	r := ask(name, qtype)
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.MX:
			for _, a := range ask(v.Mx, dns.TypeA).Answer {
				if a, ok := a.(*dns.A); ok {
					out = append(out, a.A.String())
				}
			}
		}
	}
	return out
}

// only reports whether every answer is want, and there is one.
func only(got []string, want string) bool {
	for _, g := range got {
		if g != want {
			return false
		}
	}
	return len(got) > 0
}

// The quickstart applied, then one account's mail distributed to mail2: every
// nameserver of web1's cluster (and web1 itself) answers mail., webmail. and MX with
// mail2's address, as dns verify and direct queries agree.
func TestDNSDistributionMovesMailOnEveryMember(t *testing.T) {
	e := quickstartEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 3 server(s)")
	expect(t, e.run(t, "dns", "verify", e.fleet), 0, "DNS OK: 3 server(s)")

	// Served from this process, so its nameservers stay up to be asked afterwards.
	servedSandbox(t, e)
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "account.frank", "Apply complete!", "DNS OK: 3 server(s)")
	expect(t, e.run(t, "dns", "verify", e.fleet), 0, "DNS OK: 3 server(s)")

	eps, err := sandbox.ReadEndpoints(e.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	const mail2 = "192.0.2.21"
	for _, node := range []string{"web1", "ns1", "ns2"} {
		addr := eps.Nodes[node].DNS
		if addr == "" {
			t.Fatalf("%s serves no DNS in the sandbox", node)
		}
		for _, q := range []struct {
			name string
			typ  uint16
		}{{"mail.frank.example", dns.TypeA}, {"webmail.frank.example", dns.TypeA}, {"frank.example", dns.TypeMX}} {
			if got := lookup(t, addr, q.name, q.typ); !only(got, mail2) {
				t.Errorf("%s: %s %s = %v, want %s", node, q.name, dns.TypeToString[q.typ], got, mail2)
			}
		}
		if got := lookup(t, addr, "www.frank.example", dns.TypeA); !only(got, "192.0.2.10") {
			t.Errorf("%s: www.frank.example = %v, want the parent", node, got)
		}
	}
	e.assertConverged(t)
}

func TestDNSExploreRemoval(t *testing.T) {
	e := quickstartEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
	e.edit(t, "      ns2: {node: ns2, role: write-only}   # only receives web1's zones\n", "")
	r := e.run(t, "plan", e.fleet)
	t.Logf("prune off:\n%s\n%s", r.stdout, r.stderr)
	e.edit(t, "dnsClusters:", "policy: {prune: true}\n\ndnsClusters:")
	r = e.run(t, "plan", e.fleet)
	t.Logf("prune on:\n%s\n%s", r.stdout, r.stderr)
	r = e.run(t, "plan", "--format", "markdown", e.fleet)
	t.Logf("prune on:\n%s\n%s", r.stdout, r.stderr)
}
