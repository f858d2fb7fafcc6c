package rfc2136

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// countingTransport counts the UPDATE messages and transfers actually sent.
type countingTransport struct {
	Transport
	updates atomic.Int64
	axfrs   atomic.Int64
}

func (c *countingTransport) Exchange(ctx context.Context, m *dns.Msg, addr string, key *Key) (*dns.Msg, error) {
	if m.Opcode == dns.OpcodeUpdate {
		c.updates.Add(1)
	}
	return c.Transport.Exchange(ctx, m, addr, key)
}

func (c *countingTransport) Transfer(ctx context.Context, zone, addr string, key *Key) ([]dns.RR, error) {
	c.axfrs.Add(1)
	return c.Transport.Transfer(ctx, zone, addr, key)
}

// staticSource is a parent whose zones a test can change.
type staticSource struct {
	mu    sync.Mutex
	zones map[string]map[string][]dns.RR
	calls int
}

func (s *staticSource) Zones(_ context.Context, parent string) (map[string][]dns.RR, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	z, ok := s.zones[parent]
	if !ok {
		return nil, fmt.Errorf("no parent %s", parent)
	}
	out := make(map[string][]dns.RR, len(z))
	for k, v := range z {
		out[k] = v
	}
	return out, nil
}

func (s *staticSource) set(parent, zone string, rrs []dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zones == nil {
		s.zones = map[string]map[string][]dns.RR{}
	}
	if s.zones[parent] == nil {
		s.zones[parent] = map[string][]dns.RR{}
	}
	s.zones[parent][zone] = rrs
}

func mustRRs(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad test record %q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

// accountZone is the zone a parent holds for an account: apex and www on the parent,
// mail and webmail (and MX) on mailIP (the parent, or the child once distributed).
func accountZone(t testing.TB, domain, parentIP, mailIP string) []dns.RR {
	d := dns.Fqdn(domain)
	return mustRRs(t,
		fmt.Sprintf("%s 86400 IN SOA ns1.example.net. hostmaster.%s 2026112301 3600 1800 1209600 86400", d, d),
		fmt.Sprintf("%s 86400 IN NS ns1.example.net.", d),
		fmt.Sprintf("%s 86400 IN NS ns2.example.net.", d),
		fmt.Sprintf("%s 14400 IN A %s", d, parentIP),
		fmt.Sprintf("www.%s 14400 IN CNAME %s", d, d),
		fmt.Sprintf("mail.%s 14400 IN A %s", d, mailIP),
		fmt.Sprintf("webmail.%s 14400 IN A %s", d, mailIP),
		fmt.Sprintf("%s 14400 IN MX 0 mail.%s", d, d),
		fmt.Sprintf(`%s 14400 IN TXT "v=spf1 +a +mx ip4:%s ~all"`, d, parentIP),
	)
}

// testFleet is a fleet with one parent (web1) whose cluster has the given members.
func testFleet(threshold schema.Threshold, members map[string]*schema.Member) *schema.Fleet {
	return &schema.Fleet{
		Policy: &schema.Policy{},
		DNSClusters: map[string]*schema.DNSCluster{
			"web1": {Enabled: true, FailureThreshold: threshold, NotifyOnDisable: true, Members: members},
		},
	}
}

func member(role, addr, secretEnv string) *schema.Member {
	return &schema.Member{Backend: Backend, Host: "ns-" + role + ".example.org", Address: addr, Software: "bind",
		Role: role, TSIG: &schema.TSIG{Name: "tether", Algorithm: "hmac-sha256", SecretEnv: secretEnv}}
}

func change(action plan.Action, name string, m *schema.Member) *plan.Change {
	return &plan.Change{ID: "dns.web1.member." + name + "/" + string(action), Address: "dns.web1.member." + name,
		Action: action, After: m, Provider: Name, Target: name}
}

// logBuffer captures everything the provider logs, at every level.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	var mu sync.Mutex
	return slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func secretsFrom(m map[string]string) func(env, file string) (string, error) {
	return func(env, file string) (string, error) {
		v, ok := m[env]
		if !ok {
			return "", fmt.Errorf("environment variable %s is unset", env)
		}
		return v, nil
	}
}

func rrStrings(rrs []dns.RR) string {
	var s []string
	for _, rr := range rrs {
		s = append(s, rr.String())
	}
	return strings.Join(s, "\n")
}

type providersConfig = providers.Config

// fileStore is the provider's store on Tether's folder state in dir, as the command
// line gives it; a second call on the same dir is a second process's view.
func fileStore(t testing.TB, dir string) StateStore {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return StateStore{State: st}
}
