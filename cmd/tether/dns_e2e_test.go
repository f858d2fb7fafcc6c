package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/providers/rfc2136"
	"github.com/tether-dev/tether/schema"
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

// Removing a member from the fleet: with pruning off it is reported, never removed,
// and the plan says what it keeps doing; with pruning on its removal is planned with
// its warning in words, applied, and the remaining servers still answer as the fleet
// implies.
func TestDNSMemberRemoval(t *testing.T) {
	e := quickstartEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")
	e.edit(t, "      ns2: {node: ns2, role: write-only}   # only receives web1's zones\n", "")

	r := e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 0, "Unmanaged (on the servers, not changed):",
		"dns.web1.member.ns2: in the DNS cluster of web1, not in the fleet; left alone (policy.prune is off): it stays a write-only member and keeps receiving web1's zones; with policy.prune: true its removal is planned")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! Nothing to change.")
	// Still in the cluster: it still answers, and is still written to by web1.
	r = e.run(t, "plan", "--format", "json", e.fleet)
	expect(t, r, 0, `"address": "dns.web1.member.ns2"`)

	e.edit(t, "dnsClusters:", "policy: {prune: true}\n\ndnsClusters:")
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 2, "- dns.web1.member.ns2", "! destructive",
		"! ns2 stops synchronising with the cluster of web1",
		"! records held only by ns2 will no longer exist on ns1, web1",
		"Plan: 0 to create, 0 to change, 1 to remove.")
	r = e.run(t, "plan", "--format", "markdown", e.fleet)
	expect(t, r, 0, "#### Risky changes (1)", "records held only by ns2 will no longer exist on ns1, web1")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! 0 created, 0 changed, 1 removed.", "DNS OK: 2 server(s)")
	e.assertConverged(t)
	inv, err := e.state(t).Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv["dns.web1.member.ns2"]; ok {
		t.Error("a removed member stays in the inventory")
	}
}

// bindMember is a real named serving every zone the fleet's accounts and resellers
// imply, as the rfc2136 README asks an operator to prepare it (SOA and NS only).
type bindMember struct {
	name, role, env string
	n               *bindtest.Named
}

func fleetZones(t *testing.T, path string) []string {
	t.Helper()
	f, ds, err := schema.Load(path)
	if err != nil || len(ds) > 0 {
		t.Fatalf("load %s: %v %v", path, err, ds)
	}
	var out []string
	for _, a := range f.Accounts {
		out = append(out, a.Domain)
	}
	for _, r := range f.Resellers {
		out = append(out, r.Domain)
	}
	sort.Strings(out)
	return out
}

func startBIND(t *testing.T, e env, name, role string) bindMember {
	t.Helper()
	zones := map[string]string{}
	for _, z := range fleetZones(t, e.fleet) {
		zones[z] = ""
	}
	m := bindMember{name: name, role: role, env: strings.ToUpper(name) + "_TSIG_SECRET", n: bindtest.Start(t, zones, bindtest.Options{})}
	t.Setenv(m.env, m.n.Secret)
	return m
}

func (m bindMember) yaml(addr string) string {
	if addr == "" {
		addr = m.n.Addr
	}
	return fmt.Sprintf("      %s:\n        backend: rfc2136\n        host: %s.example.test\n        address: %s\n        software: bind\n        role: %s\n        tsig: {name: tether, algorithm: hmac-sha256, secretEnv: %s}\n",
		m.name, m.name, addr, m.role, m.env)
}

const ns2Line = "      ns2: {node: ns2, role: write-only}   # only receives web1's zones\n"

// addMembers puts the BIND members into the quickstart's cluster of web1.
func addMembers(t *testing.T, e env, ms ...bindMember) {
	t.Helper()
	var b strings.Builder
	b.WriteString(ns2Line)
	for _, m := range ms {
		b.WriteString(m.yaml(""))
	}
	e.edit(t, ns2Line, b.String())
}

func serials(t *testing.T, zones []string, ms ...bindMember) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for _, m := range ms {
		for _, z := range zones {
			s, err := m.n.Serial(z)
			if err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
			out[m.name+" "+z] = s
		}
	}
	return out
}

