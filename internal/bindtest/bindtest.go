// Package bindtest runs a real BIND 9 named on a loopback port for tests: it writes
// named.conf, the zone files and a TSIG key into the test's temporary folder, starts
// `named -g` as the current user, waits until it answers, and stops it by its PID when
// the test ends. Nothing it starts listens off 127.0.0.1.
//
// Zones are primary zones that accept UPDATE and AXFR signed with the generated key
// only. With Options.AllowNewZones, named also opens an rndc control channel on
// loopback and AddZone creates zones at run time (`rndc addzone`); catalog zones are
// not supported.
package bindtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/tether-dev/tether/internal/testproc"
)

// Options changes how named is configured. The zero value is fine.
type Options struct {
	// KeyName is the TSIG key's name; "tether" by default.
	KeyName string
	// AllowNewZones turns on `allow-new-zones` and an rndc control channel on loopback,
	// so AddZone works.
	AllowNewZones bool
	// StartTimeout bounds the wait for named to answer; 20s by default (a thousand
	// zones take a while to load on a busy machine).
	StartTimeout time.Duration
	// Workers is named's worker thread count (-n); 1 by default, as the machine the
	// tests run on is shared. Benchmarks that measure a server as deployed raise it.
	Workers int
	// Stats opens named's statistics channel on loopback, so Counters can tell what
	// the server was sent (benchmarks count their queries, transfers and UPDATEs).
	Stats bool
}

// Named is a running named.
type Named struct {
	// Addr is "127.0.0.1:PORT", where named answers over UDP and TCP.
	Addr string
	Port int
	// KeyName and Algorithm are fully qualified, as miekg/dns wants them; Secret is the
	// base64 TSIG secret.
	KeyName   string
	Algorithm string
	Secret    string
	// Dir holds named.conf, the zone files, the journal and named's log (named.log).
	Dir string

	t         testing.TB
	cmd       *exec.Cmd
	ctlPort   int
	statsPort int
	workers   int
	exited    chan struct{}
	id        string // what its version.bind answers, unique to the attempt
	mu        sync.Mutex
	waitErr   error
}

// Lookup finds named the way the tests expect it: in PATH, then /usr/sbin.
func Lookup(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	p := filepath.Join("/usr/sbin", name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p, true
	}
	return "", false
}

// Require skips the test when the named binary is missing, except under CI=true
// where a missing server is a failure: CI installs bind9, so its absence is a bug.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, ok := Lookup(name)
	if ok {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI must install bind9 and bind9-dnsutils (see .ci/run)", name)
	}
	t.Skipf("%s is not installed (apt-get install bind9 bind9-dnsutils); skipping the real-BIND test", name)
	return ""
}

// DefaultZone is the zone text used for an origin given with empty text: SOA and NS
// only, with in-zone glue, so UPDATE has a zone to work on.
func DefaultZone(origin string) string {
	o := dns.Fqdn(origin)
	return fmt.Sprintf("$TTL 300\n@ IN SOA ns1.%[1]s hostmaster.%[1]s 1 3600 600 86400 300\n@ IN NS ns1.%[1]s\nns1 IN A 127.0.0.1\n", o)
}

