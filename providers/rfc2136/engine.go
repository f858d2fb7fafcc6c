package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"
	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

// ZoneParallel is how many zones of one member the provider pushes at once. Four
// UPDATE exchanges in flight hide a round trip's latency without crowding a member
// serving other clients (BenchmarkDNSPushVsNsupdate: about 2-3x one at a time).
const ZoneParallel = 4

// Target is one rfc2136 member, resolved: its address and its key.
type Target struct {
	Parent string
	Name   string
	Addr   string // host:port
	Role   string // schema.DNSRole…
	Key    *Key
}

// ID is how state names the member: "PARENT/MEMBER".
func (t Target) ID() string { return t.Parent + "/" + t.Name }

// Engine keeps members in step with a parent's zones. It holds no per-run state, so
// one Engine serves every member concurrently.
type Engine struct {
	Transport Transport
	Memory    Memory
	Logger    *slog.Logger
	// MaxOps bounds the operations in one UPDATE message; 200 by default. A message
	// is also closed before it grows past 48 KiB.
	MaxOps int
	// OnCommand is told the outcome of every command sent to a member (nil: success).
	// If it returns an error (the member was just disabled), the run stops there.
	// Calls are serialised, so it may read-modify-write state.
	OnCommand func(t Target, err error) error
	// Parallel is how many zones of one member are worked on at once; 1 by default.
	// Each zone's messages stay in order and zones are independent on the server, but
	// with more than one the failure count sees successes and failures in the order
	// they complete rather than in zone order.
	Parallel int

	reportMu sync.Mutex
}

// ZoneResult is what happened to one zone.
type ZoneResult struct {
	Zone    string
	Ops     int // operations sent
	Updates int // UPDATE messages accepted
	Skipped bool
	Err     error
}

// Result is what one run did to one member.
type Result struct {
	Zones   []ZoneResult
	Updates int
}

// PartialWriteError reports a zone left half-written: some UPDATE messages were
// accepted, then one failed. Written and NotWritten name RRsets ("www.alice.example. A").
type PartialWriteError struct {
	Member, Addr, Zone string
	Written            []string
	NotWritten         []string
	Err                error
}

func (e *PartialWriteError) Error() string {
	cause := e.Err.Error()
	var ce *CommandError
	if errors.As(e.Err, &ce) {
		cause = ce.short()
	}
	return fmt.Sprintf("member %s (%s): zone %s half-written: %d RRsets written (%s), %d not written (%s): %s",
		e.Member, e.Addr, e.Zone, len(e.Written), listSome(e.Written), len(e.NotWritten), listSome(e.NotWritten), cause)
}

func (e *PartialWriteError) Unwrap() error { return e.Err }

func listSome(xs []string) string {
	const most = 8
	if len(xs) <= most {
		return strings.Join(xs, ", ")
	}
	return strings.Join(xs[:most], ", ") + fmt.Sprintf(", … and %d more", len(xs)-most)
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) report(t Target, err error) error {
	if e.OnCommand == nil {
		return nil
	}
	e.reportMu.Lock()
	defer e.reportMu.Unlock()
	return e.OnCommand(t, err)
}

