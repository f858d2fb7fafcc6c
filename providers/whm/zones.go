package whm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
)

// Zones implements providers.ZoneSource: a parent's zones read from its WHM API 1,
// listzones then parse_dns_zone for each zone (dumpzone is deprecated). It speaks
// through the provider's own client, so authentication, TLS, retries and the
// scrubbing of tokens from errors are the same as for every other WHM call. The
// rfc2136 provider pushes these zones to standard nameservers.
func (p *Provider) Zones(ctx context.Context, parent string) (map[string][]dns.RR, error) {
	if ep, ok := p.cfg.Endpoints[parent]; !ok || ep.URL == "" {
		return nil, fmt.Errorf("parent %s: no WHM endpoint to read its zones from", parent)
	}
	c, err := p.client(parent)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	var list struct {
		Zone []struct {
			Domain string `json:"domain"`
		} `json:"zone"`
	}
	if _, err := c.Call(ctx, whmapi.Read, "listzones", nil, &list); err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	// One parse_dns_zone per zone (WHM API 1 has no bulk read the sandbox serves), so
	// the reads run in parallel, at most zoneReadParallel at once on this node: 1,000
	// zones at 20 ms a call took 20 s one by one.
	origins := make([]string, 0, len(list.Zone))
	seen := make(map[string]bool, len(list.Zone))
	for _, z := range list.Zone {
		origin := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(z.Domain), "."))
		if origin == "" || seen[origin] {
			continue
		}
		seen[origin] = true
		origins = append(origins, origin)
	}
	zones := make([][]dns.RR, len(origins))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(zoneReadParallel)
	for i, origin := range origins {
		g.Go(func() error {
			var data json.RawMessage
			if _, err := c.Call(gctx, whmapi.Read, "parse_dns_zone", url.Values{"zone": {origin}}, &data); err != nil {
				return fmt.Errorf("parent %s: zone %s: %w", parent, origin, err)
			}
			rrs, err := ParseWHMZone(origin, data)
			if err != nil {
				return fmt.Errorf("parent %s: zone %s: %w", parent, origin, err)
			}
			zones[i] = rrs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string][]dns.RR, len(origins))
	for i, origin := range origins {
		out[origin] = zones[i]
	}
	return out, nil
}

// zoneReadParallel bounds the parse_dns_zone calls Zones makes at once to one node.
// It matches whmapi's idle-connection pool per host, so the reads reuse connections
// instead of opening (and TLS-handshaking) new ones.
const zoneReadParallel = whmapi.MaxConnsPerNode

var _ providers.ZoneSource = (*Provider)(nil)

type payloadItem struct {
	Type       string          `json:"type"`
	LineIndex  json.Number     `json:"line_index"`
	DnameB64   string          `json:"dname_b64"`
	TTL        json.RawMessage `json:"ttl"`
	RecordType string          `json:"record_type"`
	DataB64    []string        `json:"data_b64"`
	TextB64    string          `json:"text_b64"`
}

// ParseWHMZone decodes parse_dns_zone's data ({payload: [...]}, base64 fields) into
// records. Control lines ($TTL, $ORIGIN) are kept so relative names and default TTLs
// mean what they meant in the zone file.
func ParseWHMZone(origin string, data json.RawMessage) ([]dns.RR, error) {
	var d struct {
		Payload []payloadItem `json:"payload"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse_dns_zone: %w", err)
	}
	var text strings.Builder
	for i, it := range d.Payload {
		switch it.Type {
		case "control":
			line, err := b64(it.TextB64)
			if err != nil {
				return nil, fmt.Errorf("parse_dns_zone: item %d: %w", i, err)
			}
			text.WriteString(line + "\n")
		case "record":
			line, err := recordLine(it)
			if err != nil {
				return nil, fmt.Errorf("parse_dns_zone: line %s: %w", it.LineIndex, err)
			}
			text.WriteString(line + "\n")
		}
	}
	zp := dns.NewZoneParser(strings.NewReader(text.String()), dns.Fqdn(origin), origin)
	zp.SetDefaultTTL(14400)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse_dns_zone: %w", err)
	}
	return rrs, nil
}

func b64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("bad base64: %w", err)
	}
	return string(b), nil
}

func recordLine(it payloadItem) (string, error) {
	name, err := b64(it.DnameB64)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(name) == "" {
		name = "@"
	}
	typ := strings.ToUpper(strings.TrimSpace(it.RecordType))
	if _, ok := dns.StringToType[typ]; !ok {
		return "", fmt.Errorf("unknown record type %q", it.RecordType)
	}
	parts := make([]string, 0, len(it.DataB64))
	for _, p := range it.DataB64 {
		v, err := b64(p)
		if err != nil {
			return "", err
		}
		if typ == "TXT" || typ == "SPF" {
			v = quoteTXT(v)
		}
		parts = append(parts, v)
	}
	ttl := strings.Trim(strings.TrimSpace(string(it.TTL)), `"`)
	if ttl == "null" {
		ttl = ""
	}
	return strings.Join([]string{name, ttl, "IN", typ, strings.Join(parts, " ")}, " "), nil
}

// quoteTXT writes one character-string in zone-file syntax: quotes and backslashes
// escaped, bytes outside printable ASCII as \DDD.
func quoteTXT(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
