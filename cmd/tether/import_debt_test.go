package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportReportsDebt: an account that breaks a documented rule on the servers today
// (API tokens off for an account whose mail is on a child, TETHER-L07) is imported as
// it is, and the import ends with the validate report pointing into the written file.
func TestImportReportsDebt(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "apply", "--auto-approve", e.fleet), 0, "Apply complete!")

	sb := servedSandbox(t, e)
	eps := sb.Endpoints()
	ep := eps.Nodes["web1"]
	form := url.Values{"api.version": {"1"}, "user": {"alice"}, "features": {`{"apitokens":0}`}}
	req, _ := http.NewRequest(http.MethodPost, ep.WHM+"/json-api/add_override_features_for_user", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm root:"+ep.Token)
	resp, err := eps.HTTPClient(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	nodes := filepath.Join(e.dir, "nodes")
	os.MkdirAll(nodes, 0o700)
	os.WriteFile(filepath.Join(nodes, "nodes.yaml"), []byte(nodesOnly), 0o600)
	out := filepath.Join(e.dir, "imported")
	r := e.run(t, "import", nodes, "--out", out)
	expect(t, r, 0, "The imported fleet has 1 problem, as the servers stand today", "TETHER-L07")
	if !strings.Contains(r.stdout, filepath.Join(out, "fleet.yaml")+":") {
		t.Fatalf("the debt report does not point into the written file:\n%s", r.stdout)
	}
	b, _ := os.ReadFile(filepath.Join(out, "fleet.yaml"))
	if !strings.Contains(string(b), "apitokens: false") {
		t.Fatalf("the account was not imported as it is:\n%s", b)
	}
}