// digA asks named for name's A records with the real dig when it is installed, and
// always with a miekg query; both must agree.
func digA(t *testing.T, m bindMember, name string) []string {
	t.Helper()
	got := lookup(t, m.n.Addr, name, dns.TypeA)
	bin, err := exec.LookPath("dig")
	if err != nil {
		return got
	}
	out, err := exec.Command(bin, "@127.0.0.1", "-p", strconv.Itoa(m.n.Port), "+short", "+time=2", "+tries=1", name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s @%s: %v: %s", name, m.n.Addr, err, out)
	}
	if d := strings.Fields(string(out)); strings.Join(d, ",") != strings.Join(got, ",") {
		t.Fatalf("dig %s @%s says %v, a miekg query %v", name, m.n.Addr, d, got)
	}
	return got
}

func noSecrets(t *testing.T, r result, ms ...bindMember) {
	t.Helper()
	for _, m := range ms {
		if strings.Contains(r.stdout+r.stderr, m.n.Secret) {
			t.Fatalf("the TSIG secret of %s was printed", m.name)
		}
	}
}

// A real BIND as a sync member and another as a write-only member of the
// quickstart's cluster: both converge on apply, a second apply sends no UPDATE (no
// SOA serial moves), and after an account's mail moves to mail2, dig against each
// returns mail2's address.
func TestDNSBINDMembersConverge(t *testing.T) {
	e := quickstartEnv(t)
	sync, wo := startBIND(t, e, "bind1", "sync"), startBIND(t, e, "bind2", "write-only")
	addMembers(t, e, sync, wo)
	zones := fleetZones(t, e.fleet)

	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "+ dns.web1.member.bind1", "+ dns.web1.member.bind2", "Apply complete!", "DNS OK: 5 server(s)")
	noSecrets(t, r, sync, wo)
	for _, m := range []bindMember{sync, wo} {
		if got := digA(t, m, "mail.alice.example"); !only(got, "192.0.2.20") {
			t.Errorf("%s: mail.alice.example = %v, want mail1's 192.0.2.20", m.name, got)
		}
	}
	before := serials(t, zones, sync, wo)
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! Nothing to change.")
	if after := serials(t, zones, sync, wo); !maps.Equal(before, after) {
		t.Fatalf("a second apply moved SOA serials (UPDATE sent):\nbefore %v\nafter  %v", before, after)
	}

	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "account.frank", "dns.web1.member.bind1", "dns.web1.member.bind2", "Apply complete!", "DNS OK: 5 server(s)")
	noSecrets(t, r, sync, wo)
	for _, m := range []bindMember{sync, wo} {
		for _, name := range []string{"mail.frank.example", "webmail.frank.example"} {
			if got := digA(t, m, name); !only(got, "192.0.2.21") {
				t.Errorf("%s: %s = %v, want mail2's 192.0.2.21", m.name, name, got)
			}
		}
		if got := lookup(t, m.n.Addr, "frank.example", dns.TypeMX); !only(got, "192.0.2.21") {
			t.Errorf("%s: frank.example MX -> %v, want mail2", m.name, got)
		}
	}
	moved := serials(t, zones, sync, wo)
	for k, v := range moved {
		if strings.HasSuffix(k, " frank.example") != (v != before[k]) {
			t.Errorf("%s: serial %d -> %d: only frank.example should have been updated", k, before[k], v)
		}
	}
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete! Nothing to change.")
	if again := serials(t, zones, sync, wo); !maps.Equal(moved, again) {
		t.Fatalf("an apply with nothing to do moved serials:\nbefore %v\nafter  %v", moved, again)
	}
	expect(t, e.run(t, "dns", "verify", e.fleet), 0, "DNS OK: 5 server(s)")

	// The write-only member leaves the fleet: kept and reported with pruning off,
	// removed with its warning once pruning is on; its zones stay on the nameserver.
	e.edit(t, wo.yaml(""), "")
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 0, "dns.web1.member.bind2: in the DNS cluster of web1, not in the fleet; left alone (policy.prune is off): it stays in the cluster, but Tether no longer updates it; with policy.prune: true its removal is planned")
	e.edit(t, "dnsClusters:", "policy: {prune: true}\n\ndnsClusters:")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "- dns.web1.member.bind2", "! records held only by bind2 will no longer exist on bind1, ns1, ns2, web1",
		"! Tether stops updating bind2; the zones on it are left as they are", "Apply complete! 0 created, 0 changed, 1 removed.", "DNS OK: 4 server(s)")
	if h, err := (rfc2136.StateStore{State: e.state(t)}).AllHealth(context.Background()); err != nil || len(h) != 1 {
		t.Fatalf("state after removing bind2: %v, %v (only bind1 is kept)", h, err)
	}
	if got := digA(t, wo, "mail.frank.example"); !only(got, "192.0.2.21") {
		t.Errorf("a removed member's zones were emptied: mail.frank.example = %v", got)
	}
	e.assertConverged(t)
}

