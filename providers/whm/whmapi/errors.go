package whmapi

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tether-dev/tether/providers"
)

// Typed failures WHM reports in data.type (Cpanel::APICommon::Error). APIError
// unwraps to one of these, so callers write errors.Is(err, whmapi.ErrSendToParent).
var (
	// ErrSendToParent: a call for a distributed account was sent to a child node.
	ErrSendToParent = errors.New("the child node refuses this call: send it to the parent")
	// ErrTLSVerification: linking found a certificate the parent cannot verify.
	ErrTLSVerification = errors.New("TLS verification of the child failed")
	// ErrStale: mass_edit_dns_zone was given an old SOA serial.
	ErrStale = errors.New("stale zone serial")
	// ErrInvalidZoneFile: an edit would leave the zone unparseable.
	ErrInvalidZoneFile = errors.New("invalid zone file")
)

var typedErrors = map[string]error{
	"SendToParent":    ErrSendToParent,
	"TLSVerification": ErrTLSVerification,
	"Stale":           ErrStale,
	"InvalidZoneFile": ErrInvalidZoneFile,
}

// APIError is a function-level failure: HTTP 200 with metadata.result = 0.
// It is permanent: the server understood the call and said no.
type APIError struct {
	Node     string
	Function string
	Reason   string
	// Type is data.type when WHM sent a typed error ("SendToParent", ...).
	Type string
	// Detail is data.detail, kept raw for callers that need it (the TLS chain).
	Detail json.RawMessage
}

func (e *APIError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("node %s: %s: %s (%s)", e.Node, e.Function, e.Reason, e.Type)
	}
	return fmt.Sprintf("node %s: %s: %s", e.Node, e.Function, e.Reason)
}

// Unwrap exposes the typed sentinel, if any.
func (e *APIError) Unwrap() error { return typedErrors[e.Type] }

// AuthError is an HTTP 401/403: the token was refused. It names the node and the user,
// never the token.
type AuthError struct {
	Node, User, Function string
	Status               int
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("node %s: %s: the server refused the API token of user %q (HTTP %d): check the node's credentials (tokenEnv/tokenFile) and that the token is valid and holds the needed ACLs",
		e.Node, e.Function, e.User, e.Status)
}

// HTTPError is any other unexpected HTTP status. 5xx wrap providers.ErrTransient.
type HTTPError struct {
	Node, Function string
	Status         int
	// Snippet is the start of the body, with the token removed.
	Snippet string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("node %s: %s: HTTP %d", e.Node, e.Function, e.Status)
	if e.Snippet != "" {
		s += ": " + e.Snippet
	}
	return s
}

// Unwrap marks server errors as transient.
func (e *HTTPError) Unwrap() error {
	if e.Status >= 500 {
		return providers.ErrTransient
	}
	return nil
}

// DecodeError is a body that is not the WHM JSON envelope (an HTML error page, a
// proxy's message, truncated JSON).
type DecodeError struct {
	Node, Function string
	Err            error
	Snippet        string
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("node %s: %s: the answer is not a WHM API 1 response: %v", e.Node, e.Function, e.Err)
	if e.Snippet != "" {
		s += fmt.Sprintf(" (body starts %q)", e.Snippet)
	}
	return s
}

func (e *DecodeError) Unwrap() error { return e.Err }

// TransportError is a failure to get an HTTP answer at all: refused connection,
// timeout, TLS handshake failure. Transient, except for certificate problems.
type TransportError struct {
	Node, Function string
	Err            error
	// Permanent is set for failures that retrying cannot fix (certificate rejected).
	Permanent bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("node %s: %s: %v", e.Node, e.Function, e.Err)
}

// Unwrap returns both the cause and, unless permanent, providers.ErrTransient.
func (e *TransportError) Unwrap() []error {
	if e.Permanent {
		return []error{e.Err}
	}
	return []error{e.Err, providers.ErrTransient}
}
