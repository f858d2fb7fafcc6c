package sandbox

import (
	"crypto/tls"
	"net/url"
	"testing"
)

// A node's HTTPS agrees on X25519 with a client that offers Go's defaults (the
// X25519MLKEM768 hybrid first): whmCurves leaves the hybrid out.
func TestNodeHTTPSKeyExchange(t *testing.T) {
	s := startTest(t, "")
	u, err := url.Parse(s.eps.Nodes["web1"].WHM)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, pinnedTLS(s.eps.Nodes["web1"].Fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().CurveID; got != tls.X25519 {
		t.Errorf("key exchange %v, want X25519", got)
	}
}
