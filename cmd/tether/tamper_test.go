package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tamperPlan rewrites the saved plan at path through edit, which gets the plan's
// changes as JSON values.
func tamperPlan(t *testing.T, path string, edit func(changes []any) []any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	p := f["plan"].(map[string]any)
	changes, _ := p["changes"].([]any)
	p["changes"] = edit(changes)
	// tether_planfile stays the first key, as apply recognises a saved plan by it.
	version := f["tether_planfile"]
	delete(f, "tether_planfile")
	if b, err = json.Marshal(f); err != nil {
		t.Fatal(err)
	}
	b = append([]byte(fmt.Sprintf(`{"tether_planfile":%v,`, version)), b[1:]...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func changeByID(t *testing.T, changes []any, id string) map[string]any {
	t.Helper()
	for _, c := range changes {
		if m := c.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("the saved plan has no change %s", id)
	return nil
}

func deleteOf(user string) map[string]any {
	return map[string]any{
		"id": "account." + user + "/delete", "address": "account." + user, "action": "delete",
		"flags":  map[string]any{"disruptive": false, "destructive": true, "dataLoss": false},
		"before": map[string]any{"parent": "web1", "domain": user + ".example"}, "after": nil,
		"reason": "forged", "provider": "whm", "target": "web1", "parent": "web1",
	}
}

// TestTamperedSavedPlanRefused edits a saved plan the ways an attacker (or a careless
// hand) would, and checks that apply refuses each before changing anything, naming the
// first change that differs from the plan made now.
func TestTamperedSavedPlanRefused(t *testing.T) {
	tests := []struct {
		name string
		// prepare brings the sandbox and the fleet to where the plan is made.
		prepare func(t *testing.T, e env)
		tamper  func(t *testing.T, changes []any) []any
		want    []string
		// unchanged is what a plan made afterwards must still say.
		unchanged string
	}{
		{
			name:    "a delete of a protected account is added",
			prepare: func(t *testing.T, e env) { expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0) },
			tamper: func(t *testing.T, cs []any) []any {
				return append(cs, deleteOf("alice"))
			},
			want:      []string{"change 1, account.alice/delete, only in the saved plan"},
			unchanged: "No changes.",
		},
		{
			name: "a delete is added while pruning is off",
			prepare: func(t *testing.T, e env) {
				expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
				e.edit(t, "  frank:\n    parent: web1\n    domain: frank.example\n    plan: basic\n    contactEmail: frank@example.org\n", "")
			},
			tamper: func(t *testing.T, cs []any) []any {
				return append(cs, deleteOf("frank"))
			},
			want:      []string{"change 1, account.frank/delete, only in the saved plan"},
			unchanged: "account.frank",
		},
		{
			name: "flags.dataLoss is cleared",
			prepare: func(t *testing.T, e env) {
				expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0)
				e.edit(t, "tokenEnv: MAIL2_WHM_TOKEN}", "tokenEnv: MAIL2_WHM_TOKEN}\n    lost: true")
				e.edit(t, "contactEmail: dave@example.org\n    mail: {node: mail2}", "contactEmail: dave@example.org")
			},
			tamper: func(t *testing.T, cs []any) []any {
				c := changeByID(t, cs, "account.dave/dedistribute")
				c["flags"].(map[string]any)["dataLoss"] = false
				return cs
			},
			want:      []string{"account.dave/dedistribute, flags differ"},
			unchanged: "<- account.dave",
		},
		{
			name: "an after value is edited",
			tamper: func(t *testing.T, cs []any) []any {
				c := changeByID(t, cs, "account.frank/create")
				c["after"].(map[string]any)["contactEmail"] = "attacker@example.net"
				return cs
			},
			want:      []string{"account.frank/create, after differ"},
			unchanged: "Plan: 7 to create",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.prepare != nil {
				tt.prepare(t, e)
			}
			saved := filepath.Join(e.dir, "tfplan")
			expect(t, e.run(t, "plan", "-out", saved, e.fleet), 0, "Saved the plan")
			tamperPlan(t, saved, func(cs []any) []any { return tt.tamper(t, cs) })
			r := e.run(t, "apply", "--allow-data-loss", "--force", saved)
			expect(t, r, 1, append([]string{"does not match the plan made now", "Nothing was applied"}, tt.want...)...)
			if strings.Contains(r.stdout, "Apply complete") || strings.Contains(r.stderr, "change applied") {
				t.Fatalf("a tampered plan was applied:\n%s\n%s", r.stdout, r.stderr)
			}
			expect(t, e.run(t, "plan", e.fleet), 0, tt.unchanged)
		})
	}
}
