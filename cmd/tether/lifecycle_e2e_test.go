package main

import (
	"testing"
)

// A distributed account is created on a server whose default feature list has API
// tokens off: Tether creates it on the parent, gives it the feature, then distributes
// it, the order a real server accepts (the child side of a distributed createacct
// makes an API token as the new user).
func TestDistributedAccountWithAPITokensOffByDefault(t *testing.T) {
	e := newEnv(t)
	expect(t, e.run(t, "plan", e.fleet), 0) // creates the blank servers
	sb := servedSandbox(t, e)
	if err := sb.SetFeatureList("web1", "default", "apitokens", false); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "apply", "--auto-approve", e.fleet)
	expect(t, r, 0, "Apply complete! 7 created")
	e.assertConverged(t)
	for user, child := range map[string]string{"alice": "mail1", "dave": "mail2"} {
		if !sb.HasAccount(child, user) {
			t.Errorf("%s has no account on %s", user, child)
		}
	}
}