func sortedZones(zones map[string][]dns.RR) []string {
	out := make([]string, 0, len(zones))
	for z := range zones {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// Read reads one zone from a member with AXFR. A failure is a *CommandError and
// counts as a failed command.
func (e *Engine) Read(ctx context.Context, t Target, zone string) ([]dns.RR, error) {
	rrs, err := e.Transport.Transfer(ctx, dns.Fqdn(zone), t.Addr, t.Key)
	if err != nil && ctx.Err() != nil {
		// Tether gave up (interrupted, or out of time): not the member's failure.
		return nil, fmt.Errorf("member %s: zone %s: AXFR: %w", t.Name, trimDot(zone), ctx.Err())
	}
	if err != nil {
		ce := classifyTransfer(t, zone, err)
		if stop := e.report(t, ce); stop != nil {
			return nil, errors.Join(ce, stop)
		}
		return nil, ce
	}
	if stop := e.report(t, nil); stop != nil {
		return nil, stop
	}
	return rrs, nil
}

// Push brings a member's zones in step with want (origin → records) according to its
// role: sync reads each zone and sends the minimal difference, then reads it back;
// write-only sends the RRsets changed since its last push (all of them when full or
// when nothing is remembered) and reads nothing; standalone is never written.
//
// Zones are only changed, never created or deleted: RFC 2136 cannot create a zone,
// and a member serving more zones than the parent keeps them.
func (e *Engine) Push(ctx context.Context, t Target, want map[string][]dns.RR, full bool) (*Result, error) {
	if t.Role == schema.DNSRoleStandalone {
		return nil, fmt.Errorf("member %s: role standalone is never written", t.Name)
	}
	if t.Role != schema.DNSRoleSync && t.Role != schema.DNSRoleWriteOnly {
		return nil, fmt.Errorf("member %s: unknown role %q", t.Name, t.Role)
	}
	zones := sortedZones(want)
	results := make([]*ZoneResult, len(zones))
	var stopped atomic.Bool
	par := e.Parallel
	if par <= 0 {
		par = 1
	}
	// par workers take the zones in order: no goroutine and no channel handoff per
	// zone (with one at a time they were a good part of Tether's CPU per zone).
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(par, len(zones)) {
		wg.Go(func() {
			for {
				if stopped.Load() || ctx.Err() != nil {
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(zones) {
					return
				}
				zone := zones[i]
				var zr ZoneResult
				if err := checkWant(zone, want[zone]); err != nil {
					zr = ZoneResult{Zone: trimDot(zone), Err: fmt.Errorf("member %s: %w", t.Name, err)}
				} else if t.Role == schema.DNSRoleSync {
					zr = e.pushSync(ctx, t, zone, want[zone])
				} else {
					zr = e.pushWriteOnly(ctx, t, zone, want[zone], full)
				}
				var ce *CommandError
				if zr.Err != nil && (errors.Is(zr.Err, ErrDisabled) || (errors.As(zr.Err, &ce) && ce.memberWide())) {
					// The member as a whole failed: the other zones would only add failures.
					stopped.Store(true)
				}
				results[i] = &zr
			}
		})
	}
	wg.Wait()
	res := &Result{}
	var errs *multierror.Error
	var done, failed []string
	for i, zr := range results {
		if zr == nil {
			failed = append(failed, trimDot(zones[i]))
			continue
		}
		res.Zones = append(res.Zones, *zr)
		res.Updates += zr.Updates
		if zr.Err == nil {
			done = append(done, trimDot(zones[i]))
			continue
		}
		failed = append(failed, trimDot(zones[i]))
		errs = multierror.Append(errs, zr.Err)
	}
	if err := ctx.Err(); err != nil && len(done)+len(errs.WrappedErrors()) < len(zones) {
		errs = multierror.Append(errs, err)
	}
	if errs == nil {
		return res, nil
	}
	errs.ErrorFormat = joinZoneErrors
	inStep := ""
	if len(done) > 0 {
		inStep = " (" + listSome(done) + ")"
	}
	return res, fmt.Errorf("%d of %d zones in step%s; not in step: %s: %w",
		len(done), len(zones), inStep, listSome(failed), errs)
}

// checkWant refuses a desired zone without its SOA or apex NS: the parent always has
// both, so their absence means the zone was misread, and pushing it would empty the
// member's copy.
func checkWant(zone string, rrs []dns.RR) error {
	apex := strings.ToLower(dns.Fqdn(zone))
	var soa, ns bool
	for _, rr := range rrs {
		if rr == nil || strings.ToLower(dns.Fqdn(rr.Header().Name)) != apex {
			continue
		}
		switch rr.Header().Rrtype {
		case dns.TypeSOA:
			soa = true
		case dns.TypeNS:
			ns = true
		}
	}
	if !soa || !ns {
		return fmt.Errorf("zone %s: the parent's copy has no SOA or no NS at its apex: not pushed (it would empty the member's copy)", trimDot(zone))
	}
	return nil
}

// remember keeps what the member now holds of zone (want), and serial, the member's
// SOA serial for that copy when it was read (0 for a member never read).
func (e *Engine) remember(t Target, zone string, want []dns.RR, serial uint32) error {
	if e.Memory == nil {
		return nil
	}
	return e.rememberDigests(t, zone, digestZone(zone, want), serial)
}

// rememberDigests is remember with the zone's digests already computed.
func (e *Engine) rememberDigests(t Target, zone string, d *zoneDigests, serial uint32) error {
	if e.Memory == nil {
		return nil
	}
	p := pushed{Digest: d.digest, Sets: d.setDig, Serial: serial}
	if err := e.Memory.Put(t.ID(), trimDot(zone), p.encode()); err != nil {
		return fmt.Errorf("member %s: zone %s: remember what was pushed: %w", t.Name, trimDot(zone), err)
	}
	return nil
}

// apexSerial is the serial of zone's SOA among rrs (an AXFR's records), 0 when none.
func apexSerial(zone string, rrs []dns.RR) uint32 {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, dns.Fqdn(zone)) {
			return soa.Serial
		}
	}
	return 0
}

// Serial asks a member for zone's SOA serial with a signed query (RFC 1034 4.3.5:
// how a secondary learns whether its copy is current without transferring it). ok is
// false unless the member answered authoritatively with the zone's SOA, signed: any
// other outcome (an error, a refusal, an unsigned answer) is left to the AXFR that
// follows, which reports it as what it is. Nothing is counted here.
func (e *Engine) Serial(ctx context.Context, t Target, zone string) (serial uint32, ok bool, err error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	r, err := e.Transport.Exchange(ctx, m, t.Addr, t.Key)
	if err != nil {
		return 0, false, err
	}
	if r == nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative || (t.Key != nil && r.IsTsig() == nil) {
		return 0, false, nil
	}
	for _, rr := range r.Answer {
		if soa, isSOA := rr.(*dns.SOA); isSOA && strings.EqualFold(soa.Hdr.Name, dns.Fqdn(zone)) {
			return soa.Serial, true, nil
		}
	}
	return 0, false, nil
}

func (e *Engine) pushSync(ctx context.Context, t Target, zone string, want []dns.RR) ZoneResult {
	zr := ZoneResult{Zone: trimDot(zone)}
	have, err := e.Read(ctx, t, zone)
	if err != nil {
		zr.Err = err
		return zr
	}
	ops := Diff(zone, have, want)
	if len(ops) == 0 {
		zr.Skipped = true
		zr.Err = e.remember(t, zone, want, apexSerial(zone, have))
		return zr
	}
	zr.Ops = len(ops)
	zr.Updates, zr.Err = e.send(ctx, t, zone, ops)
	if zr.Err != nil {
		return zr
	}
	// Read back: a server may ignore an operation without failing the message (RFC
	// 2136 3.4.2 lets it skip a CNAME clash or the last apex NS).
	again, err := e.Read(ctx, t, zone)
	if err != nil {
		zr.Err = fmt.Errorf("read back after update: %w", err)
		return zr
	}
	if left := Diff(zone, again, want); len(left) > 0 {
		zr.Err = &CommandError{Member: t.Name, Addr: t.Addr, Zone: trimDot(zone), Op: "UPDATE", Kind: ErrProtocol, Rcode: -1,
			Err: fmt.Errorf("read back: %d operations still due (%s): the server ignored part of the update", len(left), listSome(opSets(left)))}
		return zr
	}
	zr.Err = e.remember(t, zone, want, apexSerial(zone, again))
	e.logger().Info("rfc2136: zone updated", "member", t.ID(), "zone", zr.Zone, "ops", zr.Ops, "updates", zr.Updates)
	return zr
}

// writeOnlyOps replaces every RRset that differs from what was last pushed (all of
// them when prev is nil) and deletes the RRsets pushed before and gone since, in the
// phases Diff uses. It cannot delete what it never pushed: a write-only member is
// never read.
func writeOnlyOps(zone string, prev *pushed, want []dns.RR) []Op {
	return writeOnlyOpsOf(zone, prev, digestZone(zone, want))
}

// writeOnlyOpsOf is writeOnlyOps with the desired zone's digests already computed.
func writeOnlyOpsOf(zone string, prev *pushed, d *zoneDigests) []Op {
	ws, wd := d.sets, d.setDig
	var units []unit
	if prev != nil {
		gone := make([]string, 0)
		for k := range prev.Sets {
			if _, ok := ws[k]; !ok {
				gone = append(gone, k)
			}
		}
		sort.Strings(gone)
		for _, k := range gone {
			name, typ, ok := strings.Cut(k, " ")
			t, known := dns.StringToType[typ]
			if !ok || !known || (t == dns.TypeNS && name == strings.ToLower(dns.Fqdn(zone))) {
				continue
			}
			units = append(units, unit{removalPhase(t), []Op{{Kind: OpDelRRset, RR: &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET}}, Set: k}}})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ws)) {
		if prev != nil && prev.Sets[k] == wd[k] {
			continue
		}
		s := ws[k]
		var ops []Op
		if !isApexNS(zone, s) {
			// Delete and add in one message: the server applies both or neither.
			ops = append(ops, Op{Kind: OpDelRRset, RR: rrsetHeader(s), Set: k})
		}
		units = append(units, unit{additionPhase(s.typ), append(ops, adds(s, k)...)})
	}
	return flatten(units)
}

