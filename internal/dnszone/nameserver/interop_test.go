package nameserver

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// These tests drive the server with BIND's own tools (dig, nsupdate) when they are
// installed, so "dig @127.0.0.1 -p PORT mail.DOMAIN" is known to work, not assumed.

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestDigInterop(t *testing.T) {
	dig := tool(t, "dig")
	s, _ := startServer(t, map[string]string{keyName: keySecret}, testZone(t), bigZone(t, 2000))
	host, port := hostPort(t, s.Addr())
	if got := strings.TrimSpace(run(t, "", dig, "@"+host, "-p", port, "+short", "mail.alice.example")); got != "192.0.2.10" {
		t.Fatalf("dig mail.alice.example: %q", got)
	}
	if got := run(t, "", dig, "@"+host, "-p", port, "+tcp", "+norec", "www.alice.example", "A"); !strings.Contains(got, "flags: qr aa") || !strings.Contains(got, "status: NOERROR") {
		t.Fatalf("dig www (TCP):\n%s", got)
	}
	key := "hmac-sha256:" + strings.TrimSuffix(keyName, ".") + ":" + keySecret
	out := run(t, "", dig, "@"+host, "-p", port, "-y", key, "big.example", "AXFR")
	if strings.Contains(out, "failed") || strings.Contains(out, "tsig verify failure") || !strings.Contains(out, "XFR size: 2001 records") {
		t.Fatalf("dig AXFR (signed, multi-message):\n%s", out[max(0, len(out)-600):])
	}
}

func TestNsupdateInterop(t *testing.T) {
	nsupdate := tool(t, "nsupdate")
	s, st := startServer(t, map[string]string{keyName: keySecret}, testZone(t))
	host, port := hostPort(t, s.Addr())
	script := "server " + host + " " + port + "\nzone alice.example\n" +
		"update delete mail.alice.example A\nupdate add mail.alice.example 14400 A 198.51.100.7\nsend\n"
	run(t, script, nsupdate, "-y", "hmac-sha256:"+strings.TrimSuffix(keyName, ".")+":"+keySecret)
	got := records(st.Get("alice.example."), "mail.alice.example.", dns.TypeA)
	if len(got) != 1 || !strings.HasSuffix(got[0], "198.51.100.7") {
		t.Fatalf("after nsupdate: %v", got)
	}
	// Unsigned, the same update is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nsupdate)
	cmd.Stdin = strings.NewReader(strings.Replace(script, "198.51.100.7", "198.51.100.8", 1))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "REFUSED") {
		t.Fatalf("unsigned nsupdate: err %v\n%s", err, out)
	}
}
