package testbackend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/internal/workspace"
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/providers/testbackend" // the one line that adds the backend
	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// TestNewBackendEndToEnd is the contract's proof: a member backend that lives in one
// folder, added by one import line, validates, plans, applies and verifies on the
// sandbox through the same pipeline as whm and rfc2136, and a second plan is empty.
func TestNewBackendEndToEnd(t *testing.T) {
	srv, err := testbackend.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	fleetDir := filepath.Join(dir, "fleet")
	if err := os.MkdirAll(fleetDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fleet := fmt.Sprintf(`nodes:
  web1: {role: parent, host: web1.example.net, ipv4: 192.0.2.10, version: 118, profile: STANDARD,
         credentials: {user: root, tokenEnv: WEB1_WHM_TOKEN}}
accounts:
  alice: {parent: web1, domain: alice.example, plan: basic, contactEmail: alice@example.org}
dnsClusters:
  web1:
    enabled: true
    members:
      toy1: {backend: testdns, host: toy1.example.org, address: "%s", role: write-only}
`, srv.Addr)
	if err := os.WriteFile(filepath.Join(fleetDir, "fleet.yaml"), []byte(fleet), 0o644); err != nil {
		t.Fatal(err)
	}

	// Validate: the loader knows the backend, the rules take it.
	if _, ds, err := schema.Load(fleetDir); err != nil || len(ds) > 0 {
		t.Fatalf("validate: %v %v", err, ds)
	}
	// And refuses what it does not take, with a rule id and position.
	bad := strings.Replace(fleet, "role: write-only}", "role: write-only, node: web1}", 1)
	badDir := filepath.Join(dir, "bad")
	_ = os.MkdirAll(badDir, 0o755)
	_ = os.WriteFile(filepath.Join(badDir, "fleet.yaml"), []byte(bad), 0o644)
	if _, ds, _ := schema.Load(badDir); len(ds) != 1 || ds[0].Rule != schema.RuleSchema || !strings.Contains(ds[0].Message, "testdns member does not take node") {
		t.Fatalf("a testdns member with node: got %v", ds)
	}

	// The backend declares the roles it can keep: a sync member is refused with
	// TETHER-P01 at its role, by validate and before apply calls any server.
	sync := strings.Replace(fleet, "role: write-only}", "role: sync}", 1)
	syncDir := filepath.Join(dir, "sync")
	_ = os.MkdirAll(syncDir, 0o755)
	_ = os.WriteFile(filepath.Join(syncDir, "fleet.yaml"), []byte(sync), 0o644)
	var inv *workspace.Invalid
	if _, _, err := workspace.Load(syncDir); !errors.As(err, &inv) || len(inv.Diagnostics) != 1 ||
		inv.Diagnostics[0].Rule != providers.RuleP01 || inv.Diagnostics[0].Pos.Line != 10 {
		t.Fatalf("a sync testdns member: got %v %+v", err, inv.Diagnostics)
	} else {
		t.Log(inv.Diagnostics[0])
	}

	ctx := context.Background()
	so := session.Options{Sandbox: true, SandboxState: filepath.Join(dir, "sandbox")}
	apply := func() *plan.Plan {
		t.Helper()
		w, err := workspace.Open(ctx, fleetDir, so)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		res, err := w.Apply(ctx, workspace.ApplyOptions{})
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		return res.Plan
	}
	p := apply()
	var member *plan.Change
	for _, c := range p.Changes {
		if c.Address == plan.MemberAddress("web1", "toy1") {
			member = c
		}
	}
	if member == nil || member.Action != plan.Create || member.Provider != testbackend.Name || member.Target != "toy1" {
		t.Fatalf("plan has no create of the testdns member run by its provider: %+v", member)
	}
	if !slices.Contains(member.DependsOn, plan.ChangeID(plan.AccountAddress("alice"), plan.Create)) {
		t.Errorf("the member's push does not wait for alice's zone: depends on %v", member.DependsOn)
	}
	if got := srv.Zones(); !slices.Contains(got, "alice.example") {
		t.Fatalf("the member serves %v, want alice.example pushed", got)
	}
	if again := apply(); !again.Empty() {
		t.Fatalf("second apply planned %d changes: %v", len(again.Changes), again.Changes)
	}

	// Verify: the member is asked like any other, and answers as the fleet implies.
	fl, _, err := workspace.Load(fleetDir)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := session.Open(ctx, fl, so)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r, err := workspace.Verify(ctx, fl, sess)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verify: %s (checks %d, skipped %v)", r.Summary, r.Checks, r.Skipped)
	if len(r.Mismatches) > 0 || r.Servers < 2 {
		t.Fatalf("verify: %d servers, mismatches %v, skipped %v", r.Servers, r.Mismatches, r.Skipped)
	}
}
