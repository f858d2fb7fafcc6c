package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers/rfc2136"
)

// fakeNameserver is a miekg server on loopback that answers every message with
// answer (signed with secret when the request verified), or never when answer is nil.
func fakeNameserver(t *testing.T, secret string, answer func(w dns.ResponseWriter, r *dns.Msg)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	started := make(chan struct{})
	srv := &dns.Server{Listener: l, TsigSecret: map[string]string{"tether.": secret},
		NotifyStartedFunc: func() { close(started) },
		// The default accept function answers UPDATE with NOTIMP.
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			if answer == nil {
				<-hold // a server that takes the message and never answers
				return
			}
			answer(w, r)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { close(hold); _ = srv.Shutdown() })
	return l.Addr().String()
}

func servfail(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	if r.IsTsig() != nil && w.TsigStatus() == nil {
		m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
}

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func memberYAML(name, addr, env string) string {
	return fmt.Sprintf("      %s:\n        backend: rfc2136\n        host: %s.example.test\n        address: %s\n        software: bind\n        role: write-only\n        tsig: {name: tether, algorithm: hmac-sha256, secretEnv: %s}\n",
		name, name, addr, env)
}

// Members that time out, refuse Tether's TSIG key (a real BIND given the wrong
// secret) and answer SERVFAIL: the apply goes on with everything else, reports each
// failure naming member and zone, counts them in the summary and towards each
// member's threshold, and never prints a TSIG secret.
func TestDNSMemberFaultsAtTheCommandLine(t *testing.T) {
	defer func(d time.Duration) { rfc2136.DefaultTimeout = d }(rfc2136.DefaultTimeout)
	rfc2136.DefaultTimeout = 300 * time.Millisecond

	e := quickstartEnv(t)
	// Every zone's UPDATE is a command: a member failing all eleven zones twice (the
	// apply retries transient failures) must stay under the threshold here, where
	// the reporting is under test.
	e.edit(t, "failureThreshold: 10", "failureThreshold: 100")
	secrets := map[string]string{}
	for _, env := range []string{"SLOW_TSIG", "BADKEY_TSIG", "SERVFAIL_TSIG"} {
		secrets[env] = newSecret(t)
		t.Setenv(env, secrets[env])
	}
	slow := fakeNameserver(t, secrets["SLOW_TSIG"], nil)
	sf := fakeNameserver(t, secrets["SERVFAIL_TSIG"], servfail)
	bind := startBIND(t, e, "badkey", "write-only") // its own secret, not BADKEY_TSIG's
	e.edit(t, ns2Line, ns2Line+memberYAML("slow", slow, "SLOW_TSIG")+memberYAML("badkey", bind.n.Addr, "BADKEY_TSIG")+memberYAML("servfail", sf, "SERVFAIL_TSIG"))

	start := time.Now()
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the apply took %s with members timing out after %s", d, rfc2136.DefaultTimeout)
	}
	expect(t, r, 1, "Apply incomplete:", "3 failed",
		"✗ create dns.web1.member.slow on slow: 0 of 11 zones in step",
		"member slow ("+slow+"): zone alice.example: UPDATE: timed out",
		"✗ create dns.web1.member.badkey on badkey: 0 of 11 zones in step",
		// Zones go four at a time, so up to four fail alike before the member-wide
		// failure stops the rest: named in one sentence or as one zone.
		"member badkey ("+bind.n.Addr+"): ", "UPDATE: TSIG key refused",
		// Every zone failed the same way: one sentence names them all.
		"✗ create dns.web1.member.servfail on servfail: 0 of 11 zones in step",
		"member servfail ("+sf+"): 11 zones (alice.example, bob-hosting.example, carol.example, dave.example, erin.example, frank.example, grace.example, heidi.example, … and 3 more): UPDATE: server failure (rcode SERVFAIL)",
		"+ account.alice")
	if strings.Contains(r.stdout, "✗ create account.") || strings.Contains(r.stdout, "✗ link") {
		t.Errorf("a member's failure failed the rest of the fleet:\n%s", r.stdout)
	}
	all := r.stdout + r.stderr
	for env, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the secret of %s was printed", env)
		}
	}
	if strings.Contains(all, bind.n.Secret) {
		t.Error("BIND's own secret was printed")
	}
	for _, m := range []string{"slow", "badkey", "servfail"} {
		h := e.health(t, "web1/"+m)
		if h.ConsecutiveFailures < 1 || h.Disabled {
			t.Errorf("%s: health %+v: the failure must be counted (threshold 100 not reached)", m, h)
		}
		for _, s := range secrets {
			if strings.Contains(h.LastError, s) {
				t.Errorf("%s: a secret was kept in the state", m)
			}
		}
	}
	// The zone is named and the member is not half-written: nothing was accepted.
	if s, err := bind.n.Serial("alice.example"); err != nil || s != 1 {
		t.Errorf("badkey's alice.example serial %d (%v): an unsigned or wrongly signed update was accepted", s, err)
	}
	// The next apply only has the members left to do (Tether has counted commands
	// against them, so they are updated, not created), and reports them again.
	r = e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 1, "Plan: 0 to create, 3 to change, 0 to remove.", "3 failed", "member slow (", "member badkey (", "member servfail (")
}
