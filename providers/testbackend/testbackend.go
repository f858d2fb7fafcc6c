// Package testbackend is a DNS member backend that exists to prove the provider
// contract: everything it needs sits in this folder, and a program (or test) that
// imports it — one line — can validate, plan, apply and verify fleets with members
// written `backend: testdns`. It is never imported by providers/all.
//
// Its nameserver (Server, also here) is a toy with an HTTP API in the manner of
// PowerDNS's: the provider PUTs a parent's zones to http://ADDRESS/zones/NAME and
// reads their digests back from GET /zones; the server answers DNS queries for them
// on UDP at the same ADDRESS, which is what `tether dns verify` asks.
package testbackend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// Name is the provider's and the member backend's name.
const Name = "testdns"

// stateNS is where the provider remembers the members it joined (id → address).
const stateNS = Name + "/joined"

func init() {
	providers.Register(providers.Spec{
		Name:         Name,
		New:          func(cfg providers.Config) (providers.Provider, error) { return &Provider{cfg: cfg}, nil },
		Capabilities: providers.Capabilities{"dns.push-zones": true},
		Members: []providers.MemberBackend{{
			Schema:  schema.MemberBackend{Name: Name, Needs: []string{"host", "address"}},
			Roles:   []string{schema.DNSRoleWriteOnly}, // it only receives the parent's zones
			Planner: planner{},
		}},
	})
}

type planner struct{}

func (planner) Target(_, member string) string { return member }
func (planner) Differs(m, om *schema.Member) []string {
	if om.Address != "" && m.Address != om.Address {
		return []string{"address"}
	}
	return nil
}
func (planner) PushesZones(*schema.Member) bool                        { return true }
func (planner) CreateWarnings(string, string, *schema.Member) []string { return nil }
func (planner) KeptNote() string                                       { return "" }
func (planner) RemoveWarning(string) string                            { return "" }
func (planner) EnableNote(string, *schema.Member) string               { return "" }

// Provider pushes parents' zones to testdns members.
type Provider struct{ cfg providers.Config }

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Scopes are the fleet's testdns members, "PARENT/MEMBER".
func (p *Provider) Scopes(desired *schema.Fleet) []string {
	var out []string
	if desired == nil {
		return nil
	}
	for parent, c := range desired.DNSClusters {
		for name, m := range c.Members {
			if m != nil && m.BackendName() == Name {
				out = append(out, parent+"/"+name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Observe reads which of the parent's zones the member serves as the parent has
// them. A member never joined is not observed (the plan creates it).
func (p *Provider) Observe(ctx context.Context, scope string, desired *schema.Fleet) (*schema.Fleet, error) {
	parent, name, _ := strings.Cut(scope, "/")
	m := desired.DNSClusters[parent].Members[name]
	if p.cfg.State == nil {
		return nil, errors.New("testdns: no state")
	}
	addr, joined, err := p.cfg.State.Get(ctx, stateNS, scope)
	if err != nil || !joined {
		return &schema.Fleet{}, err
	}
	want, err := p.zones(ctx, parent)
	if err != nil {
		return nil, err
	}
	have, err := digests(ctx, addr)
	if err != nil {
		return nil, err
	}
	zs := &schema.MemberZones{Digests: have}
	for _, z := range slices.Sorted(maps.Keys(want)) {
		if have[z] != digest(want[z]) {
			zs.OutOfStep = append(zs.OutOfStep, z)
		}
	}
	obs := &schema.Member{Backend: Name, Host: m.Host, Address: addr, Role: m.Role, Zones: zs}
	return &schema.Fleet{DNSClusters: map[string]*schema.DNSCluster{parent: {Members: map[string]*schema.Member{name: obs}}}}, nil
}

// Apply pushes every zone of the parent (create, update, resync) or forgets the
// member (delete). It is idempotent: a PUT of a zone replaces it.
func (p *Provider) Apply(ctx context.Context, c *plan.Change) error {
	a := c.Addr()
	if a.Kind != plan.KindMember {
		return fmt.Errorf("testdns: %s is not a member", c.Address)
	}
	id := a.MemberID()
	if c.Action == plan.Delete {
		_, err := p.cfg.State.Update(ctx, stateNS, id, func(string, bool) (string, bool) { return "", true })
		return err
	}
	m, _ := c.After.(*schema.Member)
	if m == nil {
		return fmt.Errorf("testdns: %s %s carries no member", c.Address, c.Action)
	}
	zones, err := p.zones(ctx, a.Cluster)
	if err != nil {
		return err
	}
	for _, z := range slices.Sorted(maps.Keys(zones)) {
		if err := put(ctx, m.Address, z, zones[z]); err != nil {
			return fmt.Errorf("testdns: member %s: zone %s: %w", a.Name, z, err)
		}
	}
	return p.cfg.State.Put(ctx, stateNS, map[string]string{id: m.Address})
}

func (p *Provider) zones(ctx context.Context, parent string) (map[string][]dns.RR, error) {
	if p.cfg.Zones == nil {
		return nil, errors.New("testdns: no zone source")
	}
	return p.cfg.Zones.Zones(ctx, parent)
}

func digest(rrs []dns.RR) string {
	lines := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		lines = append(lines, rr.String())
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

var client = &http.Client{Timeout: 10 * time.Second}

func put(ctx context.Context, addr, zone string, rrs []dns.RR) error {
	var b bytes.Buffer
	for _, rr := range rrs {
		b.WriteString(rr.String() + "\n")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/zones/"+zone, &b)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", providers.ErrTransient, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("PUT: %s: %s", resp.Status, msg)
	}
	return nil
}

func digests(ctx context.Context, addr string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/zones", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrTransient, err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

var _ providers.Provider = (*Provider)(nil)
