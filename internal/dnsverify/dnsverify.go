// Package dnsverify proves with real DNS queries that the fleet's names resolve the way
// the linked-node documents say they must: an account's apex and www to its parent;
// mail., webmail. and the MX target to the mail child when the account is distributed,
// to the parent otherwise. Each server is asked only about the zones it holds: a parent
// about its own accounts, a member of a parent's DNS cluster about that parent's.
package dnsverify

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/schema"
)

// Target is a nameserver to ask.
type Target struct {
	Member string // the member's name in the fleet (or a node name)
	Addr   string // host:port
	// Parents are the parents whose accounts' zones the server holds, so the only
	// ones it is asked about: a parent's own, its DNS cluster's members' that parent's.
	// A server is never asked about a zone it does not hold (it would answer
	// REFUSED, which is no mismatch). Nil means every parent.
	Parents []string
}

// asks reports whether the target holds e's zone.
func (t Target) asks(e Expect) bool {
	if t.Parents == nil {
		return true
	}
	for _, p := range t.Parents {
		if p == e.Parent {
			return true
		}
	}
	return false
}

// Checks counts the questions Verify asks: each target's expectations.
func Checks(exp []Expect, targets []Target) int {
	n := 0
	for _, t := range targets {
		for _, e := range exp {
			if t.asks(e) {
				n++
			}
		}
	}
	return n
}

// Expect is one answer the fleet implies.
type Expect struct {
	Account string
	Parent  string // the account's parent: whose zone this is
	Name    string // fqdn
	Type    string // A or MX
	Want    string // an IPv4 address; for MX, the address the exchange must resolve to
	Why     string
}

// Mismatch is an answer that differs from what the fleet implies.
type Mismatch struct {
	Member string `json:"member"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Why    string `json:"why"`
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s: %s %s: got %s, want %s (%s)", m.Member, m.Name, m.Type, m.Got, m.Want, m.Why)
}

// Expectations lists what the fleet implies for every account and reseller whose
// parent (and mail child, when distributed) has an IPv4 address declared.
func Expectations(f *schema.Fleet) []Expect {
	var out []Expect
	add := func(user string, a *schema.Account) {
		parent := f.Nodes[a.Parent]
		if parent == nil || parent.IPv4 == "" || a.Domain == "" {
			return
		}
		apex := dns.Fqdn(strings.ToLower(a.Domain))
		mailIP, mailWhy := parent.IPv4, "mail on the parent "+a.Parent
		if c := a.MailNode(); c != "" {
			child := f.Nodes[c]
			if child == nil || child.IPv4 == "" {
				return
			}
			mailIP, mailWhy = child.IPv4, "mail distributed to "+c
		}
		web := "web on the parent " + a.Parent
		p := a.Parent
		out = append(out,
			Expect{user, p, apex, "A", parent.IPv4, web},
			Expect{user, p, "www." + apex, "A", parent.IPv4, web},
			Expect{user, p, "mail." + apex, "A", mailIP, mailWhy},
			Expect{user, p, "webmail." + apex, "A", mailIP, mailWhy},
			Expect{user, p, apex, "MX", mailIP, mailWhy},
		)
	}
	for u, a := range f.Accounts {
		add(u, a)
	}
	for u, r := range f.Resellers {
		add(u, &r.Account)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// Options tune the queries.
type Options struct {
	Timeout     time.Duration // per query; default 2s
	Parallelism int           // concurrent queries; default 16
}

// Verify asks every target the expectations of the zones it holds (Target.Parents)
// and returns the mismatches, sorted by member and name. A member that does not answer yields one mismatch per name with
// the error as what it got, so nothing unverified passes silently.
func Verify(ctx context.Context, f *schema.Fleet, targets []Target, opts Options) []Mismatch {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 16
	}
	exp := Expectations(f)
	var (
		mu  sync.Mutex
		out []Mismatch
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, opts.Parallelism)
	for _, t := range targets {
		r := &resolver{addr: t.Addr, timeout: opts.Timeout}
		for _, e := range exp {
			if !t.asks(e) {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(t Target, e Expect) {
				defer wg.Done()
				defer func() { <-sem }()
				if got, ok := r.check(ctx, e); !ok {
					mu.Lock()
					out = append(out, Mismatch{t.Member, e.Name, e.Type, e.Want, got, e.Why})
					mu.Unlock()
				}
			}(t, e)
		}
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Type < b.Type
	})
	return out
}

type resolver struct {
	addr    string
	timeout time.Duration
}

// check answers whether the member gives the expected address, and what it gave.
func (r *resolver) check(ctx context.Context, e Expect) (string, bool) {
	if e.Type == "MX" {
		mxs, err := r.query(ctx, e.Name, dns.TypeMX)
		if err != nil {
			return err.Error(), false
		}
		var hosts []string
		for _, rr := range mxs {
			if mx, ok := rr.(*dns.MX); ok {
				hosts = append(hosts, mx.Mx)
			}
		}
		if len(hosts) == 0 {
			return "no MX record", false
		}
		var got []string
		for _, h := range hosts {
			addrs, err := r.addresses(ctx, h, 0)
			if err != nil {
				got = append(got, h+" → "+err.Error())
				continue
			}
			for _, a := range addrs {
				if a == e.Want {
					return a, true
				}
			}
			got = append(got, h+" → "+strings.Join(addrs, ","))
		}
		return strings.Join(got, "; "), false
	}
	addrs, err := r.addresses(ctx, e.Name, 0)
	if err != nil {
		return err.Error(), false
	}
	for _, a := range addrs {
		if a == e.Want {
			return a, true
		}
	}
	if len(addrs) == 0 {
		return "no A record", false
	}
	return strings.Join(addrs, ","), false
}

// addresses resolves name to IPv4 addresses on this member, following CNAMEs the
// member answers for (a bounded chain).
func (r *resolver) addresses(ctx context.Context, name string, depth int) ([]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("CNAME chain too long at %s", name)
	}
	rrs, err := r.query(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var out []string
	var cname string
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.CNAME:
			cname = v.Target
		}
	}
	if len(out) == 0 && cname != "" {
		return r.addresses(ctx, cname, depth+1)
	}
	return out, nil
}

func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: r.timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.addr)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
	}
	if err != nil {
		var ne net.Error
		if ok := asNetErr(err, &ne); ok && ne.Timeout() {
			return nil, fmt.Errorf("no answer within %s", r.timeout)
		}
		return nil, fmt.Errorf("query failed: %v", err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
		return in.Answer, nil
	case dns.RcodeNameError:
		return nil, fmt.Errorf("NXDOMAIN")
	default:
		return nil, fmt.Errorf("%s", dns.RcodeToString[in.Rcode])
	}
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}
