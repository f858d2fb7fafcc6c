package planfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func samplePlan() *plan.Plan {
	alice := &schema.Account{Parent: "web1", Domain: "alice.example", Plan: "basic", Features: map[string]bool{"apitokens": true}}
	alice2 := *alice
	alice2.Mail = &schema.MailPlacement{Node: "mail1"}
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		Changes: []*plan.Change{
			{ID: "node.mail1/link", Address: "node.mail1", Action: plan.Link, Provider: "whm", Target: "web1",
				After: &schema.Node{Role: "child", Parent: "web1", Host: "mail1.example.net", Services: []string{"mail"},
					Credentials: &schema.Credentials{User: "root", TokenEnv: "MAIL1_WHM_TOKEN", Token: "s3cret-never-saved"}}},
			{ID: "account.alice/distribute", Address: "account.alice", Action: plan.Distribute, Provider: "whm", Target: "web1",
				Before: alice, After: &alice2, DependsOn: []string{"node.mail1/link"}, Flags: plan.Flags{Disruptive: true}},
			{ID: "reseller.bob/create", Address: "reseller.bob", Action: plan.Create, Provider: "whm", Target: "web1",
				After: &schema.Reseller{Account: schema.Account{Parent: "web1", Domain: "bob.example"}, ACLs: []string{"list-accts"}}},
			{ID: "dns.web1.cluster/update", Address: "dns.web1.cluster", Action: plan.Update, Provider: "whm", Target: "web1",
				Before: &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{N: 5}},
				After:  &schema.DNSCluster{Enabled: true, FailureThreshold: schema.Threshold{Never: true}}, Fields: []string{"failureThreshold"}},
			{ID: "dns.web1.member.bind1/delete", Address: "dns.web1.member.bind1", Action: plan.Delete, Provider: "rfc2136", Target: "bind1",
				Before: &schema.Member{Backend: "rfc2136", Host: "ns2.example.org", Role: "sync", TSIG: &schema.TSIG{Name: "tether", SecretEnv: "NS2_TSIG"}},
				Flags:  plan.Flags{Destructive: true}, Warnings: []string{"zones stop existing on bind1"}},
		},
		Summary: plan.Summary{Create: 2, Change: 2, Remove: 1, Risky: 2},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tfplan.json")
	p := samplePlan()
	obs, err := Fingerprint(&schema.Fleet{Accounts: map[string]*schema.Account{"alice": {Parent: "web1", Domain: "alice.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	src := plan.Source{Path: "/fleet", Fingerprint: "sha256:abc", Commit: "0123"}
	if err := Write(path, New(p, src, obs, time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "s3cret") {
		t.Fatal("a token reached the saved plan")
	}
	if !Is(path) {
		t.Fatal("Is does not recognise a saved plan")
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Fleet != src || f.Observed.Fingerprint != obs.Fingerprint || f.Plan.Observed != obs.Fingerprint || f.Plan.Source != src {
		t.Fatalf("header: %+v", f)
	}
	want := samplePlan()
	want.Changes[0].After.(*schema.Node).Credentials.Token = "" // never saved
	if len(f.Plan.Changes) != len(want.Changes) {
		t.Fatalf("%d changes", len(f.Plan.Changes))
	}
	for i, c := range f.Plan.Changes {
		w := want.Changes[i]
		if !reflect.DeepEqual(c, w) {
			t.Errorf("change %d:\n got %#v\nwant %#v", i, c, w)
		}
	}
	if f.Plan.Summary != want.Summary {
		t.Errorf("summary %+v", f.Plan.Summary)
	}
}

func TestIs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"fleet.yaml": "nodes:\n  web1: {role: parent}\n",
		"plan.json":  `{"format_version": "1.0", "changes": []}`,
		"saved.json": "\n  {\n  \"tether_planfile\": 1}",
		"empty":      "",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]bool{"fleet.yaml": false, "plan.json": false, "saved.json": true, "empty": false, ".": false, "missing": false} {
		if got := Is(filepath.Join(dir, n)); got != want {
			t.Errorf("Is(%s) = %v, want %v", n, got, want)
		}
	}
}

func TestReadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct{ content, want string }{
		"version":  {`{"tether_planfile": 9, "plan": {}}`, "planfile version 9"},
		"noplan":   {`{"tether_planfile": 1}`, "holds no plan"},
		"garbage":  {`{"tether_planfile": 1, "plan": {"changes": [`, "not a usable saved plan"},
		"badkind":  {`{"tether_planfile": 1, "plan": {"changes": [{"id": "x/create", "action": "create", "address": "zone.x", "after": {}}]}}`, "zone.x"},
		"badvalue": {`{"tether_planfile": 1, "plan": {"changes": [{"id": "a/create", "action": "create", "address": "account.a", "after": {"parent": 3}}]}}`, "change a/create: after"},
		"nullchg":  {`{"tether_planfile": 1, "plan": {"changes": [null]}}`, "change 0 is empty"},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(tt.content), 0o600)
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFleetSource(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "nodes: {}\n")
	write(t, filepath.Join(dir, "b.yml"), "accounts: {}\n")
	base, err := FleetSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	if base.Commit != "" || !strings.HasPrefix(base.Fingerprint, "sha256:") || !filepath.IsAbs(base.Path) {
		t.Fatalf("source %+v", base)
	}
	steps := []struct {
		name string
		do   func()
		same bool
	}{
		{"a README is not the fleet", func() { write(t, filepath.Join(dir, "README.md"), "hi") }, true},
		{"a dot-file is not the fleet", func() { write(t, filepath.Join(dir, ".x.yaml"), "hi") }, true},
		{"an edit changes it", func() { write(t, filepath.Join(dir, "b.yml"), "accounts: {}\n#\n") }, false},
		{"a new file changes it", func() { write(t, filepath.Join(dir, "c.cue"), "package fleet\n") }, false},
		{"moving bytes between files changes it", func() {
			write(t, filepath.Join(dir, "a.yaml"), "nodes: {}\naccounts: {}\n")
			write(t, filepath.Join(dir, "b.yml"), "#\n")
		}, false},
	}
	prev := base
	for _, s := range steps {
		s.do()
		cur, err := FleetSource(dir)
		if err != nil {
			t.Fatal(err)
		}
		if (cur.Fingerprint == prev.Fingerprint) != s.same {
			t.Errorf("%s: fingerprint %s → %s", s.name, prev.Fingerprint, cur.Fingerprint)
		}
		prev = cur
	}
	if _, err := FleetSource(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing fleet has a fingerprint")
	}
}

func TestFleetSourceInGit(t *testing.T) {
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	fleet := filepath.Join(dir, "fleets", "prod")
	os.MkdirAll(fleet, 0o700)
	write(t, filepath.Join(fleet, "fleet.yaml"), "nodes: {}\n")
	if s, err := FleetSource(fleet); err != nil || s.Commit != "" {
		t.Fatalf("before the first commit: %+v, %v", s, err)
	}
	wt, _ := r.Worktree()
	wt.Add("fleets/prod/fleet.yaml")
	h, err := wt.Commit("fleet", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.org", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := FleetSource(filepath.Join(fleet, "fleet.yaml"))
	if err != nil || s.Commit != h.String() {
		t.Fatalf("source %+v, %v; want commit %s", s, err, h)
	}
}

func observed() *schema.Fleet {
	return &schema.Fleet{
		Nodes:    map[string]*schema.Node{"web1": {Role: "parent", Version: 118}, "mail1": {Role: "child", Parent: "web1"}},
		Accounts: map[string]*schema.Account{"alice": {Parent: "web1", Domain: "alice.example", ContactEmail: "a@example.org"}},
		DNSClusters: map[string]*schema.DNSCluster{"web1": {Enabled: true,
			Members: map[string]*schema.Member{"ns1": {Node: "ns1", Role: "sync"}}}},
	}
}

func TestCheckNamesWhatMoved(t *testing.T) {
	src := plan.Source{Path: "/fleet", Fingerprint: "sha256:1", Commit: "aaaaaaaaaaaaaaaa"}
	obs, err := Fingerprint(observed())
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Objects) != 5 {
		t.Fatalf("objects %v", obs.Objects)
	}
	f := New(&plan.Plan{}, src, obs, time.Now())
	again, _ := Fingerprint(observed())
	if err := f.Check("p.json", src, again); err != nil {
		t.Fatalf("nothing moved: %v", err)
	}

	moved := observed()
	moved.Accounts["alice"].ContactEmail = "new@example.org"
	moved.Accounts["zed"] = &schema.Account{Parent: "web1", Domain: "zed.example"}
	delete(moved.Nodes, "mail1")
	moved.DNSClusters["web1"].Members["ns1"].Role = "write-only"
	now, _ := Fingerprint(moved)
	err = f.Check("p.json", src, now)
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	want := []ObjectChange{{"account.alice", "changed"}, {"account.zed", "appeared"}, {"dns.web1.member.ns1", "changed"}, {"node.mail1", "disappeared"}}
	if !reflect.DeepEqual(se.Objects, want) || se.FleetChanged {
		t.Fatalf("stale %+v", se)
	}
	for _, s := range []string{"4 objects on the servers changed", "account.alice (changed)", "node.mail1 (disappeared)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q:\n%v", s, err)
		}
	}

	edited := src
	edited.Fingerprint, edited.Commit = "sha256:2", "bbbbbbbbbbbbbbbb"
	err = f.Check("p.json", edited, again)
	if !errors.As(err, &se) || !se.FleetChanged || len(se.Objects) != 0 ||
		!strings.Contains(err.Error(), "the fleet changed since the plan was made (commit aaaaaaaaaaaa, now bbbbbbbbbbbb)") {
		t.Fatalf("fleet moved: %v", err)
	}
}
