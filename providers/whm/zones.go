package whm

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
)

// Zones implements providers.ZoneSource: a parent's zones read from its WHM API 1,
// listzones then export_zone_files, which returns many zones' files in one call
// (Whostmgr/API/1/DNS.pm, 11.120; reference page "Export DNS zones in zone file
// format"). It speaks through the provider's own client, so authentication, TLS,
// retries and the scrubbing of tokens from errors are the same as for every other WHM
// call. The rfc2136 provider pushes these zones to standard nameservers.
//
// Zones go zoneExportBatch to a call, the calls at most zoneReadParallel at once on
// the node: 1,000 zones at 20 ms a call took 20 s read one by one with
// parse_dns_zone, and about 1 s read 32 at once.
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
	origins := make([]string, 0, len(list.Zone))
	seen := make(map[string]bool, len(list.Zone))
	for _, z := range list.Zone {
		origin := zoneKey(z.Domain)
		if origin == "" || seen[origin] {
			continue
		}
		seen[origin] = true
		origins = append(origins, origin)
	}
	var mu sync.Mutex
	out := make(map[string][]dns.RR, len(origins))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(zoneReadParallel)
	for batch := range slices.Chunk(origins, zoneExportBatch) {
		g.Go(func() error {
			zones, err := exportZones(gctx, c, batch)
			if err != nil {
				return fmt.Errorf("parent %s: %w", parent, err)
			}
			mu.Lock()
			maps.Copy(out, zones)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// zoneExportBatch is how many zones one export_zone_files call asks for: few enough
// that the request line stays a few kilobytes, many enough that a thousand zones are
// ten calls.
const zoneExportBatch = 100

// zoneReadParallel bounds the export_zone_files calls Zones makes at once to one
// node. It matches whmapi's idle-connection pool per host, so the reads reuse
// connections instead of opening (and TLS-handshaking) new ones.
const zoneReadParallel = whmapi.MaxConnsPerNode

var _ providers.ZoneSource = (*Provider)(nil)

func zoneKey(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// exportZones reads the zones' files with one export_zone_files call. The zones
// are passed as zone-0, zone-1 … (Cpanel::Form::Param folds NAME-N into one list).
// The payload's order is a Perl hash's (keys %$resp), so items are matched by name,
// and a zone asked for but missing from the answer is an error, not an empty zone.
func exportZones(ctx context.Context, c *whmapi.Client, origins []string) (map[string][]dns.RR, error) {
	params := make(url.Values, len(origins))
	for i, o := range origins {
		params.Set("zone-"+strconv.Itoa(i), o)
	}
	var data struct {
		Payload []struct {
			Zone    string `json:"zone"`
			TextB64 string `json:"text_b64"`
		} `json:"payload"`
	}
	if _, err := c.Call(ctx, whmapi.Read, "export_zone_files", params, &data); err != nil {
		return nil, err
	}
	out := make(map[string][]dns.RR, len(origins))
	asked := make(map[string]bool, len(origins))
	for _, o := range origins {
		asked[o] = true
	}
	for _, it := range data.Payload {
		origin := zoneKey(it.Zone)
		if !asked[origin] {
			continue
		}
		text, err := b64(it.TextB64)
		if err != nil {
			return nil, fmt.Errorf("zone %s: export_zone_files: %w", origin, err)
		}
		rrs, err := ParseZoneFile(origin, text)
		if err != nil {
			return nil, fmt.Errorf("zone %s: export_zone_files: %w", origin, err)
		}
		out[origin] = rrs
	}
	for _, o := range origins {
		if _, ok := out[o]; !ok {
			return nil, fmt.Errorf("zone %s: export_zone_files answered without it", o)
		}
	}
	return out, nil
}

// ParseZoneFile reads a zone file as WHM stores it (RFC 1035 master format, its
// own $TTL; 14400, cPanel's default, when it has none).
func ParseZoneFile(origin, text string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), dns.Fqdn(origin), origin)
	zp.SetDefaultTTL(14400)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, err
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