func (e *Engine) pushWriteOnly(ctx context.Context, t Target, zone string, want []dns.RR, full bool) ZoneResult {
	zr := ZoneResult{Zone: trimDot(zone)}
	var prev *pushed
	if e.Memory != nil && !full {
		if v, ok := e.Memory.Get(t.ID(), trimDot(zone)); ok {
			if p, ok := decodePushed(v); ok {
				prev = &p
			}
		}
	}
	// One grouping and one digest of the zone serve the check, the operations and
	// what is remembered.
	d := digestZone(zone, want)
	if prev != nil && prev.Digest == d.digest {
		zr.Skipped = true
		return zr
	}
	ops := writeOnlyOpsOf(zone, prev, d)
	if len(ops) == 0 {
		zr.Skipped = true
		zr.Err = e.rememberDigests(t, zone, d, 0)
		return zr
	}
	zr.Ops = len(ops)
	zr.Updates, zr.Err = e.send(ctx, t, zone, ops)
	if zr.Err == nil {
		zr.Err = e.rememberDigests(t, zone, d, 0)
		e.logger().Info("rfc2136: zone pushed", "member", t.ID(), "zone", zr.Zone, "ops", zr.Ops, "updates", zr.Updates)
	}
	return zr
}

func opSets(ops []Op) []string {
	var out []string
	seen := map[string]bool{}
	for _, op := range ops {
		if !seen[op.Set] {
			seen[op.Set] = true
			out = append(out, op.Set)
		}
	}
	return out
}

