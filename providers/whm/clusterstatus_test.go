package whm

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// The status pages come from the sandbox (internal/sandbox/dnscluster), which
// renders whostmgr/docroot/templates/clusterstatus.tmpl's structure for every state
// it can show; none is written by hand.
const sandboxPages = "../../internal/sandbox/dnscluster/testdata/"

func TestParseClusterStatus(t *testing.T) {
	active := func(ip, host, role string) clusterMember {
		return clusterMember{Hostname: host, IP: ip, User: "root", Module: "cPanel", Role: role, State: stateActive, Detail: "11.120.0.5"}
	}
	tests := []struct {
		file string
		want clusterStatus
	}{
		{"clusterstatus.html", clusterStatus{Enabled: true, EnabledKnown: true, Threshold: schema.Threshold{N: 5}, ThresholdRead: true, Notify: true, NotifyKnown: true,
			Members: []clusterMember{
				active("192.0.2.11", "ns1.example", "sync"),
				{Hostname: "ns2.example", IP: "192.0.2.12", User: "root", Module: "cPanel", Role: "write-only", State: stateAutoDisabled,
					Detail: "Disabled due to connection failures. [Enable]"},
				// Remote DNS switched off: active, not disabled; td.dnsserver says so.
				{Hostname: "ns3.example", IP: "192.0.2.13", User: "root", Module: "cPanel", Role: "write-only", State: stateActive, Detail: "11.120.0.5", DNSOff: true},
				{Hostname: "ns4.example", IP: "192.0.2.14", User: "root", Module: "cPanel", Role: "standalone", State: stateNeedsTrust,
					Detail: "Server needs reverse trust set up to auto-propagate DNS updates. [Enable]"},
				{Hostname: "ns5.example", IP: "192.0.2.15", User: "root", Module: "cPanel", Role: "sync", State: stateError,
					Detail: "Could not communicate with remote API server."},
				{Hostname: "ns6.example", IP: "192.0.2.16", User: "reseller<b>", Module: "cPanel", Role: "write-only", State: stateBadPrivs,
					Detail: "API key used has insufficient ACLs. The clustering ACL is required."},
				{Hostname: "ns7.example", IP: "192.0.2.17", User: "root", Module: "cPanel", Role: "write-only", State: stateDNSDown,
					Detail: "DNS server may be down. [Restart]"},
				{Hostname: "unknown", IP: "192.0.2.18", User: "root", Module: "cPanel", Role: "write-only", State: stateDNSUnmonitored,
					Detail: "The DNS server’s status is unknown because the service isn’t monitored. [Monitor]"},
			}}},
		{"clusterstatus.off.html", clusterStatus{EnabledKnown: true}},
		{"clusterstatus.empty.html", clusterStatus{Enabled: true, EnabledKnown: true, Threshold: schema.Threshold{Never: true}, ThresholdRead: true, NotifyKnown: true}},
		{"clusterstatus.default.html", clusterStatus{Enabled: true, EnabledKnown: true, Threshold: schema.Threshold{N: 10}, ThresholdRead: true, Notify: true, NotifyKnown: true,
			Members: []clusterMember{active("192.0.2.11", "ns1.example", "sync")}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(sandboxPages + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseClusterStatus(strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
			for _, m := range got.Members {
				if m.Disabled() != (m.State == stateAutoDisabled) {
					t.Errorf("%s: disabled %t in state %s", m.IP, m.Disabled(), m.State)
				}
			}
		})
	}
}

// The branches the sandbox never renders (it is no DNSSEC coordinator; every member
// answers its batch): the template's texts in its markup, read as their states.
func TestParseClusterStatusTemplateOnlyStates(t *testing.T) {
	page, err := os.ReadFile(sandboxPages + "clusterstatus.default.html")
	if err != nil {
		t.Fatal(err)
	}
	const active = `11.120.0.5 <img src="/green-status.gif" alt="Server Active" title="Server Active" />`
	yellow := `<img src="/yellow-status.gif" alt="Server Warning" title="Server Warning" />`
	tests := []struct {
		cell  string
		state memberState
	}{
		{"Requires cPanel update to support DNSSEC. " + yellow, stateDNSSEC},
		{`Requires PowerDNS to support DNSSEC. [<a href="/scripts7/upgradeclustermember?cluster_user=root&amp;server=192.0.2.11">Upgrade</a>] ` + yellow, stateDNSSEC},
		{"", stateNoStatus}, // status 0: no branch matched
		{`Connection timed out <img src="/red-status.gif" alt="Server Error" title="Server Error" />`, stateError}, // server.error, any text
	}
	for _, tt := range tests {
		body := strings.Replace(string(page), active, tt.cell, 1)
		if body == string(page) {
			t.Fatal("the test's edit did not apply")
		}
		st, err := parseClusterStatus(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%q: %v", tt.cell, err)
		}
		if m := st.Members[0]; m.State != tt.state || m.Disabled() {
			t.Errorf("%q: state %s, disabled %t", tt.cell, m.State, m.Disabled())
		}
	}
}

// Markup the parser does not know is an error: the old hand-written page, a login
// page, a changed status text, a row without its cells.
func TestParseClusterStatusRefusesUnknownMarkup(t *testing.T) {
	page, err := os.ReadFile(sandboxPages + "clusterstatus.html")
	if err != nil {
		t.Fatal(err)
	}
	good := string(page)
	tests := map[string]string{
		"login page":            `<html><body>Login</body></html>`,
		"old radio form":        `<form><input type="radio" name="clusterdns" value="1" checked></form><table><tr><td>ns1</td><td>disabled</td></tr></table>`,
		"other flavor text":     strings.Replace(good, "DNS clustering is enabled.", "Clustering: on", 1),
		"no threshold checked":  strings.Replace(good, `name="autodisablethreshold_control" checked value="custom"`, `name="autodisablethreshold_control" value="custom"`, 1),
		"unknown status text":   strings.Replace(good, `11.120.0.5 <img src="/green-status.gif"`, `Online <img src="/green-status.gif"`, 1),
		"status icon changed":   strings.Replace(good, `alt="Server Active"`, `alt="Server Fine"`, 1),
		"row without td.host":   strings.Replace(good, `<td class="host">192.0.2.11</td>`, ``, 1),
		"role not a WHM role":   strings.Replace(good, `<option value="sync" selected="selected">`, `<option value="primary" selected="selected">`, 1),
		"no table, no heading":  strings.Replace(good, `<table id="sltbl"`, `<table id="servers"`, 1),
		"broken, truncated row": good[:strings.Index(good, `<td class="serverstatus">`)],
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if body == good {
				t.Fatal("the test's edit did not apply")
			}
			if _, err := parseClusterStatus(strings.NewReader(body)); !errors.Is(err, errUnrecognised) {
				t.Errorf("err = %v, want errUnrecognised", err)
			}
		})
	}
}

