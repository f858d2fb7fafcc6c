package providers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// SecretResolver resolves the secret references a fleet holds (tokenEnv/tokenFile,
// secretEnv/secretFile) to the secrets themselves. It is the one resolver: the
// session resolving node tokens, the providers resolving TSIG keys and link tokens,
// all go through SecretResolver.Resolve, so every reference is read, trimmed, checked
// and worded the same way. It sits in package providers (what providers share), so
// providers and internal/ both use it. The zero value reads the process's environment
// and disk and says nothing about a readable file; the session sets Warn and Strict.
type SecretResolver struct {
	// Getenv, ReadFile and Stat stand in for the environment and the disk in tests.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	Stat     func(string) (fs.FileInfo, error)
	// Strict refuses a secret file its group or others may read; otherwise Warn (if
	// set) is told about it.
	Strict bool
	Warn   func(msg string)
}

// SecretRef is one reference: an environment variable or a file, with the fleet keys that
// hold them (for messages: "credentials.tokenEnv").
type SecretRef struct {
	Env, File           string
	EnvField, FileField string
	// What names the secret in messages: "token", "secret".
	What string
}

// ErrNoSecretRef is returned for a reference that names neither a variable nor a file.
var ErrNoSecretRef = errors.New("no secret reference")

// Resolve returns the secret r names, without surrounding white space. An unset or
// empty variable, an empty or unreadable file, and (when Strict) a file others can
// read are errors; an error never holds the secret.
func (res SecretResolver) Resolve(r SecretRef) (string, error) {
	what := r.What
	if what == "" {
		what = "secret"
	}
	switch {
	case r.Env != "":
		getenv := res.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		v := strings.TrimSpace(getenv(r.Env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s%s is not set or empty", r.Env, field(r.EnvField))
		}
		return v, nil
	case r.File != "":
		stat, read := res.Stat, res.ReadFile
		if stat == nil {
			stat = os.Stat
		}
		if read == nil {
			read = os.ReadFile
		}
		// A file its group or others can read gives the secret to every local account
		// that can.
		if fi, err := stat(r.File); err == nil && fi.Mode().Perm()&0o077 != 0 {
			msg := fmt.Sprintf("%s file %s%s can be read by its group or others (mode %04o); make it private: chmod 600 %s", what, r.File, field(r.FileField), fi.Mode().Perm(), r.File)
			if res.Strict {
				return "", fmt.Errorf("%s (--strict)", msg)
			}
			if res.Warn != nil {
				res.Warn(msg)
			}
		}
		b, err := read(r.File)
		if err != nil {
			return "", fmt.Errorf("read %s file%s: %w", what, field(r.FileField), err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s file %s%s is empty", what, r.File, field(r.FileField))
		}
		return v, nil
	default:
		hint := "an environment variable or a file"
		if r.EnvField != "" && r.FileField != "" {
			hint = r.EnvField + " or " + r.FileField
		}
		return "", fmt.Errorf("%w (set %s)", ErrNoSecretRef, hint)
	}
}

// Func adapts the resolver to Config.Secrets: a reference by variable and file (a
// TSIG key's, a child's link token).
func (res SecretResolver) Func() func(env, file string) (string, error) {
	return func(env, file string) (string, error) {
		return res.Resolve(SecretRef{Env: env, File: file})
	}
}

func field(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}