// Start writes the configuration and starts named. zones maps an origin to its zone
// text (empty text: DefaultZone). The server is stopped when the test ends.
func Start(t testing.TB, zones map[string]string, opts Options) *Named {
	t.Helper()
	bin := Require(t, "named")
	if opts.KeyName == "" {
		opts.KeyName = "tether"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 20 * time.Second
	}
	secret := randomSecret(t)
	var lastErr error
	// A port found free can be taken before named binds it: an attempt that lost
	// one is retried on new ports.
	for range attempts {
		n := &Named{
			KeyName:   dns.Fqdn(opts.KeyName),
			Algorithm: dns.HmacSHA256,
			Secret:    secret,
			Dir:       t.TempDir(),
			t:         t,
			workers:   opts.Workers,
			exited:    make(chan struct{}),
			id:        fmt.Sprintf("bindtest-%d-%d", os.Getpid(), started.Add(1)),
		}
		ports, err := pickPorts(3)
		if err != nil {
			t.Fatalf("bindtest: %v", err)
		}
		n.Port = ports[0]
		n.Addr = fmt.Sprintf("127.0.0.1:%d", n.Port)
		if opts.AllowNewZones {
			n.ctlPort = ports[1]
		}
		if opts.Stats {
			n.statsPort = ports[2]
		}
		if err := n.writeConfig(zones, opts); err != nil {
			t.Fatalf("bindtest: %v", err)
		}
		lastErr = n.start(bin, zones, opts.StartTimeout)
		if lastErr == nil {
			return n
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	t.Fatalf("bindtest: named did not start: %v", lastErr)
	return nil
}

// attempts bounds how many sets of ports Start tries: on a machine shared with other
// test binaries (sandboxes, etcd, other named) three were not always enough.
const attempts = 10

// errPortTaken is an attempt that lost one of its ports to another process.
var errPortTaken = errors.New("port taken by another process")

// started counts this process's attempts, for version strings no two named share.
var started atomic.Int64

func randomSecret(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("bindtest: random secret: %v", err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// pickPorts is freePorts; a test puts a taken port first.
var pickPorts = freePorts

// freePorts finds n distinct loopback ports, each free for both UDP and TCP. They
// are held open together until all are found: a port closed and asked for again can
// come back the same, and named then fails binding its own second one.
func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; len(ports) < n; i++ {
		if i == 20*n {
			return nil, errors.New("find a free port: no port free for both UDP and TCP")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		defer u.Close()
		ports = append(ports, port)
	}
	return ports, nil
}

func zoneFile(dir, origin string) string {
	return filepath.Join(dir, strings.TrimSuffix(dns.Fqdn(origin), ".")+".db")
}

func (n *Named) zoneStanza(origin string) string {
	key := strings.TrimSuffix(n.KeyName, ".")
	return fmt.Sprintf("zone %q { type primary; file %q; allow-update { key %q; }; allow-transfer { key %q; }; notify no; };\n",
		strings.TrimSuffix(dns.Fqdn(origin), "."), zoneFile(n.Dir, origin), key, key)
}

func (n *Named) writeConfig(zones map[string]string, opts Options) error {
	var b bytes.Buffer
	key := strings.TrimSuffix(n.KeyName, ".")
	fmt.Fprintf(&b, "key %q { algorithm hmac-sha256; secret %q; };\n", key, n.Secret)
	fmt.Fprintf(&b, "options {\n  directory %q;\n  pid-file %q;\n  session-keyfile %q;\n",
		n.Dir, filepath.Join(n.Dir, "named.pid"), filepath.Join(n.Dir, "session.key"))
	fmt.Fprintf(&b, "  listen-on port %d { 127.0.0.1; };\n  listen-on-v6 { none; };\n", n.Port)
	// What version.bind answers: the start's probe tells this named from another
	// server that took its port.
	fmt.Fprintf(&b, "  version %q;\n", n.id)
	b.WriteString("  recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-query { 127.0.0.1; };\n")
	b.WriteString("  allow-transfer { none; };\n  allow-update { none; };\n")
	if opts.AllowNewZones {
		b.WriteString("  allow-new-zones yes;\n")
	}
	b.WriteString("};\n")
	if n.statsPort != 0 {
		fmt.Fprintf(&b, "statistics-channels { inet 127.0.0.1 port %d allow { 127.0.0.1; }; };\n", n.statsPort)
	}
	if opts.AllowNewZones {
		fmt.Fprintf(&b, "controls { inet 127.0.0.1 port %d allow { 127.0.0.1; } keys { %q; }; };\n", n.ctlPort, key)
		rndc := fmt.Sprintf("key %q { algorithm hmac-sha256; secret %q; };\noptions { default-key %q; default-server 127.0.0.1; default-port %d; };\n",
			key, n.Secret, key, n.ctlPort)
		if err := os.WriteFile(filepath.Join(n.Dir, "rndc.conf"), []byte(rndc), 0o600); err != nil {
			return fmt.Errorf("write rndc.conf: %w", err)
		}
	} else {
		// No control channel: named would otherwise try 127.0.0.1:953 with a key it lacks.
		b.WriteString("controls { };\n")
	}
	origins := make([]string, 0, len(zones))
	for o := range zones {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	for _, o := range origins {
		text := zones[o]
		if text == "" {
			text = DefaultZone(o)
		}
		if err := os.WriteFile(zoneFile(n.Dir, o), []byte(text), 0o600); err != nil {
			return fmt.Errorf("write zone %s: %w", o, err)
		}
		b.WriteString(n.zoneStanza(o))
	}
	return os.WriteFile(filepath.Join(n.Dir, "named.conf"), b.Bytes(), 0o600)
}

func (n *Named) start(bin string, zones map[string]string, timeout time.Duration) error {
	logf, err := os.Create(filepath.Join(n.Dir, "named.log"))
	if err != nil {
		return fmt.Errorf("create named.log: %w", err)
	}
	// -g: foreground, log to stderr, no setuid; -n: workers (one unless asked: the
	// machine is shared).
	workers := max(n.workers, 1)
	n.cmd = exec.Command(bin, "-g", "-4", "-n", strconv.Itoa(workers), "-c", filepath.Join(n.Dir, "named.conf"))
	n.cmd.Dir = n.Dir
	n.cmd.Stdout = logf
	n.cmd.Stderr = logf
	testproc.Prepare(n.cmd)
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		err := n.cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(n.exited)
	}()
	n.t.Cleanup(n.Stop)

	// Asked over UDP and over TCP, first who it is (version.bind, which only this
	// named answers with n.id), then for a zone's SOA (zones load after named starts
	// answering): the port was free when chosen, but another process (a test server
	// of another package) can take its UDP or TCP side before named binds it, and
	// named then serves one side while the other reaches the other server (transfers
	// and UPDATEs ended in EOF, or another named answered). Such a start is retried
	// on new ports.
	probe, qtype := "", uint16(0)
	for o := range zones {
		probe, qtype = dns.Fqdn(o), dns.TypeSOA
		break
	}
	udp := &dns.Client{Timeout: 200 * time.Millisecond}
	tcp := &dns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
	// state: 0 no answer yet, 1 this named answered and is ready, -1 another server
	// answered.
	answers := func(c *dns.Client) int {
		m := new(dns.Msg)
		m.SetQuestion("version.bind.", dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		r, _, err := c.Exchange(m, n.Addr)
		if err != nil {
			return 0
		}
		if len(r.Answer) != 1 {
			return -1
		}
		if txt, ok := r.Answer[0].(*dns.TXT); !ok || len(txt.Txt) != 1 || txt.Txt[0] != n.id {
			return -1
		}
		if probe == "" {
			return 1
		}
		m = new(dns.Msg)
		m.SetQuestion(probe, qtype)
		if r, _, err = c.Exchange(m, n.Addr); err != nil || r.Rcode != dns.RcodeSuccess {
			return 0
		}
		return 1
	}
	taken := func(why string) error {
		n.Stop()
		return fmt.Errorf("%w: named on %s: %s\n%s", errPortTaken, n.Addr, why, n.LogTail(5))
	}
	deadline := time.Now().Add(timeout)
	var udpSince time.Time // when named first answered over UDP
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			err := fmt.Errorf("named exited: %v\n%s", n.exitErr(), n.LogTail(20))
			if lostPort(n.LogTail(50)) {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		default:
		}
		if lostPort(n.LogTail(50)) {
			// named can go on without a socket it could not bind.
			return taken("a port it was given is in use")
		}
		switch answers(udp) {
		case -1:
			return taken("another server answers over UDP")
		case 1:
			switch answers(tcp) {
			case 1:
				return nil
			case -1:
				return taken("another server answers over TCP")
			}
			if udpSince.IsZero() {
				udpSince = time.Now()
			} else if time.Since(udpSince) > 2*time.Second {
				return taken("it answers over UDP, not over TCP")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Stop()
	return fmt.Errorf("named on %s did not answer within %s\n%s", n.Addr, timeout, n.LogTail(20))
}

// lostPort reports whether named's log says it could not bind a port it was given:
// its listening port (9.18 words it as an interface it failed to create), or the
// control or statistics channel's.
func lostPort(log string) bool {
	for _, s := range []string{"address in use", "interface lo failed", "unable to listen on any configured interfaces"} {
		if strings.Contains(log, s) {
			return true
		}
	}
	return false
}

func (n *Named) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.waitErr
}

// PID is named's process id.
func (n *Named) PID() int { return n.cmd.Process.Pid }

// CPU is the processor time named has used since it started, user and system, all
// its threads (those ended included), from /proc/PID/stat: benchmarks take it before
// and after a client's work to tell what that work cost the server. Its resolution is
// the kernel's clock tick (10 ms at USER_HZ 100), so measure spans of a second or more.
func (n *Named) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.PID()))
	if err != nil {
		return 0, fmt.Errorf("bindtest: named's CPU time: %w", err)
	}
	return statCPU(string(b))
}

// userHZ is the unit of /proc/PID/stat's times: sysconf(_SC_CLK_TCK), 100 on every
// Linux architecture Go supports.
const userHZ = 100

// statCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields are
// counted from the last ')'.
func statCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bindtest: /proc stat line without a command name: %.40q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("bindtest: /proc stat line with %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bindtest: /proc stat times: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// Thread is one of named's threads as the kernel accounts it.
type Thread struct {
	TID int
	// Name is its comm: isc-net-0000, isc-net-0001, … run the workers (-n) and,
	// in BIND 9.18, the zones' tasks, so an UPDATE's journal commit and its
	// fsyncs; isc-timer and named are the others.
	Name string
	// CPU is its time on a CPU and Waiting its time runnable but waiting for one,
	// from /proc/PID/task/TID/schedstat, in nanoseconds (stat's times are 10 ms
	// ticks): what is neither was spent blocked, in fsync or waiting for work.
	CPU, Waiting time.Duration
}

// Threads reads each of named's threads' scheduler times.
func (n *Named) Threads() ([]Thread, error) {
	dir := fmt.Sprintf("/proc/%d/task", n.PID())
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bindtest: named's threads: %w", err)
	}
	out := make([]Thread, 0, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err1 := os.ReadFile(filepath.Join(dir, e.Name(), "comm"))
		st, err2 := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err := errors.Join(err1, err2); err != nil {
			// A thread that ended between the listing and the read.
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("bindtest: named's thread %d: %w", tid, err)
		}
		th := Thread{TID: tid, Name: strings.TrimSpace(string(comm))}
		if th.CPU, th.Waiting, err = schedstat(string(st)); err != nil {
			return nil, fmt.Errorf("bindtest: named's thread %d: %w", tid, err)
		}
		out = append(out, th)
	}
	return out, nil
}

// schedstat reads the first two fields of a schedstat line: nanoseconds on a CPU
// and waiting on a run queue.
func schedstat(line string) (cpu, wait time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("schedstat line with %d fields", len(f))
	}
	c, err1 := strconv.ParseInt(f[0], 10, 64)
	w, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("schedstat: %w", err)
	}
	return time.Duration(c), time.Duration(w), nil
}

// ThreadState is one thread's scheduler state letter from /proc/PID/task/TID/stat:
// 'R' on a CPU or runnable, 'S' asleep (waiting for work), 'D' in an
// uninterruptible wait (disk I/O: an fsync). Sampled often, the letters tell where
// a thread's time goes, which schedstat does not split (blocked is blocked).
func (n *Named) ThreadState(tid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", n.PID(), tid))
	if err != nil {
		return 0, fmt.Errorf("bindtest: named's thread %d: %w", tid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("bindtest: named's thread %d: stat line without a state", tid)
	}
	return b[i+2], nil
}

// Stop ends named by its PID (SIGTERM, then SIGKILL after 5s). Safe to call twice.
func (n *Named) Stop() { testproc.Stop(n.cmd, n.exited) }

// LogTail returns the last lines of named's log, for failure messages.
func (n *Named) LogTail(lines int) string {
	return testproc.LogTail(filepath.Join(n.Dir, "named.log"), lines)
}

// TsigSecret is the map miekg/dns clients take.
func (n *Named) TsigSecret() map[string]string { return map[string]string{n.KeyName: n.Secret} }

// AddZone creates a zone at run time with `rndc addzone` (Options.AllowNewZones).
// text may be empty (DefaultZone).
func (n *Named) AddZone(origin, text string) error {
	if n.ctlPort == 0 {
		return errors.New("bindtest: AddZone needs Options.AllowNewZones")
	}
	rndc, ok := Lookup("rndc")
	if !ok {
		return errors.New("bindtest: rndc is not installed")
	}
	if text == "" {
		text = DefaultZone(origin)
	}
	if err := os.WriteFile(zoneFile(n.Dir, origin), []byte(text), 0o600); err != nil {
		return fmt.Errorf("bindtest: write zone %s: %w", origin, err)
	}
	stanza := strings.TrimPrefix(strings.TrimSpace(n.zoneStanza(origin)), "zone ")
	name, cfg, _ := strings.Cut(stanza, " ")
	out, err := exec.Command(rndc, "-c", filepath.Join(n.Dir, "rndc.conf"), "addzone", strings.Trim(name, `"`), cfg).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bindtest: rndc addzone %s: %v: %s", origin, err, out)
	}
	return nil
}

// Serial reads a zone's SOA serial with a plain query.
func (n *Named) Serial(origin string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(origin), dns.TypeSOA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, n.Addr)
	if err != nil {
		return 0, fmt.Errorf("query SOA %s: %w", origin, err)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("query SOA %s: %s, no SOA in answer", origin, dns.RcodeToString[r.Rcode])
}

// Counters is what named counted since it started, from its statistics channel
// (Options.Stats; BIND 9.18's /json/v1/server): requests by opcode ("QUERY",
// "UPDATE"), queries by type ("SOA", "AXFR") and the server's own counters
// ("Requestv4", "ReqTCP", "XfrReqDone", "UpdateDone", "TruncatedResp", …).
type Counters struct {
	Opcodes map[string]int64 `json:"opcodes"`
	QTypes  map[string]int64 `json:"qtypes"`
	NSStats map[string]int64 `json:"nsstats"`
}

// Counters reads the statistics channel.
func (n *Named) Counters() (Counters, error) {
	var c Counters
	if n.statsPort == 0 {
		return c, errors.New("bindtest: Counters needs Options.Stats")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/json/v1/server", n.statsPort))
	if err != nil {
		return c, fmt.Errorf("bindtest: statistics channel: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("bindtest: statistics channel: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return c, fmt.Errorf("bindtest: statistics channel: %w", err)
	}
	return c, nil
}

// Sub is what was counted between before and c.
func (c Counters) Sub(before Counters) Counters {
	sub := func(a, b map[string]int64) map[string]int64 {
		out := make(map[string]int64, len(a))
		for k, v := range a {
			if d := v - b[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	return Counters{Opcodes: sub(c.Opcodes, before.Opcodes), QTypes: sub(c.QTypes, before.QTypes), NSStats: sub(c.NSStats, before.NSStats)}
}