func TestCGIOutcome(t *testing.T) {
	tests := []struct {
		body     string
		ok       string
		err      string
		warnings int
	}{
		{`<div class="okmsg"><h3>Your changes have been saved.</h3></div>`, "Your changes have been saved.", "", 0},
		{`<div class="errormsg"><h3>Missing failure threshold setting.</h3></div>`, "", "Missing failure threshold setting.", 0},
		{`<div class="errormsg" id="activateNameserverFailed">Failed to set up DNS cluster for module “cPanel”.</div>`, "", "Failed to set up", 0},
		{`<div class="okmsg" id="activateNameserverSucceeded">a<br />The new role for 192.0.2.53 is sync.</div><div class="warningmsg">Reverse trust failed</div>`, "aThe new role for 192.0.2.53 is sync.", "", 1},
		{`<p>Done.</p>`, "", "neither", 0},
		{`<div class="errormsg"></div>`, "", "no message", 0},
	}
	for _, tt := range tests {
		ok, w, err := cgiOutcome(tt.body)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || len(w) != tt.warnings || ok != tt.ok {
			t.Errorf("%s → %q, %v, %v; want %q, error %q, %d warnings", tt.body, ok, err, w, tt.ok, tt.err, tt.warnings)
		}
	}
}

func FuzzParseClusterStatus(f *testing.F) {
	if b, err := os.ReadFile(sandboxPages + "clusterstatus.html"); err == nil {
		f.Add(string(b))
	}
	f.Add(`<table><tr><td>1.2.3.4</td><td>sync</td></tr></table>`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseClusterStatus(strings.NewReader(s))
		_, _, _ = cgiOutcome(s)
	})
}

// TestMemberName: a member WHM shows by address or host name is named as the fleet
// names it: a desired cluster member on that node first, else the node (the last by
// name when two share the host), else not at all.
func TestMemberName(t *testing.T) {
	p, err := New(providers.Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	desired := &schema.Fleet{
		Nodes: map[string]*schema.Node{
			"ns1": {Role: schema.RoleDNSOnly, Host: "NS1.example.net", IPv4: "192.0.2.53"},
			"ns2": {Role: schema.RoleDNSOnly, Host: "ns2.example.net", IPv4: "192.0.2.54"},
			"nsa": {Role: schema.RoleDNSOnly, Host: "shared.example.net"},
			"nsb": {Role: schema.RoleDNSOnly, Host: "shared.example.net"},
		},
		DNSClusters: map[string]*schema.DNSCluster{"web1": {Enabled: true, Members: map[string]*schema.Member{
			"primary": {Node: "ns2", Role: schema.DNSRoleSync},
		}}},
	}
	p.rememberHosts(desired)
	for _, tc := range []struct {
		parent, key  string
		member, node string
		ok           bool
	}{
		{"web1", "192.0.2.53", "ns1", "ns1", true},
		{"web1", "ns1.example.net", "ns1", "ns1", true},
		{"web1", "192.0.2.54", "primary", "ns2", true},
		{"web1", "ns2.example.net", "primary", "ns2", true},
		{"web2", "192.0.2.54", "ns2", "ns2", true}, // not web2's cluster member
		{"web1", "shared.example.net", "nsb", "nsb", true},
		{"web1", "192.0.2.99", "", "", false},
		{"web1", "", "", "", false},
	} {
		got, ok := p.memberName(desired, tc.parent, tc.key)
		if ok != tc.ok || got.member != tc.member || got.node != tc.node {
			t.Errorf("memberName(%s, %q) = %+v %v, want %s/%s %v", tc.parent, tc.key, got, ok, tc.member, tc.node, tc.ok)
		}
	}
}
