package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/bindtest"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

const (
	parentIP = "192.0.2.10"
	childIP  = "192.0.2.20"
)

type bindRig struct {
	sync, wo *bindtest.Named
	fleet    *schema.Fleet
	source   *staticSource
	tr       *countingTransport
	store    Store
	p        *Provider
	logs     interface{ String() string }
	secrets  map[string]string
}

// newRig starts two named (one per member) serving the zones, and a provider with a
// sync member (bind-sync) and a write-only member (bind-wo).
func newRig(t *testing.T, zones []string, threshold schema.Threshold, store Store) *bindRig {
	t.Helper()
	served := map[string]string{}
	for _, z := range zones {
		served[z] = preparedZone(z)
	}
	// No test of the rig waits out the timeout; 3 s was once too short for an
	// UPDATE's answer from a one-worker named with test binaries loading the machine
	// (TestBINDMembersConvergeAndStayQuiet: "UPDATE: timed out").
	r := &bindRig{source: &staticSource{}, tr: &countingTransport{Transport: DNSTransport{Timeout: 10 * time.Second, Conns: NewConns()}}, store: store}
	r.sync = bindtest.Start(t, served, bindtest.Options{})
	r.wo = bindtest.Start(t, served, bindtest.Options{})
	r.secrets = map[string]string{"SYNC_SECRET": r.sync.Secret, "WO_SECRET": r.wo.Secret}
	r.fleet = testFleet(threshold, map[string]*schema.Member{
		"bind-sync": member(schema.DNSRoleSync, r.sync.Addr, "SYNC_SECRET"),
		"bind-wo":   member(schema.DNSRoleWriteOnly, r.wo.Addr, "WO_SECRET"),
	})
	r.newProvider(t)
	return r
}

// preparedZone is a zone as the README asks an operator to create it on the member:
// SOA and the cluster's NS, nothing else (the NS TTL deliberately differs from the
// parent's, which Tether must correct).
func preparedZone(origin string) string {
	return "$TTL 300\n@ IN SOA ns1.example.net. hostmaster." + origin + ". 1 3600 600 86400 300\n" +
		"@ IN NS ns1.example.net.\n@ IN NS ns2.example.net.\n"
}

func (r *bindRig) newProvider(t *testing.T) {
	t.Helper()
	logger, buf := logBuffer()
	r.logs = buf
	p, err := New(providers.Config{Secrets: secretsFrom(r.secrets), Logger: logger},
		Options{Store: r.store, Source: r.source, Transport: r.tr})
	if err != nil {
		t.Fatal(err)
	}
	p.Scopes(r.fleet)
	r.p = p
}

func (r *bindRig) apply(t *testing.T, action plan.Action, name string) error {
	t.Helper()
	r.p.Scopes(r.fleet) // a new round: the parent's zones are read again
	return r.p.Apply(context.Background(), change(action, name, r.fleet.DNSClusters["web1"].Members[name]))
}

func (r *bindRig) observe(scope string, desired *schema.Fleet) (*schema.Fleet, error) {
	r.p.Scopes(desired)
	return r.p.Observe(context.Background(), scope, desired)
}

func axfr(t *testing.T, n *bindtest.Named, zone string) []dns.RR {
	t.Helper()
	k, _ := NewKey(n.KeyName, n.Algorithm, n.Secret)
	rrs, err := DNSTransport{}.Transfer(context.Background(), dns.Fqdn(zone), n.Addr, k)
	if err != nil {
		t.Fatalf("AXFR %s from %s: %v", zone, n.Addr, err)
	}
	return rrs
}

