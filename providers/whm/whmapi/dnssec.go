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

// dsRecords is fetch_ds_records_for_domains' data, as far as it is read.
type dsRecords struct {
	Domains []struct {
		Domain    string `json:"domain"`
		DSRecords struct {
			// Only whether there are keys is read; a key's fields (the private key
			// among them, in the reference's example) are never decoded.
			Keys map[string]struct{} `json:"keys"`
		} `json:"ds_records"`
	} `json:"domains"`
}

// signed is which domains have keys, by lowered name.
func (d *dsRecords) signed(n int) map[string]bool {
	out := make(map[string]bool, n)
	for _, x := range d.Domains {
		out[strings.ToLower(x.Domain)] = len(x.DSRecords.Keys) > 0
	}
	return out
}

// noDNSSECError is err, or ErrNoDNSSEC when it is the server saying it has no
// PowerDNS.
func noDNSSECError(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && strings.Contains(ae.Reason, noDNSSEC) {
		return ErrNoDNSSEC
	}
	return err
}

// SignedDomains reads which of the given domains have DS records (are signed with
// DNSSEC), with fetch_ds_records_for_domains (domain, domain-1, …). A server without
// PowerDNS answers ErrNoDNSSEC.
func (c *Client) SignedDomains(ctx context.Context, domains []string) (map[string]bool, error) {
	// The domain parameter repeated, as the function's page allows.
	var d dsRecords
	if _, err := c.Call(ctx, Read, "fetch_ds_records_for_domains", url.Values{"domain": domains}, &d); err != nil {
		return nil, noDNSSECError(err)
	}
	return d.signed(len(domains)), nil
}

// SignedDomainsBatch is SignedDomains for several lists of domains in one batch
// request: a clustered parent of 500 accounts asked three calls one after another.
// got[i] and errs[i] are list i's (ErrNoDNSSEC from a server without PowerDNS); the
// error is the request's. A server that refuses batch is asked call by call.
func (c *Client) SignedDomainsBatch(ctx context.Context, lists [][]string) (got []map[string]bool, errs []error, err error) {
	outs := make([]dsRecords, len(lists))
	reads := make([]BatchRead, len(lists))
	for i, l := range lists {
		reads[i] = BatchRead{Function: "fetch_ds_records_for_domains", Params: url.Values{"domain": l}, Out: &outs[i]}
	}
	got = make([]map[string]bool, len(lists))
	errs, err = c.ReadBatch(ctx, reads)
	var refused *APIError
	if errors.As(err, &refused) && refused.Function == "batch" {
		c.log.Warn("batch refused; reading DNSSEC call by call", "node", c.node, "reason", refused.Reason)
		errs = make([]error, len(lists))
		for i, l := range lists {
			got[i], errs[i] = c.SignedDomains(ctx, l)
		}
		return got, errs, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range outs {
		if errs[i] != nil {
			errs[i] = noDNSSECError(errs[i])
			continue
		}
		got[i] = outs[i].signed(len(lists[i]))
	}
	return got, errs, nil
}
