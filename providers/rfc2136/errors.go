package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/providers"
)

// Kinds of failed command. A *CommandError wraps exactly one, so callers test with
// errors.Is(err, rfc2136.ErrTimeout) and so on.
var (
	ErrTimeout         = errors.New("timed out")
	ErrTSIGRefused     = errors.New("TSIG key refused")
	ErrServFail        = errors.New("server failure")
	ErrTransferDropped = errors.New("zone transfer dropped")
	ErrZoneNotServed   = errors.New("zone not served by the member")
	ErrRefused         = errors.New("refused")
	ErrProtocol        = errors.New("unexpected answer")
	// ErrUnreachable: nothing answers at the member's address (connection refused,
	// no route): the server is down or the address is wrong.
	ErrUnreachable = errors.New("unreachable")
	// ErrDisabled is returned, without touching the member, while a member is disabled.
	ErrDisabled = errors.New("member is disabled")
)

// CommandError is one failed command (an UPDATE or an AXFR) sent to one member.
type CommandError struct {
	Member string // member name
	Addr   string // host:port
	Zone   string // origin, without the final dot
	Op     string // "UPDATE" or "AXFR"
	Kind   error  // one of the Err… kinds
	Rcode  int    // the server's rcode, or -1 when it did not answer one
	Err    error  // the underlying cause, if any
}

func (e *CommandError) Error() string {
	if e.Kind == ErrZoneNotServed {
		return fmt.Sprintf("member %s (%s) does not serve zone %s: create it on the nameserver first (see README)", e.Member, e.Addr, e.Zone)
	}
	return fmt.Sprintf("member %s (%s): zone %s: %s", e.Member, e.Addr, e.Zone, e.short())
}

// short is the error without member and zone, for messages that already name them.
func (e *CommandError) short() string {
	if e.Kind == ErrZoneNotServed {
		return fmt.Sprintf("%s: zone not served (rcode %s)", e.Op, rcodeName(e.Rcode))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", e.Op, e.Kind)
	if e.Rcode >= 0 {
		fmt.Fprintf(&b, " (rcode %s)", rcodeName(e.Rcode))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap exposes the kind, the cause, and providers.ErrTransient for failures that
// are worth retrying (timeouts, SERVFAIL, a dropped transfer).
func (e *CommandError) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Kind == ErrTimeout || e.Kind == ErrServFail || e.Kind == ErrTransferDropped || e.Kind == ErrUnreachable {
		errs = append(errs, providers.ErrTransient)
	}
	return errs
}

// memberWide reports whether the failure concerns the member as a whole, so the
// other zones are not tried in this run (they would fail the same way).
func (e *CommandError) memberWide() bool {
	return e.Kind == ErrTimeout || e.Kind == ErrTSIGRefused || e.Kind == ErrTransferDropped || e.Kind == ErrProtocol || e.Kind == ErrUnreachable
}

// isUnreachable reports a connection that could not be made: refused, or no route.
func isUnreachable(err error) bool {
	var oe *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || (errors.As(err, &oe) && oe.Op == "dial" && !oe.Timeout())
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isTSIGError reports a signature that failed, or is missing from the answer to a
// signed request (RFC 8945 5.3: a server that verified the key signs its answer).
func isTSIGError(err error) bool {
	return errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrNoSig) || errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKeyAlg) ||
		errors.Is(err, dns.ErrTime) || errors.Is(err, dns.ErrAuth)
}

// classifyRcode maps an rcode (and the TSIG error field, when the reply carries one)
// to a kind; nil for success.
func classifyRcode(rc int, tsigErr uint16) error {
	switch {
	case tsigErr != 0:
		return ErrTSIGRefused
	case rc == dns.RcodeSuccess:
		return nil
	case rc == dns.RcodeServerFailure:
		return ErrServFail
	case rc == dns.RcodeNotAuth || rc == dns.RcodeNotZone:
		return ErrZoneNotServed
	case rc == dns.RcodeBadSig || rc == dns.RcodeBadKey || rc == dns.RcodeBadTime:
		return ErrTSIGRefused
	case rc == dns.RcodeRefused:
		return ErrRefused
	default:
		return ErrProtocol
	}
}

// classifyUpdate turns the outcome of one UPDATE into a *CommandError, or nil.
// miekg/dns returns the reply together with ErrAuth for any NOTAUTH answer, so the
// reply's rcode and TSIG error decide between a refused key and a zone not served.
func classifyUpdate(t Target, zone string, r *dns.Msg, err error) *CommandError {
	ce := &CommandError{Member: t.Name, Addr: t.Addr, Zone: trimDot(zone), Op: "UPDATE", Rcode: -1}
	if r != nil && (err == nil || isTSIGError(err)) {
		var te uint16
		if ts := r.IsTsig(); ts != nil {
			te = ts.Error
		}
		kind := classifyRcode(r.Rcode, te)
		if kind == nil && err == nil && t.Key != nil && r.IsTsig() == nil {
			// RFC 8945 5.3: the answer to a signed request is signed; an unsigned
			// "success" proves nothing about who answered.
			kind, err = ErrTSIGRefused, errors.New("the answer is not signed")
		}
		if kind == nil && err == nil {
			return nil
		}
		if kind == nil {
			// Success, but the reply's signature does not verify: not our server, or
			// not our key.
			kind, ce.Err = ErrTSIGRefused, err
		}
		ce.Kind, ce.Rcode = kind, r.Rcode
		if te != 0 {
			ce.Err = fmt.Errorf("TSIG error %s", rcodeName(int(te)))
		}
		return ce
	}
	switch {
	case err != nil && isTimeout(err):
		ce.Kind, ce.Err = ErrTimeout, err
	case err != nil && isTSIGError(err):
		ce.Kind, ce.Err = ErrTSIGRefused, err
	case err != nil && isUnreachable(err):
		ce.Kind, ce.Err = ErrUnreachable, err
	case err != nil:
		ce.Kind, ce.Err = ErrProtocol, err
	default:
		ce.Kind = ErrProtocol
	}
	return ce
}

// classifyTransfer turns a failed AXFR into a *CommandError.
func classifyTransfer(t Target, zone string, err error) *CommandError {
	ce := &CommandError{Member: t.Name, Addr: t.Addr, Zone: trimDot(zone), Op: "AXFR", Rcode: -1, Err: err}
	var te *transferError
	if errors.As(err, &te) && te.Rcode >= 0 {
		ce.Rcode = te.Rcode
		ce.Kind = classifyRcode(te.Rcode, te.TSIGError)
		if ce.Kind == nil {
			ce.Kind = ErrProtocol
		}
		ce.Err = nil
		if te.TSIGError != 0 {
			ce.Err = fmt.Errorf("TSIG error %s", rcodeName(int(te.TSIGError)))
		}
		return ce
	}
	switch {
	case isTimeout(err):
		ce.Kind = ErrTimeout
	case isTSIGError(err):
		ce.Kind = ErrTSIGRefused
	case isUnreachable(err):
		ce.Kind = ErrUnreachable
	case errors.As(err, &te) && te.Received > 0:
		ce.Kind = ErrTransferDropped
	case errors.Is(err, dns.ErrSoa):
		ce.Kind = ErrProtocol
	default:
		// A transfer that fails before its first message without an rcode is a
		// dropped connection as well.
		ce.Kind = ErrTransferDropped
	}
	return ce
}

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }
