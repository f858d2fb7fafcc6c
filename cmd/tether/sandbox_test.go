package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/sandbox"
)

const serveFleet = `nodes:
  web1:
    role: parent
    host: web1.example.net
    ipv4: 192.0.2.10
    version: 118
    profile: STANDARD
    credentials: {user: root, tokenEnv: WEB1_WHM_TOKEN}
  mail1:
    role: child
    parent: web1
    host: mail1.example.net
    ipv4: 192.0.2.20
    version: 118
    profile: MAILNODE
    services: [mail]
    credentials: {user: root, tokenEnv: MAIL1_WHM_TOKEN}
`

func TestSandboxServe(t *testing.T) {
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleet, []byte(serveFleet), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	done := make(chan int, 1)
	go func() {
		done <- run(testCLI(), []string{"sandbox", "serve", "--state", state, "--fleet", fleet, "--task-delay", "10ms", "--fault", "mail1:latency=1ms"})
	}()
	var eps *sandbox.Endpoints
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if eps, ok = sandbox.Serving(state); ok {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve ended early with %d", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(eps.Nodes) != 2 || eps.Nodes["web1"].DNS == "" || len(eps.Nodes["mail1"].Token) != 32 {
		t.Fatalf("endpoints = %+v", eps.Nodes)
	}
	if code := run(testCLI(), []string{"sandbox", "serve", "--state", state}); code != 1 {
		t.Fatalf("a second serve of the same folder exited %d, want 1", code)
	}
	if err := interruptSelf(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after SIGINT", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
	if _, ok := sandbox.Serving(state); ok {
		t.Fatal("still serving after stop")
	}
	if _, err := os.Stat(filepath.Join(state, "nodes", "web1.json")); err != nil {
		t.Fatalf("state not written: %v", err)
	}
}

func TestSandboxServeRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string // what the refusal must say
	}{
		{[]string{"sandbox", "serve"}, "--state DIR is required"},
		{[]string{"sandbox", "serve", "--state", dir, "--fault", "web1:explode"}, "explode"},
		{[]string{"sandbox", "serve", "--state", dir, "--fleet", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"sandbox", "serve", "--state", dir, "--tsig", "tether"}, "want KEYNAME:ENV_VAR"},
		{[]string{"sandbox", "serve", "--state", dir, "--tsig", "tether:TETHER_TEST_UNSET_VARIABLE"}, "is empty"},
		{[]string{"sandbox", "serve", "--state", dir, "--dns-sync-interval", "0s"}, "want a positive duration"},
		{[]string{"sandbox", "serve", "--state", dir, "--dns-sync-interval", "-1m"}, "want a positive duration"},
		{[]string{"sandbox", "serve", "--state", dir, "--gc-percent", "-1"}, "--gc-percent -1: want 0"},
	} {
		t.Run(strings.Join(tc.args[max(2, len(tc.args)-2):], " "), func(t *testing.T) {
			expect(t, tether(t, context.Background(), "", tc.args...), 1, tc.want)
		})
	}
}

// TestSandboxServeRefusesBadNodeNames: a node name is a file name in the state folder;
// one that climbs out of it is refused before anything is served or written.
func TestSandboxServeRefusesBadNodeNames(t *testing.T) {
	for _, name := range []string{"../../../pwned", "a/b", "..", "web1.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fleet := filepath.Join(dir, "fleet.yaml")
			bad := strings.Replace(serveFleet, "  mail1:\n", fmt.Sprintf("  %q:\n", name), 1)
			if err := os.WriteFile(fleet, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, "a", "b", "c", "state")
			var errb bytes.Buffer
			root := newRoot(testCLI())
			root.SetArgs([]string{"sandbox", "serve", "--state", state, "--fleet", fleet})
			root.SetOut(&errb)
			root.SetErr(&errb)
			err := root.Execute()
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("serve returned %v, want exit 1\n%s", err, errb.String())
			}
			if !strings.Contains(errb.String(), "TETHER-L10") || !strings.Contains(errb.String(), "nothing was served") {
				t.Errorf("output does not name the rule:\n%s", errb.String())
			}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && p != fleet {
					t.Errorf("serve wrote %s", p)
				}
				return nil
			})
		})
	}
}
