package whmapi

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// ErrNoDNSSEC: the server's DNS server is not PowerDNS, so it signs no zone (11.120
// Cpanel/DNSSEC.pm _get_dns_obj; reference "Return domain's DS record": "Only
// servers that run PowerDNS can use DNSSEC").
var ErrNoDNSSEC = errors.New("the server does not run PowerDNS, so no zone is signed")

// noDNSSEC is the exception text of Cpanel/DNSSEC.pm for a server without PowerDNS.
const noDNSSEC = "DNSSEC is only supported on servers configured with PowerDNS."

// SignedDomains reads which of the given domains have DS records (are signed with
// DNSSEC), with fetch_ds_records_for_domains (domain, domain-1, …). A server without
// PowerDNS answers ErrNoDNSSEC.
func (c *Client) SignedDomains(ctx context.Context, domains []string) (map[string]bool, error) {
	// The domain parameter repeated, as the function's page allows.
	q := url.Values{"domain": domains}
	var d struct {
		Domains []struct {
			Domain    string `json:"domain"`
			DSRecords struct {
				// Only whether there are keys is read; a key's fields (the private key
				// among them, in the reference's example) are never decoded.
				Keys map[string]struct{} `json:"keys"`
			} `json:"ds_records"`
		} `json:"domains"`
	}
	if _, err := c.Call(ctx, Read, "fetch_ds_records_for_domains", q, &d); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && strings.Contains(ae.Reason, noDNSSEC) {
			return nil, ErrNoDNSSEC
		}
		return nil, err
	}
	out := make(map[string]bool, len(domains))
	for _, x := range d.Domains {
		out[strings.ToLower(x.Domain)] = len(x.DSRecords.Keys) > 0
	}
	return out, nil
}
