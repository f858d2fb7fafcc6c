package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-dev/tether/internal/atomicfile"
	"github.com/tether-dev/tether/providers"
)

// A real WHM answers on HTTPS (port 2087) with a self-signed certificate for its host
// name until the host name gets a signed one. Each sandbox node does the same: a
// self-signed certificate for its host name (and 127.0.0.1, where it listens), made on
// first start and kept in the state folder, so its fingerprint survives restarts as
// a real server's does. Clients pin it by fingerprint or use it as a CA file
// (endpoints.json gives both).

// certFile and keyFile are where a node's certificate and key are kept.
func certFile(stateDir, node string) string {
	return filepath.Join(stateDir, "nodes", node+".crt")
}

func keyFile(stateDir, node string) string {
	return filepath.Join(stateDir, "nodes", node+".key")
}

// Fingerprint is the SHA-256 of a DER certificate as Tether's fleet writes it:
// "sha256:" and 64 lowercase hex digits.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// nodeCert loads the node's certificate, or makes and saves one for host.
func nodeCert(stateDir, node, host string) (tls.Certificate, error) {
	cf, kf := certFile(stateDir, node), keyFile(stateDir, node)
	if c, err := tls.LoadX509KeyPair(cf, kf); err == nil {
		leaf, perr := x509.ParseCertificate(c.Certificate[0])
		if perr == nil && leaf.VerifyHostname(host) == nil && time.Now().Before(leaf.NotAfter) {
			c.Leaf = leaf
			return c, nil
		}
		// A host renamed in the state, or an expired certificate: make a new one,
		// as a server's own self-signed certificate is remade.
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("sandbox: node %s: certificate: %w", node, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Tether sandbox"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		// Self-signed and its own CA, so it can be given as a CA file.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{host},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// whmCurves are the key exchanges a node's HTTPS offers, and its parent→child proxy:
// the classic elliptic-curve groups of OpenSSL's default list (cpsrvd terminates TLS
// with OpenSSL), without Go's default X25519MLKEM768 hybrid, whose ML-KEM half was
// half of every handshake's CPU on the sandbox's side. Handshakes are most of what a
// new client costs the sandbox: a plan opens a connection to each of 1,000 nodes.
// See UNCONFIRMED.md.
var whmCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// pinnedTLS is a client TLS configuration that accepts exactly the certificates
// whose fingerprints are given (the sandbox's own nodes).
func pinnedTLS(fingerprints ...string) *tls.Config {
	ok := map[string]bool{}
	for _, f := range fingerprints {
		ok[f] = true
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done below, against the pins, instead of the system roots.
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			if f := Fingerprint(cs.PeerCertificates[0].Raw); !ok[f] {
				return fmt.Errorf("certificate %s is not one of the sandbox's", f)
			}
			return nil
		},
	}
}

// HTTPClient is a client that trusts the sandbox's nodes (their certificates are
// pinned), for tests and tools that call the sandbox directly.
func (eps *Endpoints) HTTPClient(timeout time.Duration) *http.Client {
	var fps []string
	for _, ep := range eps.Nodes {
		if ep.Fingerprint != "" {
			fps = append(fps, ep.Fingerprint)
		}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 32, TLSClientConfig: pinnedTLS(fps...)}}
}

// ProviderEndpoint is how a provider reaches the node: its URL, root credentials and
// DNS address, with the node's certificate pinned by fingerprint.
func (e Endpoint) ProviderEndpoint() providers.Endpoint {
	return providers.Endpoint{URL: e.WHM, User: e.User, Token: e.Token, DNS: e.DNS, Fingerprint: e.Fingerprint}
}
