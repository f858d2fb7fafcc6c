package rfc2136

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

const fakeSecret = "ZmFrZS1zZXJ2ZXItc2VjcmV0LWZvci10ZXN0cy0wMTIzNDU2Nzg5YWJjZGVm"

// fakeServer is a miekg server on loopback whose behaviour a test chooses per request.
type fakeServer struct {
	addr    string
	updates atomic.Int64
	handle  func(w dns.ResponseWriter, r *dns.Msg, n int64)
}

func startFake(t *testing.T, handle func(w dns.ResponseWriter, r *dns.Msg, n int64)) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: l.Addr().String(), handle: handle}
	started := make(chan struct{})
	srv := &dns.Server{Listener: l, TsigSecret: map[string]string{"tether.": fakeSecret},
		NotifyStartedFunc: func() { close(started) },
		// The default accept function answers UPDATE with NOTIMP.
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			var n int64
			if r.Opcode == dns.OpcodeUpdate {
				n = f.updates.Add(1)
			}
			f.handle(w, r, n)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return f
}

// reply answers r with rcode, signed with the request's key when it verified.
func reply(w dns.ResponseWriter, r *dns.Msg, rcode int) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	if r.IsTsig() != nil && w.TsigStatus() == nil {
		m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
}

func fakeTarget(t *testing.T, f *fakeServer, role string) Target {
	k, err := NewKey("tether", "hmac-sha256", fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Parent: "web1", Name: "fake1", Addr: f.addr, Role: role, Key: k}
}

func smallZone(t *testing.T) map[string][]dns.RR {
	return map[string][]dns.RR{"alice.example": accountZone(t, "alice.example", parentIP, parentIP)}
}

func TestFaultTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { <-release })
	eng := &Engine{Transport: DNSTransport{Timeout: 300 * time.Millisecond, Conns: NewConns()}}
	for _, role := range []string{schema.DNSRoleWriteOnly, schema.DNSRoleSync} {
		start := time.Now()
		_, err := eng.Push(context.Background(), fakeTarget(t, f, role), smallZone(t), false)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, providers.ErrTransient) {
			t.Fatalf("%s: err = %v, want ErrTimeout (transient)", role, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s: a timeout took %s", role, d)
		}
	}
}

// Nothing listening at the member's address: reported as unreachable (not as an
// unexpected answer), naming member and zone, and retried as transient.
func TestFaultUnreachable(t *testing.T) {
	// On 127.0.0.1 a freed port can be taken at once by another package's named or
	// sandbox, which then answers (BADKEY, REFUSED) instead of being unreachable:
	// Linux answers all of 127/8, so an address no other test binds is used there
	// (cmd/tether's closedAddr does the same); elsewhere 127.0.0.1 remains.
	l, err := net.Listen("tcp", "127.66.0.1:0")
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}}
	for _, role := range []string{schema.DNSRoleWriteOnly, schema.DNSRoleSync} {
		k, _ := NewKey("tether", "hmac-sha256", fakeSecret)
		_, err := eng.Push(context.Background(), Target{Parent: "web1", Name: "gone", Addr: closed, Role: role, Key: k}, smallZone(t), false)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, providers.ErrTransient) {
			t.Fatalf("%s: err = %v, want ErrUnreachable (transient)", role, err)
		}
		if !strings.Contains(err.Error(), "member gone ("+closed+")") || !strings.Contains(err.Error(), "alice.example") || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: error does not name member, zone and cause: %v", role, err)
		}
	}
}

func TestFaultServFail(t *testing.T) {
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { reply(w, r, dns.RcodeServerFailure) })
	eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}}
	for _, role := range []string{schema.DNSRoleWriteOnly, schema.DNSRoleSync} {
		_, err := eng.Push(context.Background(), fakeTarget(t, f, role), smallZone(t), false)
		var ce *CommandError
		if !errors.Is(err, ErrServFail) || !errors.As(err, &ce) || ce.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s: err = %v, want ErrServFail with rcode SERVFAIL", role, err)
		}
		if !strings.Contains(err.Error(), "member fake1 ("+f.addr+")") || !strings.Contains(err.Error(), "alice.example") {
			t.Fatalf("%s: error does not name member and zone: %v", role, err)
		}
	}
}

