package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// execute runs the command line in-process and returns stdout and the exit code.
func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot(testCLI())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	default:
		t.Fatalf("%v: %v", args, err)
		return "", -1
	}
}

func TestValidate(t *testing.T) {
	t.Chdir("../..")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("nodes:\n  web1: {role: parent, host: web1.example.net, profile: MAILNODE}\naccounts:\n  alice: {parent: web1, domain: alice.example, contactemial: a@b.org}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("valid fleet prints the summary", func(t *testing.T) {
		out, code := execute(t, "validate", "examples/quickstart")
		if code != 0 || out != "fleet OK: 5 nodes, 1 reseller, 10 accounts, 1 DNS cluster\n" {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
	t.Run("problems one per line, exit 1", func(t *testing.T) {
		out, code := execute(t, "validate", bad)
		want := bad + ":2:57: TETHER-L01: node web1: a parent's profile is MAILNODE; a parent only uses STANDARD (set profile: STANDARD or remove the line)\n" +
			bad + ":4:48: TETHER-SCHEMA: unknown field \"contactemial\" in account alice (did you mean \"contactEmail\"?)\n"
		if code != 1 || out != want {
			t.Fatalf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		out, code := execute(t, "validate", "--format", "json", bad)
		var rep struct {
			Valid    bool   `json:"valid"`
			Summary  string `json:"summary"`
			Problems []struct {
				Pos struct {
					File string `json:"file"`
					Line int    `json:"line"`
					Col  int    `json:"column"`
				} `json:"pos"`
				Rule, Message, Fix string
			} `json:"problems"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if code != 1 || rep.Valid || len(rep.Problems) != 2 || rep.Problems[1].Rule != "TETHER-SCHEMA" || rep.Problems[1].Pos.Line != 4 ||
			rep.Summary != "2 problems; the fleet is not valid" {
			t.Fatalf("exit %d, report %+v", code, rep)
		}
		out, code = execute(t, "validate", "--format", "json", "examples/quickstart")
		if code != 0 || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"problems": []`) || !strings.Contains(out, `"summary": "fleet OK`) {
			t.Fatalf("exit %d, output %s", code, out)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		out, code := execute(t, "validate", "no/such/fleet")
		if code != 1 || !strings.HasPrefix(out, "no/such/fleet: TETHER-LOAD: ") {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
	t.Run("default path is the current folder", func(t *testing.T) {
		t.Chdir("examples/quickstart")
		out, code := execute(t, "validate")
		if code != 0 || !strings.HasPrefix(out, "fleet OK") {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		root := newRoot(testCLI())
		root.SetOut(&bytes.Buffer{})
		root.SetArgs([]string{"validate", "--format", "yaml", "examples/quickstart"})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "want text or json") {
			t.Fatalf("err = %v", err)
		}
	})
}
