package whmapi

import (
	"net/url"
	"slices"
	"strings"
)

// encodeQuery is url.Values.Encode, byte for byte (keys sorted, each key and value
// escaped as url.QueryEscape does), written into one buffer sized up front and
// escaped in place. A batch's query holds every command escaped once more (200
// uapi_cpanel commands in a forwarders batch): Encode's growing builder and a
// QueryEscape copy of each value were most of what a forwarders read allocated.
func encodeQuery(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	var arr [8]string
	keys := arr[:0]
	n := 0
	for k, vs := range v {
		keys = append(keys, k)
		for _, s := range vs {
			n += len(k) + len(s) + 2
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n + n/4)
	for _, k := range keys {
		for _, s := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			writeQueryEscape(&b, k)
			b.WriteByte('=')
			writeQueryEscape(&b, s)
		}
	}
	return b.String()
}

// writeQueryEscape writes s escaped as url.QueryEscape escapes it: the unreserved
// characters of RFC 3986 kept, a space as '+', every other byte as %XX in upper
// case (net/url's shouldEscape for a query component).
func writeQueryEscape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			continue
		}
		b.WriteString(s[start:i])
		if c == ' ' {
			b.WriteByte('+')
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
		start = i + 1
	}
	b.WriteString(s[start:])
}

// commandQuery is a batch command's value: the function, '?' and its parameters
// encoded.
func commandQuery(function string, params url.Values) string {
	var sb strings.Builder
	q := encodeQuery(params)
	sb.Grow(len(function) + 1 + len(q))
	sb.WriteString(function)
	sb.WriteByte('?')
	sb.WriteString(q)
	return sb.String()
}