func TestFaultAXFRDroppedMidStream(t *testing.T) {
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
		if r.Question[0].Qtype != dns.TypeAXFR {
			reply(w, r, dns.RcodeRefused)
			return
		}
		// First message: the SOA and some records, then the connection is dropped
		// before the closing SOA.
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = accountZone(t, "alice.example", parentIP, parentIP)[:4]
		m.SetTsig("tether.", dns.HmacSHA256, 300, time.Now().Unix())
		_ = w.WriteMsg(m)
		_ = w.Close()
	})
	eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}}
	var seen []error
	eng.OnCommand = func(_ Target, err error) error { seen = append(seen, err); return nil }
	res, err := eng.Push(context.Background(), fakeTarget(t, f, schema.DNSRoleSync), smallZone(t), false)
	if !errors.Is(err, ErrTransferDropped) {
		t.Fatalf("err = %v, want ErrTransferDropped", err)
	}
	if f.updates.Load() != 0 || res.Updates != 0 {
		t.Fatal("an UPDATE was sent after a failed read")
	}
	if len(seen) != 1 || !errors.Is(seen[0], ErrTransferDropped) {
		t.Fatalf("commands counted: %v, want one failed transfer", seen)
	}
}

func TestFaultHalfWrittenZoneIsReported(t *testing.T) {
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, n int64) {
		if n == 1 {
			reply(w, r, dns.RcodeSuccess)
			return
		}
		reply(w, r, dns.RcodeServerFailure)
	})
	eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}, MaxOps: 4, Memory: NewMemStore()}
	tgt := fakeTarget(t, f, schema.DNSRoleWriteOnly)
	_, err := eng.Push(context.Background(), tgt, smallZone(t), false)
	var pw *PartialWriteError
	if !errors.As(err, &pw) {
		t.Fatalf("err = %v, want a PartialWriteError", err)
	}
	if len(pw.Written) == 0 || len(pw.NotWritten) == 0 || pw.Zone != "alice.example" {
		t.Fatalf("half-written report: %+v", pw)
	}
	msg := err.Error()
	for _, want := range []string{"half-written", pw.Written[0], pw.NotWritten[0], "0 of 1 zones in step"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	// Nothing is remembered for a zone not fully pushed: the next run pushes again.
	if _, ok := eng.Memory.Get(tgt.ID(), "alice.example"); ok {
		t.Fatal("a half-written zone was remembered as pushed")
	}
}

func TestFaultBadKeyOnFakeServer(t *testing.T) {
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { reply(w, r, dns.RcodeSuccess) })
	k, _ := NewKey("tether", "hmac-sha256", "b3RoZXItc2VjcmV0")
	tgt := Target{Parent: "web1", Name: "fake1", Addr: f.addr, Role: schema.DNSRoleWriteOnly, Key: k}
	_, err := (&Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}}).Push(context.Background(), tgt, smallZone(t), false)
	if !errors.Is(err, ErrTSIGRefused) {
		t.Fatalf("err = %v, want ErrTSIGRefused", err)
	}
	if strings.Contains(err.Error(), "b3RoZXItc2VjcmV0") || strings.Contains(err.Error(), fakeSecret) {
		t.Fatal("the secret is in the error")
	}
}

// TestThresholdCounting runs the tracker through failures and successes on the fake
// server, with the table of thresholds the seed allows.
func TestThresholdCounting(t *testing.T) {
	var fail atomic.Bool
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
		if fail.Load() {
			reply(w, r, dns.RcodeServerFailure)
			return
		}
		reply(w, r, dns.RcodeSuccess)
	})
	tests := []struct {
		name      string
		threshold schema.Threshold
		failures  int
		disabled  bool
	}{
		{"default 10, ten failures stay in", schema.Threshold{}, 10, false},
		{"default 10, eleven failures disable", schema.Threshold{}, 11, true},
		{"threshold 3, four failures disable", schema.Threshold{N: 3}, 4, true},
		{"threshold 1, one failure stays in", schema.Threshold{N: 1}, 1, false},
		{"never", schema.Threshold{Never: true}, 25, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := NewMemStore()
			var posted []Notification
			var mu sync.Mutex
			tr := &Tracker{Store: store, Post: func(_ context.Context, url string, n Notification) error {
				mu.Lock()
				defer mu.Unlock()
				posted = append(posted, n)
				return nil
			}}
			cluster := &schema.DNSCluster{FailureThreshold: tc.threshold, NotifyOnDisable: true}
			tgt := fakeTarget(t, f, schema.DNSRoleWriteOnly)
			eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()},
				OnCommand: func(t Target, err error) error {
					return tr.Record(context.Background(), t, cluster, "http://127.0.0.1:1/hook", err)
				}}
			// A success first, then failures: only consecutive failures count.
			fail.Store(false)
			if _, err := eng.Push(context.Background(), tgt, smallZone(t), true); err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			for i := 0; i < tc.failures; i++ {
				_, _ = eng.Push(context.Background(), tgt, smallZone(t), true)
			}
			h, _ := store.Health(tgt.ID())
			if h.Disabled != tc.disabled || h.ConsecutiveFailures != tc.failures {
				t.Fatalf("health %+v, want disabled=%v failures=%d", h, tc.disabled, tc.failures)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.disabled]; len(posted) != want {
				t.Fatalf("%d notifications, want %d", len(posted), want)
			}
			// A success resets the count of a member still in.
			if !tc.disabled {
				fail.Store(false)
				if _, err := eng.Push(context.Background(), tgt, smallZone(t), true); err != nil {
					t.Fatal(err)
				}
				if h, _ := store.Health(tgt.ID()); h.ConsecutiveFailures != 0 {
					t.Fatalf("failures after a success = %d", h.ConsecutiveFailures)
				}
			}
		})
	}
}