// closedAddr is a loopback address nothing listens on. On 127.0.0.1 a freed port
// was sometimes taken at once by another package's named or sandbox (the member
// then answered BADKEY instead of being unreachable), so Linux, which answers all
// of 127/8, uses an address no other test binds; elsewhere 127.0.0.1 remains.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.66.0.1:0")
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (e env) health(t *testing.T, member string) rfc2136.Health {
	t.Helper()
	h, err := rfc2136.StateStore{State: e.state(t)}.Health(member)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A write-only BIND member pointed at a closed port fails every command; past the
// fleet's threshold N it is disabled after N+1 consecutive failures, stays disabled
// in later runs (each command is a new process's worth of state) even once its
// address is right again, is skipped by dns verify with a note, and comes back only
// with `tether dns enable`, after which the next apply resynchronises it.
func TestDNSMemberDisabledAfterThresholdUntilEnabled(t *testing.T) {
	const threshold = 2
	e := quickstartEnv(t)
	e.edit(t, "failureThreshold: 10", fmt.Sprintf("failureThreshold: %d", threshold))
	sync, wo := startBIND(t, e, "bind1", "sync"), startBIND(t, e, "bind2", "write-only")
	addMembers(t, e, sync, wo)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 5 server(s)")
	served := serials(t, []string{"frank.example"}, wo)

	// bind2 goes away (its address now points at nothing) while frank's mail moves:
	// every apply has a zone to push to it.
	gone := closedAddr(t)
	e.edit(t, "address: "+wo.n.Addr, "address: "+gone)
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	var runs int
	for h := (rfc2136.Health{}); !h.Disabled; h = e.health(t, "web1/bind2") {
		if runs++; runs > threshold+1 {
			t.Fatalf("bind2 not disabled after %d applies: %+v", runs-1, h)
		}
		if h.ConsecutiveFailures > threshold {
			t.Fatalf("bind2 has %d consecutive failures, over the threshold %d, and is not disabled", h.ConsecutiveFailures, threshold)
		}
		r := e.run(t, "apply", "--auto-approve", e.fleet)
		expect(t, r, 1, "Apply incomplete:", "failed", "✗ update dns.web1.member.bind2 on bind2", "member bind2 ("+gone+")", "zone frank.example", "unreachable")
		noSecrets(t, r, sync, wo)
	}
	h := e.health(t, "web1/bind2")
	if h.ConsecutiveFailures != threshold+1 || h.DisabledAt.IsZero() || !strings.Contains(h.LastError, "unreachable") {
		t.Fatalf("disabled with %+v, want %d consecutive failures", h, threshold+1)
	}
	if e.health(t, "web1/bind1").ConsecutiveFailures != 0 {
		t.Error("the healthy member's failures were counted")
	}

	// Its address is right again, but it stays out: planned for nothing, sent nothing.
	e.edit(t, "address: "+gone, "address: "+wo.n.Addr)
	for range 2 {
		r := e.run(t, "apply", "--auto-approve", e.fleet)
		expect(t, r, 0, "DNS member bind2 of web1 is disabled after too many failed commands; it stays out of the cluster until `tether dns enable bind2`")
		if strings.Contains(r.stdout, "dns.web1.member.bind2 will") {
			t.Fatalf("a change was planned for a disabled member:\n%s", r.stdout)
		}
	}
	if got := serials(t, []string{"frank.example"}, wo); !maps.Equal(got, served) {
		t.Fatalf("a disabled member was written to: serials %v -> %v", served, got)
	}
	if got := digA(t, wo, "mail.frank.example"); !only(got, "192.0.2.10") {
		t.Fatalf("disabled bind2 answers mail.frank.example = %v; it was never updated, so the parent's", got)
	}
	r := e.run(t, "dns", "verify", e.fleet)
	expect(t, r, 0, "skipped bind2: disabled after 3 consecutive failed commands, not asked (re-enable: tether dns enable bind2)", "DNS OK: 4 server(s)")

	r = e.run(t, "dns", "enable", "bind2", "--fleet", e.fleet)
	expect(t, r, 0, "web1/bind2 enabled (it was disabled after 3 consecutive failed commands); the next apply resynchronises it")
	if h := e.health(t, "web1/bind2"); h.Disabled || h.ConsecutiveFailures != 0 || !h.NeedsResync {
		t.Fatalf("after enable: %+v", h)
	}
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 2, "dns.web1.member.bind2", "resynchronised to it before it is trusted")
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete!", "DNS OK: 5 server(s)")
	if got := digA(t, wo, "mail.frank.example"); !only(got, "192.0.2.21") {
		t.Fatalf("resynchronised bind2 answers mail.frank.example = %v, want mail2", got)
	}
	if h := e.health(t, "web1/bind2"); h.NeedsResync || h.Disabled {
		t.Fatalf("after the resync: %+v", h)
	}
	e.assertConverged(t)
}

