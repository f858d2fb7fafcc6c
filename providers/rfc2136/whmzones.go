package rfc2136

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
)

// ZoneSource gives the zones a parent holds (origin without the final dot → records).
// The WHM provider's client can implement it; WHMZones is a minimal one of our own
// until it does.
type ZoneSource interface {
	Zones(ctx context.Context, parent string) (map[string][]dns.RR, error)
}

// WHMZones reads a parent's zones from its WHM API 1: listzones, then parse_dns_zone
// for each zone (whm-api.md section 5; dumpzone is deprecated).
type WHMZones struct {
	Endpoints map[string]providers.Endpoint
	// Client is used for every call when set (tests); otherwise one is built per
	// endpoint from its CAFile and Insecure settings.
	Client *http.Client
}

type whmEnvelope struct {
	Metadata struct {
		Result any    `json:"result"`
		Reason string `json:"reason"`
	} `json:"metadata"`
	Data json.RawMessage `json:"data"`
}

// ok decodes result leniently: WHM's Perl back end writes 1, "1" or true.
func (e *whmEnvelope) ok() bool {
	switch v := e.Metadata.Result.(type) {
	case float64:
		return v == 1
	case string:
		return v == "1"
	case bool:
		return v
	}
	return false
}

func (w *WHMZones) client(ep providers.Endpoint) (*http.Client, error) {
	if w.Client != nil {
		return w.Client, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ep.CAFile != "" || ep.Insecure {
		cfg := &tls.Config{InsecureSkipVerify: ep.Insecure} //nolint:gosec // operator's explicit tls.insecure
		if ep.CAFile != "" {
			pem, err := os.ReadFile(ep.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s holds no certificate", ep.CAFile)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func (w *WHMZones) call(ctx context.Context, hc *http.Client, ep providers.Endpoint, fn string, args url.Values) (json.RawMessage, error) {
	if args == nil {
		args = url.Values{}
	}
	args.Set("api.version", "1")
	u := strings.TrimRight(ep.URL, "/") + "/json-api/" + fn + "?" + args.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	req.Header.Set("Authorization", "whm "+ep.User+":"+ep.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", fn, providers.ErrTransient, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", fn, providers.ErrTransient, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s: HTTP %d: the token was not accepted", fn, resp.StatusCode)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%s: %w: HTTP %d", fn, providers.ErrTransient, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: HTTP %d", fn, resp.StatusCode)
	}
	var env whmEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%s: not a WHM API 1 answer: %w", fn, err)
	}
	if !env.ok() {
		return nil, fmt.Errorf("%s: %s", fn, env.Metadata.Reason)
	}
	return env.Data, nil
}

// Zones implements ZoneSource.
func (w *WHMZones) Zones(ctx context.Context, parent string) (map[string][]dns.RR, error) {
	ep, ok := w.Endpoints[parent]
	if !ok || ep.URL == "" {
		return nil, fmt.Errorf("parent %s: no WHM endpoint to read its zones from", parent)
	}
	hc, err := w.client(ep)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	data, err := w.call(ctx, hc, ep, "listzones", nil)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	var list struct {
		Zone []struct {
			Domain string `json:"domain"`
		} `json:"zone"`
	}
	if len(data) > 0 && string(data) != "null" {
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("parent %s: listzones: %w", parent, err)
		}
	}
	out := make(map[string][]dns.RR, len(list.Zone))
	for _, z := range list.Zone {
		origin := strings.ToLower(trimDot(strings.TrimSpace(z.Domain)))
		if origin == "" {
			continue
		}
		data, err := w.call(ctx, hc, ep, "parse_dns_zone", url.Values{"zone": {origin}})
		if err != nil {
			return nil, fmt.Errorf("parent %s: zone %s: %w", parent, origin, err)
		}
		rrs, err := ParseWHMZone(origin, data)
		if err != nil {
			return nil, fmt.Errorf("parent %s: zone %s: %w", parent, origin, err)
		}
		out[origin] = rrs
	}
	return out, nil
}

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