func TestFaultBADSIGAnswer(t *testing.T) {
	// What BIND answers to a wrong key: NOTAUTH with the TSIG error BADSIG, unsigned.
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotAuth)
		m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "tether.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
			Algorithm: dns.HmacSHA256, TimeSigned: uint64(time.Now().Unix()), Fudge: 300, OrigId: r.Id, Error: dns.RcodeBadSig})
		b, _ := m.Pack()
		_, _ = w.Write(b)
	})
	_, err := (&Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}}).Push(context.Background(),
		fakeTarget(t, f, schema.DNSRoleWriteOnly), smallZone(t), false)
	var ce *CommandError
	if !errors.Is(err, ErrTSIGRefused) || errors.Is(err, ErrZoneNotServed) || !errors.As(err, &ce) || !strings.Contains(ce.Error(), "BADSIG") {
		t.Fatalf("err = %v, want ErrTSIGRefused naming BADSIG", err)
	}
}

func TestFaultMemberWideFailureStopsTheRun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { <-release })
	want := map[string][]dns.RR{}
	for _, z := range []string{"a.example", "b.example", "c.example"} {
		want[z] = accountZone(t, z, parentIP, parentIP)
	}
	var failures int
	eng := &Engine{Transport: DNSTransport{Timeout: 200 * time.Millisecond, Conns: NewConns()},
		OnCommand: func(_ Target, err error) error {
			if err != nil {
				failures++
			}
			return nil
		}}
	res, err := eng.Push(context.Background(), fakeTarget(t, f, schema.DNSRoleWriteOnly), want, false)
	if !errors.Is(err, ErrTimeout) || failures != 1 || len(res.Zones) != 1 {
		t.Fatalf("err %v, %d failures counted, %d zones tried; want one timeout and a stop", err, failures, len(res.Zones))
	}
	if !strings.Contains(err.Error(), "0 of 3 zones in step") || !strings.Contains(err.Error(), "c.example") {
		t.Fatalf("the error does not list the zones not written: %v", err)
	}
}

func TestFaultInterruptedIsNotTheMembersFailure(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { <-release })
	for _, role := range []string{schema.DNSRoleWriteOnly, schema.DNSRoleSync} {
		ctx, cancel := context.WithCancel(context.Background())
		var counted int
		eng := &Engine{Transport: DNSTransport{Timeout: 10 * time.Second, Conns: NewConns()},
			OnCommand: func(Target, error) error { counted++; return nil }}
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := eng.Push(ctx, fakeTarget(t, f, role), smallZone(t), false)
		if !errors.Is(err, context.Canceled) || counted != 0 {
			t.Fatalf("%s: err = %v, %d commands counted; want context.Canceled and none", role, err, counted)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%s: cancellation took %s", role, time.Since(start))
		}
	}
}

func TestMisreadParentZoneIsNotPushed(t *testing.T) {
	f := startFake(t, func(w dns.ResponseWriter, r *dns.Msg, _ int64) { reply(w, r, dns.RcodeSuccess) })
	for name, rrs := range map[string][]dns.RR{
		"empty":  nil,
		"no SOA": accountZone(t, "alice.example", parentIP, parentIP)[1:],
		"no NS":  append(accountZone(t, "alice.example", parentIP, parentIP)[:1:1], accountZone(t, "alice.example", parentIP, parentIP)[3:]...),
	} {
		var counted int
		eng := &Engine{Transport: DNSTransport{Timeout: 2 * time.Second, Conns: NewConns()}, OnCommand: func(Target, error) error { counted++; return nil }}
		_, err := eng.Push(context.Background(), fakeTarget(t, f, schema.DNSRoleSync), map[string][]dns.RR{"alice.example": rrs}, false)
		if err == nil || !strings.Contains(err.Error(), "not pushed") || counted != 0 || f.updates.Load() != 0 {
			t.Fatalf("%s: err %v, %d commands, %d UPDATEs; want a refusal before any command", name, err, counted, f.updates.Load())
		}
	}
}
