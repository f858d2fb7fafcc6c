package sandbox

import (
	"strings"
	"testing"
)

// TestLife walks a whole life: link, create, distribute with mail, dedistribute,
// force-dedistribute, unlink; messages are counted at each step.
func TestLife(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")

	// createacct with a mail node: both sides exist, child_nodes says so at once.
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "contactemail", "alice@example.org", "mail_node_alias", "mail1")
	if got := s.account("web1", "alice").mailNode(); got != "mail1" {
		t.Fatalf("alice mail node = %q, want mail1", got)
	}
	if !s.HasAccount("mail1", "alice") {
		t.Fatal("alice missing on mail1 after createacct")
	}

	// A local account with mail, then distribution.
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example")
	if err := s.AddMail("web1", "bob", "INBOX", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMail("web1", "bob", "Sent", 3); err != nil {
		t.Fatal(err)
	}
	e := s.must("web1", "modifyacct", "user", "bob", "mail_node_alias", "mail1")
	if len(e.Metadata.Output["messages"].([]any)) == 0 {
		t.Fatal("modifyacct: no message about the queued task")
	}
	// Background task: child_nodes flips only when it succeeded.
	if got := s.account("web1", "bob").mailNode(); got != "" {
		t.Fatalf("bob's child_nodes flipped before the task ran: %q", got)
	}
	s.waitIdle()
	if got := s.account("web1", "bob").mailNode(); got != "mail1" {
		t.Fatalf("bob mail node = %q after distribution", got)
	}
	if n := s.MessageCount("mail1", "bob"); n != 10 {
		t.Fatalf("bob on mail1 has %d messages, want 10", n)
	}
	if n := s.MessageCount("web1", "bob"); n != 0 {
		t.Fatalf("bob on web1 still has %d messages after distribution", n)
	}
	if got := s.Mailboxes("mail1", "bob"); got["INBOX"] != 7 || got["Sent"] != 3 {
		t.Fatalf("mailboxes on mail1 = %v", got)
	}

	// The child refuses direct calls about a distributed account.
	e = s.refused("Send this request to the account’s parent node", "mail1", "suspendacct", "user", "bob")
	var typed struct {
		Type string `json:"type"`
	}
	e.decode(t, &typed)
	if typed.Type != "SendToParent" {
		t.Fatalf("child refusal type = %q, want SendToParent", typed.Type)
	}
	// …but the parent's proxy (api.persona=parent) works: suspend on the parent reaches it.
	s.must("web1", "suspendacct", "user", "bob", "reason", "audit")
	if a := s.account("mail1", "bob"); a == nil || a.Suspended != 1 {
		t.Fatalf("suspension did not reach the child: %+v", a)
	}
	s.must("web1", "unsuspendacct", "user", "bob")
	// A new domain reaches the child's copy.
	s.must("web1", "modifyacct", "user", "bob", "domain", "bob.example.org")
	if a := s.account("mail1", "bob"); a == nil || a.Domain != "bob.example.org" {
		t.Fatalf("domain change did not reach the child: %+v", a)
	}

	// Unlink is refused while accounts use the node.
	s.refused("2 account(s) use this linkage. The system cannot delete a linkage that is in use.", "web1", "unlink_server_node", "alias", "mail1")

	// Dedistribution copies mail back, leaves the child's copy, ends sessions.
	if err := s.AddMail("mail1", "bob", "INBOX", 2); err != nil { // new mail arrives on the child
		t.Fatal(err)
	}
	_ = s.OpenSession("mail1", "bob")
	_ = s.OpenSession("mail1", "bob")
	s.must("web1", "modifyacct", "user", "bob", "mail_node_alias", ".local")
	s.waitIdle()
	if got := s.account("web1", "bob").mailNode(); got != "" {
		t.Fatalf("bob still on %q after dedistribution", got)
	}
	if n := s.MessageCount("web1", "bob"); n != 12 {
		t.Fatalf("bob on web1 has %d messages after dedistribution, want 12", n)
	}
	if n := s.MessageCount("mail1", "bob"); n != 12 {
		t.Fatalf("dedistribution removed the child's copy: %d messages left", n)
	}
	if n := s.OpenSessions("mail1", "bob"); n != 0 {
		t.Fatalf("%d sessions still open after dedistribution", n)
	}

	// Forced dedistribution: synchronous, the child's data is lost to the account.
	if err := s.AddMail("mail1", "alice", "INBOX", 5); err != nil {
		t.Fatal(err)
	}
	s.refused("Non-user(s) of “mail1”: bob", "web1", "force_dedistribution_from_node", "node_alias", "mail1", "user", "alice", "user", "bob")
	e = s.must("web1", "force_dedistribution_from_node", "node_alias", "mail1", "user-0", "alice")
	var fd struct {
		UserInfo []struct {
			Username string `json:"username"`
		} `json:"user_info"`
		Log []map[string]any `json:"log"`
	}
	e.decode(t, &fd)
	if len(fd.UserInfo) != 1 || fd.UserInfo[0].Username != "alice" || len(fd.Log) == 0 {
		t.Fatalf("force_dedistribution data = %+v", fd)
	}
	if got := s.account("web1", "alice").mailNode(); got != "" {
		t.Fatalf("alice still on %q after forced dedistribution", got)
	}
	if n := s.MessageCount("web1", "alice"); n != 0 {
		t.Fatalf("forced dedistribution brought back %d messages; the child's data must be lost", n)
	}

	// Nobody uses the link now: unlink works and returns the node.
	e = s.must("web1", "unlink_server_node", "alias", "mail1")
	var node map[string]any
	e.decode(t, &node)
	if node["alias"] != "mail1" || node["api_token"] != nil {
		t.Fatalf("unlink data = %v", node)
	}
	e = s.must("web1", "list_linked_server_nodes")
	var ll struct {
		Payload []any `json:"payload"`
	}
	e.decode(t, &ll)
	if len(ll.Payload) != 0 {
		t.Fatalf("links after unlink: %v", ll.Payload)
	}
	// The child is free again: another parent may link it.
	s.link("web2", "mail1", "mail1")
}

