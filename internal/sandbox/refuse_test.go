package sandbox

import (
	"encoding/json"
	"strings"
	"testing"
)

// The refusal fault: a function refuses alone and inside a batch, changing nothing; a
// typed refusal carries data.type; a screen answers its error box; the admin endpoint
// sets it as JSON; and a node without it serves as before.
func TestRefuseFault(t *testing.T) {
	s := startTest(t, "")
	ep := s.eps.Nodes["web1"]
	body := `{"refuse":{"createacct":{"reason":"the package does not exist"},` +
		`"link_server_node_with_api_token":{"reason":"TLS failed","type":"TLSVerification"},` +
		`"/cgi/adjustclusterdns.cgi":{"reason":"screen said no"}}}`
	if e := s.raw("POST", ep.WHM+"/sandbox/faults?node=web1", "whm root:"+ep.Token, body); e.Status != 200 {
		t.Fatalf("admin endpoint: HTTP %d %s", e.Status, e.Raw)
	}
	s.refused("the package does not exist", "web1", "createacct", "username", "alice", "domain", "alice.example")
	b := s.must("web1", "batch", "command", "createacct?username=alice&domain=alice.example", "command", "version")
	var out struct {
		Result []env `json:"result"`
	}
	b.decode(t, &out)
	if len(out.Result) != 2 || out.Result[0].Metadata.Result != 0 || out.Result[0].Metadata.Reason != "the package does not exist" || out.Result[1].Metadata.Result != 1 {
		t.Fatalf("batch: %s", b.Raw)
	}
	if s.HasAccount("web1", "alice") {
		t.Fatal("a refused createacct created the account")
	}
	e := s.refused("TLS failed", "web1", "link_server_node_with_api_token", "alias", "mail1", "hostname", "mail1.example.net",
		"username", "root", "api_token", s.eps.Nodes["mail1"].Token)
	var typed struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(e.Data, &typed); err != nil || typed.Type != "TLSVerification" {
		t.Fatalf("typed refusal data %s (%v)", e.Data, err)
	}
	if page := s.raw("POST", ep.WHM+"/cgi/adjustclusterdns.cgi", "whm root:"+ep.Token, "clusterdns=1"); !strings.Contains(page.Raw, `<div class="errormsg"><h3>screen said no</h3></div>`) {
		t.Fatalf("refused screen: %s", page.Raw)
	}
	if page := s.raw("POST", ep.WHM+"/cgi/adjustclusterdns.cgi", "", "clusterdns=1"); page.Status != 401 {
		t.Fatalf("refused screen without credentials: HTTP %d", page.Status)
	}
	if got := s.Faults("web1").Refuse["createacct"].Reason; got != "the package does not exist" {
		t.Fatalf("Faults(web1).Refuse = %+v", s.Faults("web1").Refuse)
	}
	// Other nodes, and web1 once the fault is lifted, serve as before.
	s.must("mail1", "createacct", "username", "alice", "domain", "alice.example")
	if err := s.SetFaults("web1", Faults{}); err != nil {
		t.Fatal(err)
	}
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")
	if tr := s.Traffic("web1"); tr.Connections < 1 || tr.PeakInFlight["/json-api/createacct"] < 1 {
		t.Fatalf("traffic %+v", tr)
	}
}
