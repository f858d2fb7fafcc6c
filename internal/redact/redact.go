// Package redact takes credentials out of URLs and of text that may hold URLs, before
// they reach a log, an error or a terminal. It is the one place that knows what a
// credential in a URL looks like; loggers apply it to every attribute (ReplaceAttr),
// so a log site cannot forget it.
package redact

import (
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Mask stands for what was taken out.
const Mask = "***"

// sensitiveParams are query parameters whose values are credentials (matched without
// case, and as a suffix: "access_token", "X-Amz-Signature", "private_token").
var sensitiveParams = []string{"token", "secret", "password", "passwd", "pass", "key", "signature", "sig", "auth", "authorization", "credential", "credentials", "code"}

func sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, s := range sensitiveParams {
		if n == s || strings.HasSuffix(n, "_"+s) || strings.HasSuffix(n, "-"+s) {
			return true
		}
	}
	return false
}

// URL returns raw with its user information (user:password@, or a token given as the
// user name) and the values of credential-like query parameters replaced by ***. A
// string that is not a URL with a scheme comes back unchanged.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return userinfoFallback(raw)
	}
	changed := false
	if u.User != nil {
		// The whole user information goes: forges take a token as the user name
		// (https://TOKEN@host, https://x-access-token:TOKEN@host).
		u.User = url.User(Mask)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if sensitive(k) {
				for i := range vs {
					vs[i] = Mask
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	// url.String escapes the mask's stars in the user name; spell them plainly.
	return strings.Replace(u.String(), url.PathEscape(Mask)+"@", Mask+"@", 1)
}

// userinfoFallback handles what url.Parse refuses (a bad escape in a password, say):
// anything between "://" and the first "@" before the path is user information.
func userinfoFallback(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := len(rest)
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		end = j
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return raw[:i+3] + Mask + "@" + rest[at+1:]
	}
	return raw
}

// urlInText finds URLs in free text: a scheme, "://", and what follows up to a space
// or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// Text returns s with every URL in it passed through URL.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, URL)
}

// Error returns err with its text passed through Text, or err itself when there is
// nothing to take out (so errors.Is still sees through it).
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := Text(msg); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }

// Unwrap keeps errors.Is and errors.As working on the original.
func (r *redacted) Unwrap() error { return r.err }

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that redacts every string and
// error attribute (and the message), so a logger built with it never writes a URL's
// credentials, whichever log site passes one.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.Contains(s, "://") {
			a.Value = slog.StringValue(Text(s))
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := x.Error(); strings.Contains(s, "://") {
				a.Value = slog.StringValue(Text(s))
			}
		case interface{ String() string }:
			if s := x.String(); strings.Contains(s, "://") {
				a.Value = slog.StringValue(Text(s))
			}
		}
	}
	return a
}

// Options returns slog handler options at level that redact every attribute.
func Options(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: ReplaceAttr}
}