// batches cuts ops into UPDATE messages. The operations of one RRset that sit
// together (a replacement: delete the RRset, add its records) are never split, so
// the server applies them in one step; only an RRset too big for one message is.
func (e *Engine) batches(zone string, ops []Op) ([]*dns.Msg, [][]Op) {
	max := e.MaxOps
	if max <= 0 {
		max = 200
	}
	const maxLen = 48 << 10
	var msgs []*dns.Msg
	var groups [][]Op
	var m *dns.Msg
	var cur []Op
	// size bounds the message's length from above (each record's uncompressed
	// length), so the exact and costlier m.Len() is asked only near the limit.
	size := 0
	closeMsg := func() {
		if m != nil && len(cur) > 0 {
			msgs, groups = append(msgs, m), append(groups, cur)
		}
		m, cur, size = nil, nil, 0
	}
	add := func(op Op) {
		if m == nil {
			m = new(dns.Msg)
			m.SetUpdate(dns.Fqdn(zone))
			size = m.Len()
		}
		// Insert and Remove set the record's class: they get copies, since the records
		// are the parent's zones, shared by every member pushed at the same time. A
		// record to add that is already of class IN (every managed record is) needs no
		// change, so it goes in as it is: packing a message only reads its records.
		switch op.Kind {
		case OpAdd:
			if op.RR.Header().Class == m.Question[0].Qclass {
				m.Ns = append(m.Ns, op.RR)
			} else {
				m.Insert([]dns.RR{dns.Copy(op.RR)})
			}
		case OpDel:
			m.Remove([]dns.RR{dns.Copy(op.RR)})
		case OpDelRRset:
			m.RemoveRRset([]dns.RR{op.RR})
		}
		size += dns.Len(m.Ns[len(m.Ns)-1])
		cur = append(cur, op)
	}
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].Set == ops[i].Set {
			j++
		}
		run := ops[i:j]
		if len(cur) > 0 && len(cur)+len(run) > max {
			closeMsg()
		}
		for _, op := range run {
			add(op)
			if len(cur) >= max || (size > maxLen && m.Len() > maxLen) {
				closeMsg()
			}
		}
		i = j
	}
	closeMsg()
	return msgs, groups
}

