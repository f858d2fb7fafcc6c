package rfc2136

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Key is a TSIG key. Its secret is unexported and every way of printing a Key hides
// it, so a Key can sit in an error or a log line without leaking.
type Key struct {
	Name      string // fully qualified ("tether.")
	Algorithm string // fully qualified ("hmac-sha256.")
	secret    string // base64
}

// NewKey builds a key; algorithm may be written with or without the final dot and
// defaults to hmac-sha256.
func NewKey(name, algorithm, secret string) (*Key, error) {
	if name == "" {
		return nil, fmt.Errorf("tsig: key name is empty")
	}
	if secret == "" {
		return nil, fmt.Errorf("tsig key %s: secret is empty", name)
	}
	alg := strings.ToLower(dns.Fqdn(strings.TrimSpace(algorithm)))
	if algorithm == "" {
		alg = dns.HmacSHA256
	}
	switch alg {
	case dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512, dns.HmacSHA224, dns.HmacSHA1:
	default:
		return nil, fmt.Errorf("tsig key %s: algorithm %q is not supported (use hmac-sha256)", name, algorithm)
	}
	return &Key{Name: strings.ToLower(dns.Fqdn(name)), Algorithm: alg, secret: strings.TrimSpace(secret)}, nil
}

// String never shows the secret.
func (k *Key) String() string {
	if k == nil {
		return "<no key>"
	}
	return fmt.Sprintf("%s (%s, secret redacted)", k.Name, strings.TrimSuffix(k.Algorithm, "."))
}

// GoString keeps %#v from printing the secret too.
func (k *Key) GoString() string { return k.String() }

// Format covers every verb (%v, %+v, %s, %q …).
func (k *Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

func (k *Key) tsigSecret() map[string]string {
	if k == nil {
		return nil
	}
	return map[string]string{k.Name: k.secret}
}

func (k *Key) sign(m *dns.Msg) {
	if k != nil {
		m.SetTsig(k.Name, k.Algorithm, 300, now().Unix())
	}
}

// pack signs m with k (when there is a key) and returns its wire form and the MAC the
// reply must be verified against (RFC 8945 5.3); without a key, the plain wire form.
func (k *Key) pack(m *dns.Msg) (wire []byte, mac string, err error) {
	k.sign(m)
	if k == nil {
		wire, err = m.Pack()
		return wire, "", err
	}
	return dns.TsigGenerate(m, k.secret, "", false)
}
