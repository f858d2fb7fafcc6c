package fleetcode

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// The one writer, in YAML and in CUE, writes every field of the format (the fixture
// sets each one: schema's TestEveryFieldBothDecoders holds it to the field table)
// so that it loads back to the same fleet; a copy (schema's Clone) of every object
// does too.
func TestEveryFieldWrittenBack(t *testing.T) {
	want, ds, err := schema.Load("../../testdata/valid/every-field")
	if err != nil || len(ds) > 0 {
		t.Fatalf("fixture: %v %v", err, ds)
	}
	copied := &schema.Fleet{Policy: want.Policy, Nodes: map[string]*schema.Node{}, Accounts: map[string]*schema.Account{},
		Resellers: map[string]*schema.Reseller{}, DNSClusters: map[string]*schema.DNSCluster{}}
	for k, v := range want.Nodes {
		copied.Nodes[k] = v.Clone()
	}
	for k, v := range want.Accounts {
		copied.Accounts[k] = v.Clone()
	}
	for k, v := range want.Resellers {
		copied.Resellers[k] = v.Clone()
	}
	for k, v := range want.DNSClusters {
		copied.DNSClusters[k] = v.Clone()
	}
	wantJSON := jsonOf(t, want)
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer, *schema.Fleet) error
	}{
		{"fleet.yaml", func(b *bytes.Buffer, f *schema.Fleet) error { return YAML(b, f, "every field", nil) }},
		{"fleet.cue", func(b *bytes.Buffer, f *schema.Fleet) error { return CUE(b, f, "every field", nil) }},
	} {
		for name, f := range map[string]*schema.Fleet{"loaded": want, "copied": copied} {
			t.Run(tc.file+"/"+name, func(t *testing.T) {
				var b bytes.Buffer
				if err := tc.write(&b, f); err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, tc.file), b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				got, ds, err := schema.Load(dir)
				if err != nil || len(ds) > 0 {
					t.Fatalf("written %s does not load: %v %v\n%s", tc.file, err, ds, b.String())
				}
				if g := jsonOf(t, got); g != wantJSON {
					t.Errorf("written %s loads to another fleet:\n%s\n--- written\n%s", tc.file, g, b.String())
				}
			})
		}
	}
}

func jsonOf(t *testing.T, f *schema.Fleet) string {
	t.Helper()
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