// send sends the operations and returns how many messages were accepted. A failure
// after the first accepted message is a *PartialWriteError.
func (e *Engine) send(ctx context.Context, t Target, zone string, ops []Op) (int, error) {
	msgs, groups := e.batches(zone, ops)
	for i, m := range msgs {
		r, err := e.Transport.Exchange(ctx, m, t.Addr, t.Key)
		if err != nil && ctx.Err() != nil {
			// Tether gave up: not counted against the member. Whether the server applied
			// this message is unknown, so the zone is reported as possibly half-written.
			failure := fmt.Errorf("member %s: zone %s: UPDATE: %w", t.Name, trimDot(zone), ctx.Err())
			var written []Op
			for _, g := range groups[:i] {
				written = append(written, g...)
			}
			var rest []Op
			for _, g := range groups[i:] {
				rest = append(rest, g...)
			}
			return i, &PartialWriteError{Member: t.Name, Addr: t.Addr, Zone: trimDot(zone),
				Written: opSets(written), NotWritten: opSets(rest), Err: failure}
		}
		ce := classifyUpdate(t, zone, r, err)
		var failure error
		if ce != nil {
			failure = ce
		}
		if stop := e.report(t, failure); stop != nil {
			failure = errors.Join(failure, stop)
		}
		if failure == nil {
			continue
		}
		if i == 0 {
			return 0, failure
		}
		var written, notWritten []Op
		for _, g := range groups[:i] {
			written = append(written, g...)
		}
		for _, g := range groups[i:] {
			notWritten = append(notWritten, g...)
		}
		return i, &PartialWriteError{Member: t.Name, Addr: t.Addr, Zone: trimDot(zone),
			Written: opSets(written), NotWritten: opSets(notWritten), Err: failure}
	}
	return len(msgs), nil
}

// joinZoneErrors writes one failure per line of thought: zones that failed the same
// way on the same member (a server answering SERVFAIL to everything) are named
// together, so eleven zones make one sentence, not eleven.
func joinZoneErrors(es []error) string {
	type group struct {
		first *CommandError
		zones []string
	}
	var order []string
	groups := map[string]*group{}
	var parts []string
	for _, e := range es {
		ce, ok := e.(*CommandError)
		if !ok || ce.Kind == ErrZoneNotServed {
			order = append(order, "")
			parts = append(parts, e.Error())
			continue
		}
		k := ce.Member + "\x00" + ce.Addr + "\x00" + ce.short()
		if g := groups[k]; g != nil {
			g.zones = append(g.zones, ce.Zone)
			continue
		}
		groups[k] = &group{first: ce, zones: []string{ce.Zone}}
		order = append(order, k)
		parts = append(parts, "")
	}
	for i, k := range order {
		g := groups[k]
		if k == "" || g == nil {
			continue
		}
		if len(g.zones) == 1 {
			parts[i] = g.first.Error()
			continue
		}
		parts[i] = fmt.Sprintf("member %s (%s): %d zones (%s): %s", g.first.Member, g.first.Addr, len(g.zones), listSome(g.zones), g.first.short())
	}
	return strings.Join(parts, "; ")
}
