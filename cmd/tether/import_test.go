package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nodesOnly is what an operator knows before importing: the parent and how to reach it.
const nodesOnly = `nodes:
  web1:
    role: parent
    host: web1.example.net
    ipv4: 192.0.2.10
    version: 118
    profile: STANDARD
    credentials: {user: root, tokenEnv: WEB1_WHM_TOKEN}
`

// TestImportRoundTrip applies a fleet on the sandbox, imports it from its parent
// alone, and requires the imported fleet to validate and to plan no changes.
func TestImportRoundTrip(t *testing.T) {
	for _, tc := range []struct{ format, split string }{
		{"yaml", ""},
		{"cue", ""},
		{"yaml", "parent"},
	} {
		t.Run(tc.format+"/"+tc.split, func(t *testing.T) {
			e := newEnv(t)
			expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")

			nodes := filepath.Join(e.dir, "nodes")
			os.MkdirAll(nodes, 0o700)
			if err := os.WriteFile(filepath.Join(nodes, "nodes.yaml"), []byte(nodesOnly), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(e.dir, "imported")
			args := []string{"import", nodes, "--out", out, "--format", tc.format}
			if tc.split != "" {
				args = append(args, "--split-by", tc.split)
			}
			r := e.run(t, args...)
			expect(t, r, 0, "Imported fleet OK: 3 nodes, 1 reseller", "The imported fleet is valid: `tether plan --sandbox --sandbox-state ")
			files, _ := filepath.Glob(filepath.Join(out, "*."+tc.format))
			if len(files) == 0 {
				t.Fatalf("no %s files written to %s", tc.format, out)
			}
			for _, f := range files {
				b, _ := os.ReadFile(f)
				if strings.Contains(string(b), "token:") {
					t.Fatalf("%s holds a token", f)
				}
			}
			expect(t, tether(t, t.Context(), "", "validate", out), 0, "fleet OK")
			r = e.run(t, "plan", "--detailed-exitcode", out)
			expect(t, r, 0, "No changes.")
		})
	}
}

// TestImportNeedsAParent: import starts from parents; without one it says so.
func TestImportNeedsAParent(t *testing.T) {
	e := newEnv(t)
	nodes := filepath.Join(e.dir, "nodes")
	os.MkdirAll(nodes, 0o700)
	os.WriteFile(filepath.Join(nodes, "nodes.yaml"), []byte("nodes:\n  ns1: {role: dnsonly, host: ns1.example.net, version: 118, credentials: {user: root, tokenEnv: NS1}}\n"), 0o600)
	r := e.run(t, "import", nodes, "--out", filepath.Join(e.dir, "out"))
	expect(t, r, 1, "declares no parent")
}
