package whm

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/providertest"
	"github.com/tether-dev/tether/schema"
)

// TestConformance runs the provider conformance suite against the sandbox.
func TestConformance(t *testing.T) {
	fleet := sandboxFleet()
	fleet.Accounts = map[string]*schema.Account{
		"alice": {Parent: "web1", Domain: "alice.example", Plan: "basic", ContactEmail: "alice@example.org", Mail: &schema.MailPlacement{Node: "mail1"}, Features: map[string]bool{"apitokens": true}},
		"carol": {Parent: "web1", Domain: "carol.example", Plan: "basic", ContactEmail: "carol@example.org"},
	}
	fleet.Resellers = map[string]*schema.Reseller{
		"bob": {Account: schema.Account{Parent: "web1", Domain: "bob-hosting.example", Plan: "reseller", ContactEmail: "bob@example.org"}},
	}
	f := startSandbox(t, fleet)
	stateDir := f.dir
	unreachable, err := New(providers.Config{Logger: quiet, Endpoints: map[string]providers.Endpoint{
		"web1": {URL: "http://127.0.0.1:1", User: "root", Token: "x"},
	}}, Options{Client: f.p.opts.Client})
	if err != nil {
		t.Fatal(err)
	}
	unreachable.opts.Client.Attempts = 1
	providertest.Run(t, providertest.Harness{
		Provider:    f.p,
		Desired:     fleet,
		Unreachable: unreachable,
		Snapshot: func(t *testing.T) string {
			if err := f.sb.WaitIdle(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := f.sb.Flush(); err != nil {
				t.Fatal(err)
			}
			return digestDir(t, stateDir)
		},
	})
}

// digestDir hashes every file under dir, by path.
func digestDir(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(n + "\x00"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
