package planfile

import (
	"encoding/json"
	"slices"

	"github.com/tether-dev/tether/schema"
)

// appendAccountJSON appends json.Marshal's bytes for a, written field by field:
// accounts are nearly all of a large fleet's objects, and encoding/json's reflective
// walk of each was most of the fingerprint's CPU. The digests must stay those of
// json.Marshal, which plans saved by earlier versions hold
// (TestFingerprintDigestsAreMarshal, TestAppendAccountJSONIsMarshal; the latter
// fails on a field added to Account and not here).
func appendAccountJSON(b []byte, a *schema.Account) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"parent":`...)
	b = appendJSONString(b, a.Parent)
	b = append(b, `,"domain":`...)
	b = appendJSONString(b, a.Domain)
	if a.Owner != "" {
		b = append(b, `,"owner":`...)
		b = appendJSONString(b, a.Owner)
	}
	if a.Plan != "" {
		b = append(b, `,"plan":`...)
		b = appendJSONString(b, a.Plan)
	}
	if a.ContactEmail != "" {
		b = append(b, `,"contactEmail":`...)
		b = appendJSONString(b, a.ContactEmail)
	}
	if a.IPv6 {
		b = append(b, `,"ipv6":true`...)
	}
	if len(a.Features) > 0 {
		b = append(b, `,"features":{`...)
		keys := make([]string, 0, len(a.Features))
		for k := range a.Features {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			if a.Features[k] {
				b = append(b, ":true"...)
			} else {
				b = append(b, ":false"...)
			}
		}
		b = append(b, '}')
	}
	if a.Mail != nil {
		b = append(b, `,"mail":{`...)
		if a.Mail.Node != "" {
			b = append(b, `"node":`...)
			b = appendJSONString(b, a.Mail.Node)
		}
		b = append(b, '}')
	}
	if a.AutoSSL != nil {
		b = append(b, `,"autossl":{`...)
		if len(a.AutoSSL.DCV) > 0 {
			b = append(b, `"dcv":[`...)
			for i, d := range a.AutoSSL.DCV {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, d)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if len(a.Forwarders) > 0 {
		b = append(b, `,"forwarders":[`...)
		for i, f := range a.Forwarders {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"from":`...)
			b = appendJSONString(b, f.From)
			b = append(b, `,"to":`...)
			b = appendJSONString(b, f.To)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if a.IPv6Range != "" {
		b = append(b, `,"ipv6Range":`...)
		b = appendJSONString(b, a.IPv6Range)
	}
	if a.Suspended {
		b = append(b, `,"suspended":true`...)
	}
	if a.Protect {
		b = append(b, `,"protect":true`...)
	}
	if a.DNSSEC {
		b = append(b, `,"dnssec":true`...)
	}
	return append(b, '}')
}

// appendJSONString appends s as json.Marshal writes it. Printable ASCII other than
// the characters it escapes is written as it is; anything else (escapes, HTML
// characters, non-ASCII, invalid UTF-8) by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
