package sandbox

import (
	"testing"
)

// A distributed createacct needs the apitokens feature from the new account's
// feature list (the child side makes an API token as the user); the sandbox refuses
// it without, as the source does, and creates nothing. Created locally, given the
// feature and then distributed, the same account goes through.
func TestDistributedCreationNeedsAPITokens(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	if err := s.SetFeatureList("web1", "default", "apitokens", false); err != nil {
		t.Fatal(err)
	}
	s.refused("apitokens", "web1", "createacct", "username", "amy", "domain", "amy.example", "mail_node_alias", "mail1")
	if s.HasAccount("web1", "amy") || s.HasAccount("mail1", "amy") {
		t.Fatal("a refused distributed creation left an account behind")
	}
	// Local first, then a distribution without the feature fails the task…
	s.must("web1", "createacct", "username", "amy", "domain", "amy.example")
	s.must("web1", "modifyacct", "user", "amy", "mail_node_alias", "mail1")
	s.waitIdle()
	if got := s.account("web1", "amy").mailNode(); got != "" {
		t.Fatalf("distributed without API tokens: mail on %q", got)
	}
	// …and with the feature it goes through.
	s.must("web1", "add_override_features_for_user", "user", "amy", "features", `{"apitokens":1}`)
	s.must("web1", "modifyacct", "user", "amy", "mail_node_alias", "mail1")
	s.waitIdle()
	if got := s.account("web1", "amy").mailNode(); got != "mail1" {
		t.Fatalf("mail on %q, want mail1", got)
	}
}
