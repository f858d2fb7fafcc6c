package watch

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// hookBodyLimit bounds what /hook reads to check a signature. GitHub caps webhook
// payloads at 25 MB; a push event is a few kilobytes.
const hookBodyLimit = 25 << 20

// Errors of the hook's authentication; the caller answers 401 (or 403 when the hook
// is closed) and never says which secret it expected.
var (
	errHookClosed   = errors.New("the hook is closed: the daemon has no hook secret (set TETHER_HOOK_TOKEN) and was not started with --hook-open")
	errHookUnsigned = errors.New("no credentials: send Authorization: Bearer TOKEN, or configure the forge's webhook secret (GitHub X-Hub-Signature-256, GitLab X-Gitlab-Token, Gitea/Forgejo X-Gitea-Signature)")
	errHookBad      = errors.New("the credentials do not match")
)

// authenticateHook checks a /hook request against the daemon's secret, in every form a
// forge sends it:
//
//   - Authorization: Bearer SECRET (curl, scripts);
//   - X-Gitlab-Token: SECRET (GitLab sends the secret token as is);
//   - X-Hub-Signature-256: sha256=HEX, HMAC-SHA256 of the body keyed by the secret
//     (GitHub);
//   - X-Gitea-Signature, X-Forgejo-Signature, X-Gogs-Signature: HEX, the same HMAC
//     without the prefix (Gitea, Forgejo, Gogs).
//
// Every comparison takes constant time. The first form present decides: a request
// with a wrong signature is refused even if it also carries other headers. An open
// hook (secret empty, open true) takes every request.
func authenticateHook(r *http.Request, secret string, open bool) error {
	if secret == "" {
		if open {
			return nil
		}
		return errHookClosed
	}
	key := []byte(secret)
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !equalConst(tok, secret) {
			return errHookBad
		}
		return nil
	}
	if tok := r.Header.Get("X-Gitlab-Token"); tok != "" {
		if !equalConst(tok, secret) {
			return errHookBad
		}
		return nil
	}
	if sig := r.Header.Get("X-Hub-Signature-256"); sig != "" {
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return errHookBad
		}
		return checkHMAC(r, key, hexSig)
	}
	for _, h := range []string{"X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"} {
		if sig := r.Header.Get(h); sig != "" {
			return checkHMAC(r, key, sig)
		}
	}
	return errHookUnsigned
}

// checkHMAC compares the hex HMAC-SHA256 of the request body with want.
func checkHMAC(r *http.Request, key []byte, want string) error {
	got, err := hex.DecodeString(strings.TrimSpace(want))
	if err != nil {
		return errHookBad
	}
	mac := hmac.New(sha256.New, key)
	if _, err := io.Copy(mac, http.MaxBytesReader(nil, r.Body, hookBodyLimit)); err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	if !hmac.Equal(mac.Sum(nil), got) {
		return errHookBad
	}
	return nil
}

// equalConst compares two secrets in time that does not depend on where they differ
// (nor, through hashing first, on their lengths).
func equalConst(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// isLoopback reports whether a listener's address only accepts local connections.
// An unspecified address (":9310", "0.0.0.0", "::") accepts every interface.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}
