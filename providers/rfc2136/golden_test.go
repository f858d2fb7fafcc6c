package rfc2136

import (
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs (run with -update if the change is meant):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// TestErrorTexts pins what operators read: these messages are a contract.
func TestErrorTexts(t *testing.T) {
	tgt := Target{Parent: "web1", Name: "bind1", Addr: "127.0.0.1:5300"}
	notAuth := new(dns.Msg)
	notAuth.Rcode = dns.RcodeNotAuth
	servfail := new(dns.Msg)
	servfail.Rcode = dns.RcodeServerFailure
	errs := []error{
		classifyUpdate(tgt, "alice.example.", notAuth, nil),
		classifyUpdate(tgt, "alice.example.", servfail, nil),
		classifyUpdate(tgt, "alice.example.", nil, os.ErrDeadlineExceeded),
		classifyUpdate(tgt, "alice.example.", nil, dns.ErrSig),
		classifyTransfer(tgt, "alice.example.", &transferError{Rcode: dns.RcodeNotAuth, TSIGError: dns.RcodeBadKey, Err: errors.New("transfer refused: NOTAUTH")}),
		classifyTransfer(tgt, "alice.example.", &transferError{Rcode: -1, Received: 1, Err: errors.New("EOF")}),
		&PartialWriteError{Member: "bind1", Addr: "127.0.0.1:5300", Zone: "alice.example",
			Written: []string{"alice.example. A", "mail.alice.example. A"}, NotWritten: []string{"www.alice.example. CNAME"},
			Err: classifyUpdate(tgt, "alice.example.", servfail, nil)},
		classifyUpdate(tgt, "alice.example.", nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		// Zones that failed the same way are one sentence; others keep their own.
		errors.New(joinZoneErrors([]error{
			classifyUpdate(tgt, "alice.example.", servfail, nil),
			classifyUpdate(tgt, "bob.example.", servfail, nil),
			classifyUpdate(tgt, "carol.example.", notAuth, nil),
			classifyUpdate(tgt, "dave.example.", servfail, nil),
		})),
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	n := Notification{Event: "dns.member.disabled", Parent: "web1", Member: "bind1", Address: "127.0.0.1:5300",
		Failures: 11, Threshold: 10, LastError: errs[1].Error(), Time: time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC),
		Hint: "re-enable with: tether dns enable bind1"}
	j, _ := json.MarshalIndent(n, "", "  ")
	b.WriteString(string(j) + "\n")
	golden(t, "errors.golden", b.String())
}
