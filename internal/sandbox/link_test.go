package sandbox

import (
	"testing"
)

func TestLinkChecks(t *testing.T) {
	s := startTest(t, "")
	mailTok := s.eps.Nodes["mail1"].Token

	// A token on mail1 without the all ACL.
	e := s.must("mail1", "api_token_create", "token_name", "limited", "acl-0", "list-accts")
	var tok struct {
		Token string   `json:"token"`
		ACLs  []string `json:"acls"`
	}
	e.decode(t, &tok)
	if len(tok.Token) != 32 || len(tok.ACLs) != 1 {
		t.Fatalf("api_token_create data = %+v", tok)
	}

	cases := []struct {
		name, want string
		kv         []string
	}{
		{"missing alias", "Provide the “alias” parameter.", []string{"hostname", "mail1.example.net", "username", "root", "api_token", mailTok}},
		{"missing token", "Provide the “api_token” parameter.", []string{"alias", "m", "hostname", "mail1.example.net", "username", "root"}},
		{"bad alias", "The alias “bad alias!” is invalid", []string{"alias", "bad alias!", "hostname", "mail1.example.net", "username", "root", "api_token", mailTok}},
		{"long alias", "is invalid", []string{"alias", "a123456789a123456789a123456789a123456789a1234567891", "hostname", "mail1.example.net", "username", "root", "api_token", mailTok}},
		{"ip address", "is an IP address", []string{"alias", "m", "hostname", "192.0.2.20", "username", "root", "api_token", mailTok}},
		{"unknown host", "could not resolve", []string{"alias", "m", "hostname", "nowhere.example.net", "username", "root", "api_token", mailTok}},
		{"itself", "cannot link to itself", []string{"alias", "m", "hostname", "web1.example.net", "username", "root", "api_token", s.eps.Nodes["web1"].Token}},
		{"wrong token", "did not accept the authentication", []string{"alias", "m", "hostname", "mail1.example.net", "username", "root", "api_token", "WRONGTOKEN"}},
		{"no all ACL", "does not have the “all” privilege", []string{"alias", "m", "hostname", "mail1.example.net", "username", "root", "api_token", tok.Token}},
		{"old child", "must run version 11.118.0.0 or later", []string{"alias", "old1", "hostname", "old1.example.net", "username", "root", "api_token", s.eps.Nodes["old1"].Token}},
		{"bad skip flag", "must be 1 or 0", []string{"alias", "m", "hostname", "mail1.example.net", "username", "root", "api_token", mailTok, "skip_tls_verification", "maybe"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.refused(tc.want, "web1", "link_server_node_with_api_token", tc.kv...)
			if e.hasData {
				t.Fatalf("failure without a type carries data: %s", e.Raw)
			}
		})
	}
	// Nothing was linked by the refusals.
	var ll struct {
		Payload []map[string]any `json:"payload"`
	}
	s.must("web1", "list_linked_server_nodes").decode(t, &ll)
	if len(ll.Payload) != 0 {
		t.Fatalf("refused links were stored: %v", ll.Payload)
	}

	// A DNS node lacks the mail services.
	s.must("ns1", "start_profile_activation", "code", "DNSNODE")
	s.waitIdle()
	s.refused("required services", "web1", "link_server_node_with_api_token", "alias", "ns1", "hostname", "ns1.example.net", "username", "root", "api_token", s.eps.Nodes["ns1"].Token)

	// A good link; then alias and host reuse are refused, and another parent cannot
	// take the child.
	s.link("web1", "mail1", "mail1")
	s.refused("already exists", "web1", "link_server_node_with_api_token", "alias", "mail1", "hostname", "mail2.example.net", "username", "root", "api_token", s.eps.Nodes["mail2"].Token)
	s.refused("already links to “mail1.example.net”", "web1", "link_server_node_with_api_token", "alias", "other", "hostname", "mail1.example.net", "username", "root", "api_token", mailTok)
	s.refused("already a child node of “web1.example.net”", "web2", "link_server_node_with_api_token", "alias", "mail1", "hostname", "mail1.example.net", "username", "root", "api_token", mailTok)
	// A parent cannot leave the STANDARD profile while it has children.
	s.refused("must use the “STANDARD” profile", "web1", "start_profile_activation", "code", "MAILNODE")

	// get / list / update.
	var node map[string]any
	s.must("web1", "get_linked_server_node", "alias", "mail1").decode(t, &node)
	for _, k := range []string{"alias", "hostname", "username", "version", "enabled_services", "worker_capabilities", "system_settings", "tls_verified", "last_check"} {
		if _, ok := node[k]; !ok {
			t.Errorf("get_linked_server_node lacks %q: %v", k, node)
		}
	}
	if _, leaked := node["api_token"]; leaked {
		t.Fatal("get_linked_server_node returned the token")
	}
	s.refused("No node link with alias “nope” exists on this system.", "web1", "get_linked_server_node", "alias", "nope")
	e = s.must("web1", "update_linked_server_node", "alias", "mail1", "api_token", mailTok)
	if e.hasData {
		t.Fatal("update_linked_server_node returned data")
	}
	s.refused("does not have the “all” privilege", "web1", "update_linked_server_node", "alias", "mail1", "api_token", tok.Token)
	s.refused("cannot skip TLS verification", "web1", "update_linked_server_node", "alias", "mail1", "skip_tls_verification", "1")
	s.refused("No node link with alias “nope”", "web1", "unlink_server_node", "alias", "nope")
	s.refused("handle_api_token", "web1", "unlink_server_node", "alias", "mail1", "handle_api_token", "burn")

	// list_user_child_nodes.
	s.must("web1", "createacct", "username", "gina", "domain", "gina.example", "mail_node_alias", "mail1")
	var uc struct {
		Payload []map[string]string `json:"payload"`
	}
	s.must("web1", "list_user_child_nodes").decode(t, &uc)
	if len(uc.Payload) != 1 || uc.Payload[0]["user"] != "gina" || uc.Payload[0]["alias"] != "mail1" || uc.Payload[0]["type"] != "Mail" {
		t.Fatalf("list_user_child_nodes = %v", uc.Payload)
	}

	// Unlink with expire_24h leaves the child's token working for now.
	s.must("web1", "force_dedistribution_from_node", "node_alias", "mail1", "user", "gina")
	s.must("web1", "unlink_server_node", "alias", "mail1", "handle_api_token", "expire_24h")
	s.must("mail1", "version")
}
