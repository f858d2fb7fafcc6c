package providers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSecret = "S3CRET-VALUE-0123456789"

func TestSecretResolver(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := write("private", testSecret+"\n", 0o600)
	open := write("open", testSecret, 0o644)
	empty := write("empty", " \n", 0o600)
	env := map[string]string{"SET": "  " + testSecret + "\n", "BLANK": " "}
	tests := []struct {
		name   string
		ref    SecretRef
		strict bool
		want   string
		err    string
		warn   bool
	}{
		{"env", SecretRef{Env: "SET"}, false, testSecret, "", false},
		{"env unset", SecretRef{Env: "NOPE", EnvField: "credentials.tokenEnv"}, false, "", "environment variable NOPE (credentials.tokenEnv) is not set or empty", false},
		{"env blank", SecretRef{Env: "BLANK"}, false, "", "is not set or empty", false},
		{"file", SecretRef{File: private}, false, testSecret, "", false},
		{"file open: warned", SecretRef{File: open, What: "token"}, false, testSecret, "", true},
		{"file open: strict", SecretRef{File: open, What: "token"}, true, "", "can be read by its group or others", false},
		{"file empty", SecretRef{File: empty, FileField: "tsig.secretFile"}, false, "", "(tsig.secretFile) is empty", false},
		{"file missing", SecretRef{File: filepath.Join(dir, "missing"), What: "token", FileField: "credentials.tokenFile"}, false, "", "read token file (credentials.tokenFile)", false},
		{"none", SecretRef{EnvField: "secretEnv", FileField: "secretFile"}, false, "", "no secret reference (set secretEnv or secretFile)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warned := false
			r := SecretResolver{Getenv: func(k string) string { return env[k] }, Strict: tt.strict, Warn: func(string) { warned = true }}
			got, err := r.Resolve(tt.ref)
			if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %q, %v; want %q, error %q", got, err, tt.want, tt.err)
			}
			if warned != tt.warn {
				t.Errorf("warned %v, want %v", warned, tt.warn)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("the error shows the testSecret: %v", err)
			}
		})
	}
}