// TestDistributionFailsHalfway: the child account is created and the mail copied, then
// the task fails; the parent keeps its mail, child_nodes is unchanged, and the failure
// goes to the server's contacts (a notification), never into an API answer.
func TestDistributionFailsHalfway(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "carol", "domain", "carol.example")
	_ = s.AddMail("web1", "carol", "INBOX", 4)
	if err := s.SetFaults("web1", Faults{FailTasks: true}); err != nil {
		t.Fatal(err)
	}
	s.must("web1", "modifyacct", "user", "carol", "mail_node_alias", "mail1")
	s.waitIdle()
	if !s.HasAccount("mail1", "carol") || s.MessageCount("mail1", "carol") != 4 {
		t.Fatal("half-way failure must leave the child account and the copied mail")
	}
	if n := s.MessageCount("web1", "carol"); n != 4 {
		t.Fatalf("parent lost mail on a failed distribution: %d left", n)
	}
	e := s.must("web1", "listaccts", "searchtype", "user", "search", "carol", "searchmethod", "exact")
	var d struct {
		Acct []acct `json:"acct"`
	}
	e.decode(t, &d)
	if d.Acct[0].mailNode() != "" {
		t.Fatal("child_nodes changed on a failed distribution")
	}
	if w := e.warnings(); len(w) != 0 {
		t.Fatalf("listaccts warnings = %v: the reference documents none for a failed move", w)
	}
	if n := s.Notifications("web1"); len(n) != 1 || !strings.HasPrefix(n[0], "Accounts::ChildDistributionFailure: ") {
		t.Fatalf("notifications = %v, want the failure", n)
	}
	// Healthy again, the retry succeeds and clears the failure.
	_ = s.SetFaults("web1", Faults{})
	s.must("web1", "modifyacct", "user", "carol", "mail_node_alias", "mail1")
	s.waitIdle()
	if s.account("web1", "carol").mailNode() != "mail1" || s.MessageCount("mail1", "carol") != 4 || s.MessageCount("web1", "carol") != 0 {
		t.Fatal("retry after the failure did not distribute")
	}
	if n := s.Notifications("web1"); len(n) != 2 || !strings.HasPrefix(n[1], "Accounts::ChildDistributionSuccess: ") {
		t.Fatalf("notifications after a successful retry: %v", n)
	}
}

// TestDistributionChildOffline: with the child offline the task fails and nothing moves.
func TestDistributionChildOffline(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "dave", "domain", "dave.example")
	_ = s.AddMail("web1", "dave", "INBOX", 2)
	_ = s.SetFaults("mail1", Faults{Offline: true})
	s.must("web1", "modifyacct", "user", "dave", "mail_node_alias", "mail1")
	s.waitIdle()
	if s.account("web1", "dave").mailNode() != "" || s.MessageCount("web1", "dave") != 2 {
		t.Fatal("distribution to an offline child changed the account")
	}
	// createacct onto an offline child fails and leaves no account behind.
	s.refused("failed to create the account on the child node", "web1", "createacct", "username", "erin", "domain", "erin.example", "mail_node_alias", "mail1")
	if s.HasAccount("web1", "erin") {
		t.Fatal("failed createacct left the parent account")
	}
	_ = s.SetFaults("mail1", Faults{})
	s.must("web1", "createacct", "username", "erin", "domain", "erin.example", "mail_node_alias", "mail1")
}

