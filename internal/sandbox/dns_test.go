package sandbox

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// lookup asks a node's nameserver for name/qtype and returns the answers as text
// (A addresses, MX hosts), or nil with NXDOMAIN/REFUSED.
func (s *testSB) lookup(node, name string, qtype uint16) []string {
	s.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, s.eps.Nodes[node].DNS)
	if err != nil {
		s.t.Fatalf("dns query %s on %s: %v", name, node, err)
	}
	var out []string
	for _, rr := range r.Answer {
		switch x := rr.(type) {
		case *dns.A:
			out = append(out, x.A.String())
		case *dns.MX:
			out = append(out, x.Mx)
		case *dns.CNAME:
			out = append(out, x.Target)
		}
	}
	return out
}

func lastA(ans []string) string {
	if len(ans) == 0 {
		return ""
	}
	return ans[len(ans)-1]
}

// TestMailFollowsDistribution: mail. and webmail. of a distributed account resolve to
// the child, and back to the parent after dedistribution, as a DNS client sees it.
func TestMailFollowsDistribution(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	if got := lastA(s.lookup("web1", "mail.alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("mail.alice.example before distribution = %q", got)
	}
	s.must("web1", "modifyacct", "user", "alice", "mail_node_alias", "mail1")
	s.waitIdle()
	for _, name := range []string{"mail.alice.example", "webmail.alice.example"} {
		if got := lastA(s.lookup("web1", name, dns.TypeA)); got != "192.0.2.20" {
			t.Fatalf("%s after distribution = %q, want the child's 192.0.2.20", name, got)
		}
	}
	if got := lastA(s.lookup("web1", "alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("the apex moved with the mail: %q", got)
	}
	s.must("web1", "modifyacct", "user", "alice", "mail_node_alias", ".local")
	s.waitIdle()
	if got := lastA(s.lookup("web1", "mail.alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("mail.alice.example after dedistribution = %q", got)
	}
	// createacct with a mail node writes the zone pointing at the child at once.
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example", "mail_node_alias", "mail1")
	if got := lastA(s.lookup("web1", "webmail.bob.example", dns.TypeA)); got != "192.0.2.20" {
		t.Fatalf("webmail.bob.example = %q", got)
	}
	// Forced dedistribution fixes DNS at once.
	s.must("web1", "force_dedistribution_from_node", "node_alias", "mail1", "user", "bob")
	if got := lastA(s.lookup("web1", "mail.bob.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("mail.bob.example after forced dedistribution = %q", got)
	}
	// removeacct removes the zone.
	s.must("web1", "removeacct", "username", "bob")
	if got := s.lookup("web1", "bob.example", dns.TypeA); len(got) != 0 {
		t.Fatalf("zone of a removed account still answers: %v", got)
	}
	// A renamed domain moves its zone.
	s.must("web1", "modifyacct", "user", "alice", "domain", "alice.example.org")
	if got := lastA(s.lookup("web1", "alice.example.org", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("renamed zone = %q", got)
	}
}

func TestZoneFunctions(t *testing.T) {
	s := startTest(t, "")
	rec := func(name string, e *env) { record(t, name, e) }
	rec("listzones.empty", s.must("web1", "listzones"))
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	e := s.must("web1", "listzones")
	rec("listzones", e)
	var lz struct {
		Zone []struct {
			Domain string `json:"domain"`
		} `json:"zone"`
	}
	e.decode(t, &lz)
	if len(lz.Zone) != 1 || lz.Zone[0].Domain != "alice.example" {
		t.Fatalf("listzones = %+v", lz)
	}
	e = s.must("web1", "dumpzone", "domain", "alice.example")
	if e.Metadata.Reason != "Zone Serialized" {
		t.Fatalf("dumpzone reason %q", e.Metadata.Reason)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(e.Raw), &raw)
	if w := raw["metadata"].(map[string]any)["warnings"]; w == nil {
		t.Fatal("dumpzone of a distributed account's zone has no warning")
	}
	s.refused("Zone does not exist.", "web1", "dumpzone", "domain", "nowhere.example")
	s.must("web1", "dumpzone", "zone", "alice.example.db")

	e = s.must("web1", "parse_dns_zone", "zone", "alice.example")
	rec("parse_dns_zone", e)
	var pz struct {
		Payload []map[string]any `json:"payload"`
	}
	e.decode(t, &pz)
	serial := ""
	for _, it := range pz.Payload {
		if it["record_type"] == "SOA" {
			for i, d := range it["data_b64"].([]any) {
				if i == 2 {
					serial = d.(string)
				}
			}
		}
	}
	if serial == "" {
		t.Fatalf("no SOA in parse_dns_zone: %s", e.Raw)
	}
	cur := s.soaSerial("alice.example")
	add := `{"dname":"shop","ttl":300,"record_type":"A","data":["192.0.2.99"]}`
	e = s.must("web1", "mass_edit_dns_zone", "zone", "alice.example", "serial", strconv.Itoa(int(cur)), "add", add)
	var ns struct {
		NewSerial json.Number `json:"new_serial"`
	}
	e.decode(t, &ns)
	if ns.NewSerial.String() == strconv.Itoa(int(cur)) {
		t.Fatal("mass_edit_dns_zone did not bump the serial")
	}
	if got := lastA(s.lookup("web1", "shop.alice.example", dns.TypeA)); got != "192.0.2.99" {
		t.Fatalf("added record answers %q", got)
	}
	e = s.refused("", "web1", "mass_edit_dns_zone", "zone", "alice.example", "serial", strconv.Itoa(int(cur)), "add", add)
	rec("mass_edit_dns_zone.stale", e)
	var typed struct {
		Type string `json:"type"`
	}
	e.decode(t, &typed)
	if typed.Type != "Stale" {
		t.Fatalf("stale edit type = %q (%s)", typed.Type, e.Raw)
	}
	now := s.soaSerial("alice.example")
	e = s.refused("", "web1", "mass_edit_dns_zone", "zone", "alice.example", "serial", strconv.Itoa(int(now)), "add", `{"dname":"alice.example.","ttl":300,"record_type":"CNAME","data":["elsewhere.example."]}`)
	e.decode(t, &typed)
	if typed.Type != "InvalidZoneFile" {
		t.Fatalf("CNAME at the apex: type %q (%s)", typed.Type, e.Raw)
	}
	s.refused("must be a whole number", "web1", "mass_edit_dns_zone", "zone", "alice.example", "serial", "soon", "add", add)
	s.refused("does not exist", "web1", "mass_edit_dns_zone", "zone", "nowhere.example", "serial", "1", "add", add)
	s.refused("Provide the “serial” parameter.", "web1", "mass_edit_dns_zone", "zone", "alice.example")
	s.refused("nonnegative", "web1", "mass_edit_dns_zone", "zone", "alice.example", "serial", "1", "remove", "x")
}

func (s *testSB) soaSerial(zone string) uint32 {
	s.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, s.eps.Nodes["web1"].DNS)
	if err != nil || len(r.Answer) == 0 {
		s.t.Fatalf("SOA of %s: %v", zone, err)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// cgi posts a DNS-cluster screen on node and returns the page.
func (s *testSB) cgi(node, path string, kv ...string) *env {
	s.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	ep := s.eps.Nodes[node]
	return s.raw("POST", ep.WHM+path, "whm root:"+ep.Token, form.Encode())
}

// TestDNSCluster: a parent with a sync DNS-only member: zones reach the member as
// accounts come and go, and DNS queries on the member see them.
func TestDNSCluster(t *testing.T) {
	s := startTest(t, "")
	add := func(token string) *env {
		return s.cgi("web1", "/cgi/activate_remote_nameservers.cgi", "module", "cPanel", "cluster_user", "root", "host", "ns1.example.net",
			"user", "root", "pass", token, "dnsrole", "sync", "recurse", "on")
	}
	// A wrong token is refused at add time (recurse asks the member's version).
	if page := add("WRONGTOKEN"); !strings.Contains(page.Raw, `id="activateNameserverFailed"`) {
		t.Fatalf("activate with a wrong token: %s", page.Raw)
	}
	page := add(s.eps.Nodes["ns1"].Token)
	if !strings.Contains(page.Raw, `class="okmsg"`) || strings.Contains(page.Raw, "warningmsg") ||
		!strings.Contains(page.Raw, "The new role for 192.0.2.53 is sync.") {
		t.Fatalf("activate: %s", page.Raw)
	}
	if strings.Contains(page.Raw, s.eps.Nodes["ns1"].Token) {
		t.Fatal("the page shows the member's token")
	}
	if p := s.cgi("web1", "/cgi/adjustclusterdns.cgi", "clusterdns", "1"); !strings.Contains(p.Raw, "okmsg") {
		t.Fatalf("enable clustering: %s", p.Raw)
	}
	var trust struct {
		HasTrust int `json:"has_trust"`
	}
	s.must("web1", "cluster_member_has_trust_with", "host", "192.0.2.53").decode(t, &trust)
	if trust.HasTrust != 1 {
		t.Fatal("cluster_member_has_trust_with after adding the member = 0")
	}
	// Reverse trust: ns1 now has web1 as a standalone member.
	s.must("ns1", "cluster_member_has_trust_with", "host", "192.0.2.10").decode(t, &trust)
	if trust.HasTrust != 1 {
		t.Fatal("reverse trust missing on ns1")
	}

	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	if got := lastA(s.lookup("ns1", "alice.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("ns1 answers alice.example = %q", got)
	}
	s.must("web1", "modifyacct", "user", "alice", "mail_node_alias", "mail1")
	s.waitIdle()
	if got := lastA(s.lookup("ns1", "mail.alice.example", dns.TypeA)); got != "192.0.2.20" {
		t.Fatalf("ns1 answers mail.alice.example = %q after distribution", got)
	}
	s.must("web1", "removeacct", "username", "alice")
	if got := s.lookup("ns1", "alice.example", dns.TypeA); len(got) != 0 {
		t.Fatalf("ns1 still answers a removed zone: %v", got)
	}

	// Failure threshold: with ns1 offline and threshold 1, the second failure disables it.
	// The member's DNS server switched off is shown in its own cell, not as disabled.
	if err := s.SetService("ns1", "named", false, true); err != nil {
		t.Fatal(err)
	}
	status := s.cgi("web1", "/scripts7/clusterstatus")
	if !strings.Contains(status.Raw, `<td class="dnsserver">disabled</td>`) || strings.Contains(status.Raw, "Disabled due to connection failures.") {
		t.Fatalf("ns1 with named off: %s", status.Raw)
	}
	if err := s.SetService("ns1", "named", true, true); err != nil {
		t.Fatal(err)
	}
	if p := s.cgi("web1", "/cgi/adjustclusteroptions.cgi", "autodisablethreshold", "1", "cluster_failure_notifications", "1"); !strings.Contains(p.Raw, "okmsg") {
		t.Fatalf("options: %s", p.Raw)
	}
	_ = s.SetFaults("ns1", Faults{Offline: true})
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")
	s.must("web1", "createacct", "username", "carl", "domain", "carl.example")
	status = s.cgi("web1", "/scripts7/clusterstatus")
	if !strings.Contains(status.Raw, `<td class="host">192.0.2.53</td>`) || !strings.Contains(status.Raw, "Disabled due to connection failures.") {
		t.Fatalf("ns1 not disabled after failures: %s", status.Raw)
	}
	// Back online and re-enabled, a full replication resynchronises it.
	_ = s.SetFaults("ns1", Faults{})
	if p := s.cgi("web1", "/cgi/enableclusterserver.cgi", "server", "192.0.2.53"); !strings.Contains(p.Raw, "okmsg") {
		t.Fatalf("enable member: %s", p.Raw)
	}
	if err := s.ReplicateDNS(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := lastA(s.lookup("ns1", "carl.example", dns.TypeA)); got != "192.0.2.10" {
		t.Fatalf("ns1 not resynchronised: carl.example = %q", got)
	}
	// A token without the clustering ACL cannot use the screens.
	if p := s.raw("GET", s.eps.Nodes["web1"].WHM+"/scripts7/clusterstatus", "whm root:WRONG", ""); p.Status != 401 {
		t.Fatalf("clusterstatus with a bad token: HTTP %d", p.Status)
	}
}

// TestZonesSurviveRestart: zones are part of the persisted state.
func TestZonesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startTest(t, dir)
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	_ = s.Close()
	s2 := startTest(t, dir)
	if got := lastA(s2.lookup("web1", "mail.alice.example", dns.TypeA)); got != "192.0.2.20" {
		t.Fatalf("after restart mail.alice.example = %q", got)
	}
}

// TestSignedUpdatePersists: an RFC 2136 UPDATE signed with TSIG changes a node's zone,
// an unsigned one is refused, and the change survives a restart.
func TestSignedUpdatePersists(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]string{"tether.": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="}
	start := func() *testSB {
		sb, err := Start(t.Context(), Options{StateDir: dir, Fleet: testFleet(), TaskDelay: 10 * time.Millisecond, FlushInterval: 10 * time.Millisecond, DNSKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sb.Close() })
		return newTestSB(t, sb, dir)
	}
	s := start()
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	update := func(signed bool) int {
		m := new(dns.Msg)
		m.SetUpdate("alice.example.")
		rr, _ := dns.NewRR("api.alice.example. 300 IN A 192.0.2.77")
		m.Insert([]dns.RR{rr})
		c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
		if signed {
			m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
			c.TsigSecret = keys
		}
		r, _, err := c.Exchange(m, s.eps.Nodes["web1"].DNS)
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		return r.Rcode
	}
	if rc := update(false); rc == dns.RcodeSuccess {
		t.Fatal("an unsigned UPDATE was accepted")
	}
	if rc := update(true); rc != dns.RcodeSuccess {
		t.Fatalf("signed UPDATE: rcode %s", dns.RcodeToString[rc])
	}
	if got := lastA(s.lookup("web1", "api.alice.example", dns.TypeA)); got != "192.0.2.77" {
		t.Fatalf("after UPDATE api.alice.example = %q", got)
	}
	_ = s.Close()
	s = start()
	if got := lastA(s.lookup("web1", "api.alice.example", dns.TypeA)); got != "192.0.2.77" {
		t.Fatalf("UPDATE lost across a restart: %q", got)
	}
}
