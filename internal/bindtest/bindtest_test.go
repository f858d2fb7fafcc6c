package bindtest

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStartServesZonesAndRefusesUnsignedUpdate(t *testing.T) {
	n := Start(t, map[string]string{"alice.example": ""}, Options{})
	serial, err := n.Serial("alice.example")
	if err != nil {
		t.Fatal(err)
	}
	if serial != 1 {
		t.Fatalf("serial = %d, want 1", serial)
	}
	if _, err := n.CPU(); err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}

	m := new(dns.Msg)
	m.SetUpdate("alice.example.")
	rr, _ := dns.NewRR("www.alice.example. 300 IN A 192.0.2.10")
	m.Insert([]dns.RR{rr})
	r, _, err := c.Exchange(m, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned UPDATE: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	c.TsigSecret = n.TsigSecret()
	m = new(dns.Msg)
	m.SetUpdate("alice.example.")
	m.Insert([]dns.RR{rr})
	m.SetTsig(n.KeyName, n.Algorithm, 300, time.Now().Unix())
	if r, _, err = c.Exchange(m, n.Addr); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("signed UPDATE: %v %v", err, r)
	}
	if s, _ := n.Serial("alice.example"); s <= serial {
		t.Fatalf("serial after UPDATE = %d, want > %d", s, serial)
	}

	// Unsigned AXFR is refused, signed AXFR works.
	tr := &dns.Transfer{TsigSecret: n.TsigSecret()}
	q := new(dns.Msg)
	q.SetAxfr("alice.example.")
	q.SetTsig(n.KeyName, n.Algorithm, 300, time.Now().Unix())
	env, err := tr.In(q, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		for _, rr := range e.RR {
			got = append(got, rr.String())
		}
	}
	if !strings.Contains(strings.Join(got, "\n"), "192.0.2.10") {
		t.Fatalf("AXFR lacks the updated record: %v", got)
	}
}

func TestAddZone(t *testing.T) {
	if _, ok := Lookup("rndc"); !ok {
		t.Skip("rndc not installed")
	}
	n := Start(t, nil, Options{AllowNewZones: true})
	if err := n.AddZone("new.example", ""); err != nil {
		t.Fatalf("%v\n%s", err, n.LogTail(15))
	}
	if s, err := n.Serial("new.example"); err != nil || s != 1 {
		t.Fatalf("new zone: serial %d, err %v", s, err)
	}
}

func TestStopEndsTheProcess(t *testing.T) {
	n := Start(t, map[string]string{"stop.example": ""}, Options{})
	n.Stop()
	select {
	case <-n.exited:
	default:
		t.Fatal("named still running after Stop")
	}
	n.Stop() // a second Stop (also run by Cleanup) is harmless
}

// The statistics channel counts what named was sent, by opcode and query type.
func TestCountersSeeQueriesAndTransfers(t *testing.T) {
	n := Start(t, map[string]string{"alice.example": ""}, Options{Stats: true})
	before, err := n.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := n.Serial("alice.example"); err != nil {
			t.Fatal(err)
		}
	}
	tr := &dns.Transfer{TsigSecret: n.TsigSecret()}
	q := new(dns.Msg)
	q.SetAxfr("alice.example.")
	q.SetTsig(n.KeyName, n.Algorithm, 300, time.Now().Unix())
	env, err := tr.In(q, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
	}
	after, err := n.Counters()
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.QTypes["SOA"] != 3 || d.QTypes["AXFR"] != 1 || d.Opcodes["QUERY"] != 4 {
		t.Fatalf("counted %+v, want 3 SOA and 1 AXFR queries", d)
	}
}

func TestStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        bool
	}{
		{"named", "4242 (named) S 1 4242 4242 0 -1 4194560 1520 0 0 0 123 45 0 0 20 0 6 0 100 0 0", 1680 * time.Millisecond, false},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond, false},
		{"no name", "4242 named S 1", 0, true},
		{"cut short", "4242 (named) S 1 4242", 0, true},
		{"not a number", "4242 (named) S 1 4242 4242 0 -1 4194560 1520 0 0 0 x 45 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statCPU(tc.line)
			if (err != nil) != tc.err {
				t.Fatalf("statCPU: error %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("statCPU = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThreadsNameTheWorkers(t *testing.T) {
	n := Start(t, map[string]string{"alice.example": ""}, Options{Workers: 2})
	ths, err := n.Threads()
	if err != nil {
		t.Fatal(err)
	}
	workers := 0
	for _, th := range ths {
		if strings.HasPrefix(th.Name, "isc-net-") {
			workers++
		}
		st, err := n.ThreadState(th.TID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.ContainsRune("RSDI", rune(st)) {
			t.Errorf("thread %d (%s): state %q", th.TID, th.Name, st)
		}
	}
	// BIND 9.18 names its network and task threads isc-net-NNNN; -n 2 makes at
	// least two.
	if workers < 2 {
		t.Fatalf("%d isc-net threads among %v, want at least 2", workers, ths)
	}
}

func TestSchedstat(t *testing.T) {
	for _, tc := range []struct {
		line      string
		cpu, wait time.Duration
		bad       bool
	}{
		{line: "234268701 47662162 986\n", cpu: 234268701, wait: 47662162},
		{line: "0 59058 1", cpu: 0, wait: 59058},
		{line: "12", bad: true},
		{line: "x 1 1", bad: true},
	} {
		cpu, wait, err := schedstat(tc.line)
		if (err != nil) != tc.bad || cpu != tc.cpu || wait != tc.wait {
			t.Errorf("schedstat(%q) = %v, %v, %v; want %v, %v, error %v", tc.line, cpu, wait, err, tc.cpu, tc.wait, tc.bad)
		}
	}
}