// TestCrossDistribution moves mail from one child to another as
// Cpanel/LinkedNode/Convert/CrossDistributed/Mail.pm does: the new child gets a copy,
// the old child keeps its own, and its IMAP/POP3 sessions end.
func TestCrossDistribution(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.link("web1", "mail2", "mail2")
	s.must("web1", "createacct", "username", "frank", "domain", "frank.example", "mail_node_alias", "mail1")
	_ = s.AddMail("mail1", "frank", "INBOX", 9)
	if err := s.OpenSession("mail1", "frank"); err != nil {
		t.Fatal(err)
	}
	s.must("web1", "modifyacct", "user", "frank", "mail_node_alias", "mail2")
	s.waitIdle()
	if s.account("web1", "frank").mailNode() != "mail2" || s.MessageCount("mail2", "frank") != 9 || s.MessageCount("mail1", "frank") != 9 {
		t.Fatalf("cross distribution: mail1=%d mail2=%d, want 9 on both", s.MessageCount("mail1", "frank"), s.MessageCount("mail2", "frank"))
	}
	if n := s.OpenSessions("mail1", "frank"); n != 0 {
		t.Fatalf("%d sessions still open on the old child", n)
	}
	// removeacct removes the child side too.
	s.must("web1", "removeacct", "username", "frank")
	if s.HasAccount("mail2", "frank") || s.HasAccount("web1", "frank") {
		t.Fatal("removeacct left an account behind")
	}
}

// TestResellerDistribution: accounts a distributed reseller creates take its mail
// node; root's follow mail_node_alias; moving the reseller later does not move them.
func TestResellerDistribution(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "res", "domain", "res.example", "mail_node_alias", "mail1", "reseller", "1")
	// The reseller creates an account itself, with its own token: it takes mail1.
	s.must("web1", "setacls", "reseller", "res", "acl-create-acct", "1", "acl-list-accts", "1")
	n := s.nodeByName("web1")
	tok := newTokenValue()
	n.mu.Lock()
	n.st.Tokens["res"] = map[string]*apiToken{"t": {Name: "t", Hash: hashToken(tok), ACLs: []string{"all"}}}
	n.mu.Unlock()
	ep := s.eps.Nodes["web1"]
	if e := s.raw("POST", ep.WHM+"/json-api/createacct", "whm res:"+tok, "api.version=1&username=cust&domain=cust.example"); !e.ok() {
		t.Fatalf("reseller createacct: %s", e.Raw)
	}
	if got := s.account("web1", "cust").mailNode(); got != "mail1" {
		t.Fatalf("reseller-created account mail node = %q, want mail1", got)
	}
	// Root creating an account for the reseller chooses its mail routing: none given,
	// mail stays on the parent.
	s.must("web1", "createacct", "username", "cust2", "domain", "cust2.example", "owner", "res")
	if got := s.account("web1", "cust2").mailNode(); got != "" {
		t.Fatalf("root-created reseller account took the reseller's node %q", got)
	}
	s.must("web1", "modifyacct", "user", "res", "mail_node_alias", ".local")
	s.waitIdle()
	if s.account("web1", "res").mailNode() != "" || s.account("web1", "cust").mailNode() != "mail1" {
		t.Fatal("dedistributing the reseller moved its accounts")
	}
	// A distributed reseller has no reseller privileges on the child.
	s.refused("distributed account", "mail1", "setupreseller", "user", "cust")
}

// TestChildRefusals: every function that names a distributed account is refused on
// the child unless the parent sends it; reads are answered.
func TestChildRefusals(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	before := s.stateOf("mail1")
	for _, tc := range []struct {
		fn string
		kv []string
	}{
		{"modifyacct", []string{"user", "alice", "contactemail", "x@example.org"}},
		{"removeacct", []string{"username", "alice"}},
		{"removeacct", []string{"user", "alice"}},
		{"suspendacct", []string{"user", "alice"}},
		{"unsuspendacct", []string{"user", "alice"}},
		{"changepackage", []string{"user", "alice", "pkg", "gold"}},
	} {
		e := s.refused("Do not send API requests for “alice” to this node.", "mail1", tc.fn, tc.kv...)
		if !strings.Contains(e.Raw, `"type":"SendToParent"`) {
			t.Errorf("%s: %s", tc.fn, e.Raw)
		}
	}
	if s.stateOf("mail1") != before {
		t.Fatal("refused calls changed the child")
	}
	if a := s.account("mail1", "alice"); a == nil {
		t.Fatal("accountsummary of a distributed account is refused on the child")
	}
	// The parent's persona passes.
	s.must("mail1", "changepackage", "user", "alice", "pkg", "gold", "api.persona", "parent")
	if a := s.account("mail1", "alice"); a.Plan != "gold" {
		t.Fatalf("persona call did not apply: %+v", a)
	}
}
