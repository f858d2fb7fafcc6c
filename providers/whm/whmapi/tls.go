package whmapi

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tether-dev/tether/providers"
)

// A WHM server answers on HTTPS with a self-signed certificate until its host name
// has a signed one. Tether verifies every certificate and never skips it silently:
// against the system's roots, a CA file (tls.caFile) or a pinned SHA-256 fingerprint
// of the certificate itself (tls.fingerprint); tls.insecure turns verification off
// with a loud warning. An untrusted certificate fails with an UntrustedError that
// names the node, the fingerprint seen and how to pin it.

// UntrustedError is a server certificate Tether could not verify.
type UntrustedError struct {
	Node string
	// Fingerprint is the SHA-256 of the certificate the server presented.
	Fingerprint string
	// Pinned is the fingerprint the fleet expects, when one is pinned.
	Pinned string
	Err    error
}

func (e *UntrustedError) Error() string {
	if e.Pinned != "" {
		return fmt.Sprintf("the server's certificate has SHA-256 fingerprint %s, not the one node %s pins (tls.fingerprint %s): the server renewed its certificate or was reinstalled, or this is not the server; check the new fingerprint out of band before pinning it", e.Fingerprint, e.Node, e.Pinned)
	}
	return fmt.Sprintf("TLS certificate not trusted (%v); it has SHA-256 fingerprint %s: after checking that fingerprint out of band, pin it with tls: {fingerprint: \"%s\"} on node %s, or give its CA with tls: {caFile: PATH}", e.Err, e.Fingerprint, e.Fingerprint, e.Node)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// CertFingerprint is the SHA-256 of a DER certificate as the fleet writes it:
// "sha256:" and 64 lowercase hex digits.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NormalizeFingerprint accepts "sha256:HEX" with hex in either case and optional
// colons between bytes (as openssl prints it) and returns the canonical form, or ""
// when it is not a SHA-256 fingerprint.
func NormalizeFingerprint(s string) string {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	if !ok {
		return ""
	}
	rest = strings.ReplaceAll(rest, ":", "")
	if b, err := hex.DecodeString(rest); err != nil || len(b) != sha256.Size {
		return ""
	}
	return "sha256:" + rest
}

// MaxConnsPerNode is the most calls the provider itself makes at once to one node
// (the parallel zone reads).
const MaxConnsPerNode = 32

// maxIdlePerNode is the idle connections kept per node: more than any caller runs at
// once against one node (the zone reads' MaxConnsPerNode, an apply's --per-node), so
// that a call finishing never closes a connection the next call then opens again
// with a TLS handshake. With 32 kept, an apply of 64 calls at once to one parent
// closed and reopened a connection for about one call in twenty. Only connections
// that were in use at once are ever kept, and idle ones close after the transport's
// IdleConnTimeout (90 s).
const maxIdlePerNode = 256

// sessionsPerNode is the TLS sessions kept for resumption per node. A node has one
// name, so the cache holds one entry; crypto/tls keys sessions by server name.
const sessionsPerNode = 1

// transport builds the HTTP transport for one node's endpoint.
func transport(node string, u string, ep providers.Endpoint) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// One transport per node: its total bound is the node's bound.
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = maxIdlePerNode, maxIdlePerNode
	if ep.Address != "" {
		// Reach the server at another address (a tunnel, an IP, another port) while the
		// URL keeps its host name: the certificate is checked against that name.
		addr := ep.Address
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	// A node's later connections resume its first one's TLS session instead of a full
	// handshake (a parent's observe opens up to four at once, an apply up to 64): no
	// certificate is sent, parsed and checked again. The cache is this node's own, as
	// the transport is: nodes behind one host name (the sandbox's 127.0.0.1, a tunnel)
	// never offer each other's sessions. Resumption keeps the checks below: crypto/tls
	// runs VerifyConnection on resumed connections too, with the certificates of the
	// session's full handshake, so a pin or a CA file is checked on every connection
	// (and InsecureSkipVerify, set below for our own checks, only skips crypto/tls's).
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(sessionsPerNode)}
	tr.TLSClientConfig = cfg
	if ep.Insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // asked for; warned about at every client's first call
		return tr, nil
	}
	var roots *x509.CertPool
	if ep.CAFile != "" {
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("node %s: CA file: %w", node, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("node %s: CA file %s holds no PEM certificate", node, ep.CAFile)
		}
	}
	pin := ""
	if ep.Fingerprint != "" {
		if pin = NormalizeFingerprint(ep.Fingerprint); pin == "" {
			return nil, fmt.Errorf("node %s: tls.fingerprint %q is not a SHA-256 fingerprint (sha256: and 64 hex digits)", node, ep.Fingerprint)
		}
	}
	// Go verifies against the system roots by default, but then the certificate of a
	// failed handshake is out of reach. Verify here instead, with the same rules, so the
	// error can say which certificate was seen and how to pin it.
	cfg.InsecureSkipVerify = true //nolint:gosec // replaced by VerifyConnection below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &UntrustedError{Node: node, Err: errors.New("the server sent no certificate")}
		}
		leaf := cs.PeerCertificates[0]
		seen := CertFingerprint(leaf.Raw)
		if pin != "" {
			if seen != pin {
				return &UntrustedError{Node: node, Fingerprint: seen, Pinned: pin}
			}
			return nil // the very certificate the operator pinned
		}
		opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := leaf.Verify(opts); err != nil {
			return &UntrustedError{Node: node, Fingerprint: seen, Err: err}
		}
		return nil
	}
	return tr, nil
}
