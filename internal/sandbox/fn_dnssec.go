package sandbox

import (
	"sort"
	"strconv"
	"strings"
)

// fnFetchDS answers fetch_ds_records_for_domains (reference "Return domain's DS
// record", 11.138.0.6; 11.120 Whostmgr/API/1/DNS.pm and Cpanel/DNSSEC.pm): the
// domains come as domain, domain-1, domain-2…; a server whose DNS server is not
// PowerDNS refuses with the exception of Cpanel/DNSSEC.pm _get_dns_obj; each domain
// gets its DS records, an empty object when it is not signed.
func fnFetchDS(c *call) (any, error) {
	var domains []string
	for k, vs := range c.args {
		if k == "domain" || strings.HasPrefix(k, "domain-") {
			for _, v := range vs {
				if v != "" {
					domains = append(domains, strings.ToLower(v))
				}
			}
		}
	}
	if len(domains) == 0 {
		return nil, missing("domain")
	}
	sort.Strings(domains)
	for _, d := range domains {
		if err := validDomain(d); err != nil {
			return nil, err
		}
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.st.NameServer != "powerdns" {
		return nil, die("DNSSEC is only supported on servers configured with PowerDNS.")
	}
	out := []map[string]any{}
	for _, d := range domains {
		ds := map[string]any{}
		if tag, ok := c.n.st.Signed[d]; ok {
			// One combined signing key, as PowerDNS's default setup makes; the
			// reference's example also returns the private key, which the sandbox
			// leaves out (no client should read it).
			ds["keys"] = map[string]any{strconv.Itoa(tag): map[string]any{
				"active": 1, "algo_desc": "ECDSA Curve P-256 with SHA-256", "algo_num": 13, "algo_tag": "ECDSAP256SHA256",
				"bits": 256, "created": 1700000000, "flags": 257, "key_id": 1, "key_tag": tag, "key_type": "CSK",
				"digests": []map[string]any{{"algo_desc": "SHA-256", "algo_num": 2, "digest": strings.Repeat("0", 64)}},
			}}
			ds["nsec_details"] = map[string]any{"nsec_version": "NSEC"}
		}
		out = append(out, map[string]any{"domain": d, "ds_records": ds})
	}
	return map[string]any{"domains": out}, nil
}