func queryA(t testing.TB, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s @%s: %v", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// dig runs the real dig when it is installed; "" and false when it is not.
func dig(t *testing.T, n *bindtest.Named, name string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("dig")
	if err != nil {
		return "", false
	}
	out, err := exec.Command(bin, "@127.0.0.1", "-p", strconv.Itoa(n.Port), "+short", "+time=2", "+tries=1", name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v: %s", name, err, out)
	}
	return strings.TrimSpace(string(out)), true
}

func TestBINDMembersConvergeAndStayQuiet(t *testing.T) {
	zones := []string{"alice.example", "bob.example"}
	r := newRig(t, zones, schema.Threshold{}, NewMemStore())
	for _, z := range zones {
		r.source.set("web1", z, accountZone(t, z, parentIP, parentIP))
	}

	// First run: both members converge.
	for _, name := range []string{"bind-sync", "bind-wo"} {
		if err := r.apply(t, plan.Update, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, n := range []*bindtest.Named{r.sync, r.wo} {
		for _, z := range zones {
			want := r.source.zones["web1"][z]
			if got := axfr(t, n, z); ZoneDigest(z, got) != ZoneDigest(z, want) {
				t.Fatalf("%s on %s not converged:\n%s\nwant:\n%s", z, n.Addr, rrStrings(got), rrStrings(want))
			}
		}
	}
	// The parent's SOA serial is not pushed: each server keeps its own.
	if s, _ := r.sync.Serial("alice.example"); s == 2026112301 {
		t.Fatalf("the parent's SOA serial was pushed")
	}

	// Observe sees both in step.
	for _, scope := range []string{"web1/bind-sync", "web1/bind-wo"} {
		obs, err := r.observe(scope, r.fleet)
		if err != nil {
			t.Fatal(err)
		}
		m := obs.DNSClusters["web1"].Members[strings.TrimPrefix(scope, "web1/")]
		if due, _ := m.UpdateDue(); due || len(m.Zones.OutOfStep) > 0 || len(m.Zones.Digests) != 2 {
			t.Fatalf("%s after convergence: %+v", scope, m.Zones)
		}
		if m.TSIG.Secret != "" {
			t.Fatal("observed member carries a secret")
		}
	}

	// Second run: no UPDATE at all, and the servers' serials do not move.
	syncSerial, _ := r.sync.Serial("alice.example")
	woSerial, _ := r.wo.Serial("alice.example")
	before := r.tr.updates.Load()
	for _, name := range []string{"bind-sync", "bind-wo"} {
		if err := r.apply(t, plan.Update, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.tr.updates.Load() - before; n != 0 {
		t.Fatalf("second run sent %d UPDATE messages, want 0", n)
	}
	if s, _ := r.sync.Serial("alice.example"); s != syncSerial {
		t.Fatalf("sync serial moved %d → %d on a run with nothing to do", syncSerial, s)
	}
	if s, _ := r.wo.Serial("alice.example"); s != woSerial {
		t.Fatalf("write-only serial moved %d → %d", woSerial, s)
	}

	// alice's mail moves to the child: one minimal UPDATE per member.
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, childIP))
	obs, err := r.observe("web1/bind-wo", r.fleet)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.DNSClusters["web1"].Members["bind-wo"].Zones.OutOfStep; len(got) != 1 || got[0] != "alice.example" {
		t.Fatalf("write-only out of step = %v, want [alice.example]", got)
	}
	before = r.tr.updates.Load()
	for _, name := range []string{"bind-sync", "bind-wo"} {
		if err := r.apply(t, plan.Update, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.tr.updates.Load() - before; n != 2 {
		t.Fatalf("moving the mail records sent %d UPDATE messages, want 1 per member", n)
	}
	if s, _ := r.sync.Serial("alice.example"); s != syncSerial+1 {
		t.Fatalf("sync serial %d, want %d (one update)", s, syncSerial+1)
	}
	for _, n := range []*bindtest.Named{r.sync, r.wo} {
		for _, name := range []string{"mail.alice.example", "webmail.alice.example"} {
			if got := queryA(t, n.Addr, name); len(got) != 1 || got[0] != childIP {
				t.Fatalf("%s @%s = %v, want %s", name, n.Addr, got, childIP)
			}
		}
		if out, ok := dig(t, n, "mail.alice.example"); ok && out != childIP {
			t.Fatalf("dig mail.alice.example @%s = %q, want %s", n.Addr, out, childIP)
		}
		if got := queryA(t, n.Addr, "mail.bob.example"); len(got) != 1 || got[0] != parentIP {
			t.Fatalf("bob's mail moved too: %v", got)
		}
	}
}

func TestBINDMinimalUpdateOps(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{}, NewMemStore())
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	// Change exactly one record and look at what the engine sends.
	want := accountZone(t, "alice.example", parentIP, parentIP)
	for i, rr := range want {
		if rr.Header().Name == "mail.alice.example." {
			want[i] = mustRRs(t, "mail.alice.example. 14400 IN A "+childIP)[0]
		}
	}
	k, _ := NewKey(r.sync.KeyName, r.sync.Algorithm, r.sync.Secret)
	eng := &Engine{Transport: r.tr}
	res, err := eng.Push(context.Background(), Target{Parent: "web1", Name: "bind-sync", Addr: r.sync.Addr, Role: schema.DNSRoleSync, Key: k},
		map[string][]dns.RR{"alice.example": want}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Zones) != 1 || res.Zones[0].Ops != 2 || res.Zones[0].Updates != 1 {
		t.Fatalf("one changed record: %+v, want 2 operations (delete old A, add new A) in 1 UPDATE", res.Zones)
	}
}

func TestBINDMissingZoneIsNamed(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{}, NewMemStore())
	// One zone at a time, so the failure count sees alice (written) then carol
	// (missing): exactly one consecutive failure.
	r.p.zonePar = 1
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	r.source.set("web1", "carol.example", accountZone(t, "carol.example", parentIP, parentIP))
	for name, n := range map[string]*bindtest.Named{"bind-sync": r.sync, "bind-wo": r.wo} {
		err := r.apply(t, plan.Update, name)
		if !errors.Is(err, ErrZoneNotServed) {
			t.Fatalf("%s: err = %v, want ErrZoneNotServed", name, err)
		}
		want := "member " + name + " (" + n.Addr + ") does not serve zone carol.example: create it on the nameserver first (see README)"
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error\n%v\ndoes not say\n%s", name, err, want)
		}
		var ce *CommandError
		if !errors.As(err, &ce) || (ce.Rcode != dns.RcodeNotAuth && ce.Rcode != dns.RcodeNotZone) {
			t.Fatalf("%s: want a CommandError with NOTAUTH or NOTZONE, got %#v", name, ce)
		}
		// The zone it does serve was still written.
		if got := queryA(t, n.Addr, "mail.alice.example"); len(got) != 1 {
			t.Fatalf("%s: alice.example not written beside the missing zone", name)
		}
		h, _ := r.store.Health("web1/" + name)
		if h.ConsecutiveFailures != 1 {
			t.Fatalf("%s: failures = %d, want 1", name, h.ConsecutiveFailures)
		}
	}
	obs, err := r.observe("web1/bind-sync", r.fleet)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.DNSClusters["web1"].Members["bind-sync"].Zones.Missing; len(got) != 1 || got[0] != "carol.example" {
		t.Fatalf("observed missing = %v", got)
	}
}

func TestBINDWrongKeyRefusedCountedAndNeverPrinted(t *testing.T) {
	stateDir := t.TempDir()
	store := fileStore(t, stateDir)
	r := newRig(t, []string{"alice.example"}, schema.Threshold{N: 2}, store)
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	goodSync := r.sync.Secret
	wrong := "d3JvbmctYnV0LXdlbGwtZm9ybWVkLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"
	r.secrets["SYNC_SECRET"] = wrong
	r.secrets["WO_SECRET"] = wrong

	var mu sync.Mutex
	var notes []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		notes = append(notes, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	r.fleet.Policy.NotifyWebhook = hook.URL

	var errs []string
	for _, name := range []string{"bind-sync", "bind-wo"} {
		for i := 1; i <= 3; i++ { // threshold 2: the third failure disables
			err := r.apply(t, plan.Update, name)
			if !errors.Is(err, ErrTSIGRefused) {
				t.Fatalf("%s run %d: err = %v, want ErrTSIGRefused", name, i, err)
			}
			if i == 3 && !errors.Is(err, ErrDisabled) {
				t.Fatalf("%s run 3: the disabling failure does not say so: %v", name, err)
			}
			errs = append(errs, err.Error())
			h, _ := store.Health("web1/" + name)
			if h.ConsecutiveFailures != i || h.Disabled != (i == 3) {
				t.Fatalf("%s run %d: health %+v", name, i, h)
			}
		}
	}
	mu.Lock()
	if len(notes) != 2 || !strings.Contains(notes[0], `"event":"dns.member.disabled"`) {
		t.Fatalf("notifications = %v", notes)
	}
	all := strings.Join(append(errs, notes...), "\n") + r.logs.String()
	mu.Unlock()
	for _, f := range []string{"health.json", "pushed/web1%2Fbind-sync.json", "pushed/web1%2Fbind-wo.json"} {
		kept, _ := readFile(stateDir + "/" + f)
		all += kept
	}
	for _, s := range []string{wrong, goodSync, r.wo.Secret} {
		if strings.Contains(all, s) {
			t.Fatalf("a TSIG secret appears in errors, notifications, logs or state")
		}
	}
}

func TestBINDDisabledUntilEnableThenResynced(t *testing.T) {
	path := t.TempDir() + "/state.json"
	r := newRig(t, []string{"alice.example"}, schema.Threshold{N: 1}, fileStore(t, path))
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	good := r.secrets["SYNC_SECRET"]
	r.secrets["SYNC_SECRET"] = "d3Jvbmc="
	for i := 0; i < 2; i++ {
		_ = r.apply(t, plan.Update, "bind-sync")
	}
	// While the member is out, its zone drifts (someone edits it by hand).
	k, _ := NewKey(r.sync.KeyName, r.sync.Algorithm, r.sync.Secret)
	m := new(dns.Msg)
	m.SetUpdate("alice.example.")
	m.Insert(mustRRs(t, "stray.alice.example. 300 IN A 198.51.100.1"))
	if resp, err := (DNSTransport{}).Exchange(context.Background(), m, r.sync.Addr, k); err != nil || resp.Rcode != dns.RcodeSuccess {
		t.Fatalf("hand edit: %v %v", err, resp)
	}

	// The key is fixed, but a new process still finds the member disabled: no command is sent.
	r.secrets["SYNC_SECRET"] = good
	r.store = fileStore(t, path)
	r.newProvider(t)
	sent := r.tr.updates.Load() + r.tr.axfrs.Load()
	if err := r.apply(t, plan.Update, "bind-sync"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled member: err = %v, want ErrDisabled", err)
	}
	if r.tr.updates.Load()+r.tr.axfrs.Load() != sent {
		t.Fatal("a disabled member was contacted")
	}
	obs, err := r.observe("web1/bind-sync", r.fleet)
	if err != nil || !obs.DNSClusters["web1"].Members["bind-sync"].Disabled {
		t.Fatalf("observe of a disabled member: %v %+v", err, obs)
	}

	// tether dns enable: the member comes back marked for a resync.
	ids, err := MemberIDs(r.fleet, "bind-sync")
	if err != nil || len(ids) != 1 {
		t.Fatal(ids, err)
	}
	if err := r.p.Enable(ids[0]); err != nil {
		t.Fatal(err)
	}
	obs, err = r.observe("web1/bind-sync", r.fleet)
	if err != nil {
		t.Fatal(err)
	}
	if due, resync := obs.DNSClusters["web1"].Members["bind-sync"].UpdateDue(); !due || !resync {
		t.Fatalf("re-enabled member: due=%v resync=%v, want a resync", due, resync)
	}
	if err := r.apply(t, plan.Resync, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	if got := queryA(t, r.sync.Addr, "stray.alice.example"); len(got) != 0 {
		t.Fatalf("resync left the stray record: %v", got)
	}
	h, _ := r.store.Health("web1/bind-sync")
	if h.Disabled || h.NeedsResync || h.ConsecutiveFailures != 0 {
		t.Fatalf("health after resync: %+v", h)
	}
}

func TestBINDThresholdNeverKeepsMemberIn(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{Never: true}, NewMemStore())
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	r.secrets["WO_SECRET"] = "d3Jvbmc="
	for i := 0; i < schema.DefaultThreshold+2; i++ {
		if err := r.apply(t, plan.Update, "bind-wo"); !errors.Is(err, ErrTSIGRefused) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	h, _ := r.store.Health("web1/bind-wo")
	if h.Disabled || h.ConsecutiveFailures != schema.DefaultThreshold+2 {
		t.Fatalf("threshold never: %+v", h)
	}
}

func TestBINDDeleteForgetsButLeavesZones(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{}, NewMemStore())
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	if err := r.apply(t, plan.Update, "bind-wo"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.store.Get("web1/bind-wo", "alice.example"); !ok {
		t.Fatal("push not remembered")
	}
	sent := r.tr.updates.Load()
	if err := r.apply(t, plan.Delete, "bind-wo"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.store.Get("web1/bind-wo", "alice.example"); ok {
		t.Fatal("deleted member still remembered")
	}
	if r.tr.updates.Load() != sent {
		t.Fatal("delete sent an UPDATE")
	}
	if got := queryA(t, r.wo.Addr, "mail.alice.example"); len(got) != 1 {
		t.Fatal("delete removed records from the nameserver")
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func TestBINDParallelZones(t *testing.T) {
	var zones []string
	for i := 0; i < 24; i++ {
		zones = append(zones, fmt.Sprintf("p%02d.example", i))
	}
	r := newRig(t, zones, schema.Threshold{}, NewMemStore())
	want := map[string][]dns.RR{}
	for _, z := range zones {
		want[z] = accountZone(t, z, parentIP, childIP)
	}
	k, _ := NewKey(r.sync.KeyName, r.sync.Algorithm, r.sync.Secret)
	for _, role := range []string{schema.DNSRoleSync, schema.DNSRoleWriteOnly} {
		addr := r.sync.Addr
		if role == schema.DNSRoleWriteOnly {
			addr = r.wo.Addr
			k, _ = NewKey(r.wo.KeyName, r.wo.Algorithm, r.wo.Secret)
		}
		var commands atomic.Int64
		eng := &Engine{Transport: r.tr, Memory: r.store, Parallel: 4,
			OnCommand: func(Target, error) error { commands.Add(1); return nil }}
		tgt := Target{Parent: "web1", Name: "p-" + role, Addr: addr, Role: role, Key: k}
		res, err := eng.Push(context.Background(), tgt, want, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Updates != len(zones) || len(res.Zones) != len(zones) {
			t.Fatalf("%s: %d updates for %d zones", role, res.Updates, len(zones))
		}
		before := r.tr.updates.Load()
		if _, err := eng.Push(context.Background(), tgt, want, false); err != nil {
			t.Fatal(err)
		}
		if r.tr.updates.Load() != before {
			t.Fatalf("%s: second parallel run sent UPDATEs", role)
		}
		for _, z := range zones {
			if got := queryA(t, addr, "mail."+z); len(got) != 1 || got[0] != childIP {
				t.Fatalf("%s: mail.%s = %v", role, z, got)
			}
		}
	}
}

func TestBINDStandaloneIsNeverWritten(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{}, NewMemStore())
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	r.fleet.DNSClusters["web1"].Members["bind-sa"] = member(schema.DNSRoleStandalone, r.sync.Addr, "SYNC_SECRET")
	serial, _ := r.sync.Serial("alice.example")
	for _, action := range []plan.Action{plan.Create, plan.Update, plan.Resync} {
		if err := r.apply(t, action, "bind-sa"); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	if r.tr.updates.Load() != 0 || r.tr.axfrs.Load() == 0 {
		t.Fatalf("standalone: %d UPDATEs, %d AXFRs; want none and some", r.tr.updates.Load(), r.tr.axfrs.Load())
	}
	if s, _ := r.sync.Serial("alice.example"); s != serial {
		t.Fatal("standalone member's zone changed")
	}
	obs, err := r.observe("web1/bind-sa", r.fleet)
	if err != nil {
		t.Fatal(err)
	}
	m := obs.DNSClusters["web1"].Members["bind-sa"]
	if due, _ := m.UpdateDue(); due || len(m.Zones.OutOfStep) != 1 {
		t.Fatalf("standalone observed: due=%v zones=%+v; want differences reported, no update due", due, m.Zones)
	}
}

func TestBINDMemberLifecycle(t *testing.T) {
	r := newRig(t, []string{"alice.example"}, schema.Threshold{}, fileStore(t, t.TempDir()+"/state.json"))
	r.source.set("web1", "alice.example", accountZone(t, "alice.example", parentIP, parentIP))
	members := func(f *schema.Fleet) map[string]*schema.Member {
		if f == nil || f.DNSClusters["web1"] == nil {
			return nil
		}
		return f.DNSClusters["web1"].Members
	}
	// Never applied: observed as absent, so the plan creates it.
	obs, err := r.observe("web1/bind-wo", r.fleet)
	if err != nil || len(members(obs)) != 0 {
		t.Fatalf("new member observed as %v, %v; want absent", members(obs), err)
	}
	if err := r.apply(t, plan.Create, "bind-wo"); err != nil {
		t.Fatal(err)
	}
	obs, err = r.observe("web1/bind-wo", r.fleet)
	if m := members(obs)["bind-wo"]; err != nil || m == nil || len(m.Zones.OutOfStep) != 0 {
		t.Fatalf("after create: %+v, %v", m, err)
	}
	// Removed from the fleet: still a scope, observed from state, then forgotten by delete.
	delete(r.fleet.DNSClusters["web1"].Members, "bind-wo")
	if !slices.Contains(r.p.Scopes(r.fleet), "web1/bind-wo") {
		t.Fatal("a removed member is not a scope: its removal could not be planned")
	}
	obs, err = r.p.Observe(context.Background(), "web1/bind-wo", r.fleet)
	m := members(obs)["bind-wo"]
	if err != nil || m == nil || m.Address != r.wo.Addr || m.Role != schema.DNSRoleWriteOnly {
		t.Fatalf("removed member observed as %+v, %v", m, err)
	}
	c := change(plan.Delete, "bind-wo", nil)
	c.After, c.Before = nil, m
	if err := r.p.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(r.p.Scopes(r.fleet), "web1/bind-wo") {
		t.Fatal("a deleted member is still a scope")
	}
}

// TestBINDLargeZone pushes a zone too big for one UPDATE or one AXFR message: the
// update is split, and the multi-message signed transfer is read whole.
func TestBINDLargeZone(t *testing.T) {
	r := newRig(t, []string{"big.example"}, schema.Threshold{}, NewMemStore())
	want := accountZone(t, "big.example", parentIP, parentIP)
	for i := 0; i < 1500; i++ {
		want = append(want, mustRRs(t, fmt.Sprintf(`h%04d.big.example. 300 IN TXT "host %04d of a zone that needs many messages to transfer"`, i, i))...)
	}
	r.source.set("web1", "big.example", want)
	before := r.tr.updates.Load()
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatalf("%v\n%s", err, r.sync.LogTail(10))
	}
	if n := r.tr.updates.Load() - before; n < 2 {
		t.Fatalf("%d UPDATE messages for %d records; want the update split", n, len(want))
	}
	got := axfr(t, r.sync, "big.example")
	if ZoneDigest("big.example", got) != ZoneDigest("big.example", want) {
		t.Fatalf("large zone not converged: %d records read, %d wanted", len(got), len(want))
	}
	before = r.tr.updates.Load()
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	if r.tr.updates.Load() != before {
		t.Fatal("second run on the large zone sent UPDATEs")
	}
}

func serialOf(t *testing.T, n *bindtest.Named, zone string) uint32 {
	t.Helper()
	s, err := n.Serial(zone)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A sync member Tether has brought in step is observed by its zones' SOA serials:
// no transfer while nothing moved. A zone changed on the member behind Tether's back
// (its serial moves) is transferred and reported out of step; a zone changed on the
// parent is transferred too (what was remembered no longer applies); a member whose
// state remembers no serial (written by an older version) is transferred in full.
func TestBINDSyncObserveBySerial(t *testing.T) {
	zones := []string{"alice.example", "bob.example", "carol.example"}
	r := newRig(t, zones, schema.Threshold{}, NewMemStore())
	for _, z := range zones {
		r.source.set("web1", z, accountZone(t, z, parentIP, parentIP))
	}
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	observe := func() (axfrs int64, m *schema.Member) {
		t.Helper()
		before := r.tr.axfrs.Load()
		obs, err := r.observe("web1/bind-sync", r.fleet)
		if err != nil {
			t.Fatal(err)
		}
		return r.tr.axfrs.Load() - before, obs.DNSClusters["web1"].Members["bind-sync"]
	}
	for _, tc := range []struct {
		name      string
		change    func(t *testing.T)
		axfrs     int64
		outOfStep []string
	}{
		{"in step: serials only", func(*testing.T) {}, 0, nil},
		{"changed on the member", func(t *testing.T) {
			m := new(dns.Msg)
			m.SetUpdate("bob.example.")
			m.Insert(mustRRs(t, "extra.bob.example. 300 IN A 192.0.2.99"))
			k, _ := NewKey(r.sync.KeyName, r.sync.Algorithm, r.sync.Secret)
			if resp, err := (DNSTransport{}).Exchange(context.Background(), m, r.sync.Addr, k); err != nil || resp.Rcode != dns.RcodeSuccess {
				t.Fatalf("UPDATE behind Tether's back: %v %v", err, resp)
			}
		}, 1, []string{"bob.example"}},
		{"changed on the parent", func(t *testing.T) {
			r.source.set("web1", "carol.example", accountZone(t, "carol.example", parentIP, childIP))
		}, 2, []string{"bob.example", "carol.example"}},
	} {
		tc.change(t)
		axfrs, m := observe()
		if axfrs != tc.axfrs || !slices.Equal(m.Zones.OutOfStep, tc.outOfStep) || len(m.Zones.Digests) != len(zones) {
			t.Fatalf("%s: %d transfers, out of step %v, %d digests; want %d transfers, out of step %v",
				tc.name, axfrs, m.Zones.OutOfStep, len(m.Zones.Digests), tc.axfrs, tc.outOfStep)
		}
	}
	// Applied again: in step, and the new serials remembered.
	if err := r.apply(t, plan.Update, "bind-sync"); err != nil {
		t.Fatal(err)
	}
	if axfrs, m := observe(); axfrs != 0 || len(m.Zones.OutOfStep) != 0 {
		t.Fatalf("after the apply: %d transfers, out of step %v", axfrs, m.Zones.OutOfStep)
	}
	// The member moved to another server (its address changed in the fleet): the
	// serials remembered are the old server's, so every zone is transferred, even
	// where the new server's serial happens to be the same (alice: 2 on both, each
	// updated once).
	if err := r.apply(t, plan.Update, "bind-wo"); err != nil {
		t.Fatal(err)
	}
	if a, b := serialOf(t, r.sync, "alice.example"), serialOf(t, r.wo, "alice.example"); a != b {
		t.Fatalf("alice.example: serial %d on one server, %d on the other: the case needs them equal", a, b)
	}
	moved := *r.fleet.DNSClusters["web1"].Members["bind-sync"]
	moved.Address, moved.TSIG = r.wo.Addr, member(schema.DNSRoleSync, r.wo.Addr, "WO_SECRET").TSIG
	r.fleet.DNSClusters["web1"].Members["bind-sync"] = &moved
	if axfrs, _ := observe(); axfrs != int64(len(zones)) {
		t.Fatalf("after a move to another address: %d transfers, want %d", axfrs, len(zones))
	}
	r.fleet.DNSClusters["web1"].Members["bind-sync"] = member(schema.DNSRoleSync, r.sync.Addr, "SYNC_SECRET")
	if axfrs, _ := observe(); axfrs != 0 {
		t.Fatalf("back at its address: %d transfers", axfrs)
	}
	// State without serials: every zone is transferred, as before.
	for _, z := range zones {
		v, _ := r.store.Get("web1/bind-sync", z)
		pu, _ := decodePushed(v)
		pu.Serial = 0
		if err := r.store.Put("web1/bind-sync", z, pu.encode()); err != nil {
			t.Fatal(err)
		}
	}
	if axfrs, m := observe(); axfrs != int64(len(zones)) || len(m.Zones.OutOfStep) != 0 {
		t.Fatalf("without serials: %d transfers, out of step %v", axfrs, m.Zones.OutOfStep)
	}
}
