package fleetgen_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
)

// jsonOf compares fleets without positions (Src is not marshalled).
func jsonOf(t *testing.T, f *schema.Fleet) string {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	cfgs := map[string]fleetgen.Config{
		"small":    fleetgen.Small,
		"large 3k": fleetgen.Large(3000),
		"zero":     {},
		"no dns":   {Parents: 3, ChildrenPerParent: 1, Accounts: 30},
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			a, b := fleetgen.Generate(cfg), fleetgen.Generate(cfg)
			if !reflect.DeepEqual(a, b) {
				t.Fatal("two runs differ")
			}
			if ds := schema.Check(a); len(ds) > 0 {
				t.Fatalf("generated fleet is invalid:\n%s", ds.Error())
			}
		})
	}
	f := fleetgen.Generate(fleetgen.Large(3000))
	if len(f.Nodes) != 1000 || len(f.Accounts) != 3000 || len(f.Resellers) != 30 || len(f.DNSClusters) != 200 {
		t.Fatalf("Large(3000): %s", schema.Summary(f))
	}
	distributed := 0
	for _, a := range f.Accounts {
		if a.MailNode() != "" {
			distributed++
		}
	}
	if distributed != 1000 {
		t.Errorf("%d distributed accounts, want one in three (1000)", distributed)
	}
}

// TestWrittenYAMLLoadsBack: the YAML written for a fleet loads, through schema.Load,
// to the same fleet, from one file or from a folder split by parent.
func TestWrittenYAMLLoadsBack(t *testing.T) {
	cfg := fleetgen.Config{Parents: 3, ChildrenPerParent: 2, DNSOnlyPerParent: 2, Resellers: 4, Accounts: 60}
	dir := t.TempDir()
	file := filepath.Join(dir, "fleet.yaml")
	want, err := fleetgen.WriteFile(file, cfg)
	if err != nil {
		t.Fatal(err)
	}
	split := filepath.Join(dir, "split")
	if _, err := fleetgen.WriteDir(split, cfg); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(split)
	if len(entries) != 4 {
		t.Errorf("WriteDir wrote %d files, want one per parent (3) and fleet.yaml for the DNS-only nodes", len(entries))
	}
	for _, path := range []string{file, split} {
		got, ds, err := schema.Load(path)
		if err != nil || len(ds) > 0 {
			t.Fatalf("Load(%s): %v\n%s", path, err, ds.Error())
		}
		if jsonOf(t, got) != jsonOf(t, want) {
			t.Errorf("Load(%s) differs from the generated fleet", path)
		}
	}
}

// TestWriteYAMLQuotes: values YAML would read as something else are quoted, and an
// inline secret is never written.
func TestWriteYAMLQuotes(t *testing.T) {
	f := &schema.Fleet{
		Nodes: map[string]*schema.Node{"web1": {Role: schema.RoleParent, Host: "web1.example.net",
			Credentials: &schema.Credentials{User: "root", TokenEnv: "T", Token: "SECRET"}}},
		Accounts: map[string]*schema.Account{"yes": {Parent: "web1", Domain: "yes.example", Plan: "true", ContactEmail: "a: b@example.org"}},
	}
	var buf bytes.Buffer
	if err := fleetgen.WriteYAML(&buf, f); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"yes":`, `plan: "true"`, `contactEmail: "a: b@example.org"`} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("SECRET")) {
		t.Errorf("inline token written:\n%s", out)
	}
}