// A cpanel member that WHM disabled (ns2 offline while web1's zones changed, past a
// threshold of 1) stays out until `tether dns enable ns2`, which applies a one-change
// plan through WHM's enable screen; WHM then resynchronises it.
func TestDNSEnableCPanelMemberThroughWHM(t *testing.T) {
	e := quickstartEnv(t)
	e.edit(t, "failureThreshold: 10", "failureThreshold: 1")
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!", "DNS OK: 3 server(s)")
	sb := servedSandbox(t, e)

	if err := sb.SetFaults("ns2", sandbox.Faults{Offline: true}); err != nil {
		t.Fatal(err)
	}
	e.edit(t, "contactEmail: frank@example.org", "contactEmail: frank@example.org\n    mail: {node: mail2}")
	// ns2 cannot be read either: apply refuses the incomplete plan, and with
	// --partial does the rest and says what it could not read.
	expect(t, e.run(t, "apply", "--auto-approve", "--no-verify", e.fleet), 1, "--partial: the plan is incomplete: 1 part(s) of the fleet could not be read (ns2)", "Nothing was applied. To apply it anyway, add --partial.")
	expect(t, e.run(t, "apply", "--auto-approve", "--partial", "--no-verify", e.fleet), 1, "Apply complete! 0 created, 1 changed", "observe ns2")
	// A full replication is a second command to ns2, should the zone change alone not
	// have passed the threshold; once disabled, WHM does not even try.
	_ = sb.ReplicateDNS(context.Background())
	// Back online, but WHM keeps it out.
	if err := sb.SetFaults("ns2", sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 0, "DNS member ns2 of web1 is disabled after too many failed commands; it stays out of the cluster until `tether dns enable ns2`")
	r = e.run(t, "dns", "enable", "ns2", "--fleet", e.fleet)
	expect(t, r, 0, "^ dns.web1.member.ns2", "disabled = true → false", "Apply complete! 0 created, 1 changed, 0 removed.")
	r = e.run(t, "plan", "--detailed-exitcode", e.fleet)
	expect(t, r, 0, "No changes.")
	if strings.Contains(r.stdout, "is disabled") {
		t.Fatalf("ns2 still disabled after dns enable:\n%s", r.stdout)
	}
	// Enabling an enabled member changes nothing and says so.
	expect(t, e.run(t, "dns", "enable", "ns2", "--fleet", e.fleet), 0, "DNS member ns2 of web1 is not disabled; nothing to enable")
	expect(t, e.run(t, "dns", "enable", "ns2", "--format", "json", "--fleet", e.fleet), 0, `"where": "whm"`, `"was_disabled": false`, "nothing to enable")
	if err := sb.ReplicateDNS(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, e.run(t, "dns", "verify", e.fleet), 0, "DNS OK: 3 server(s)")
}
