package schema

import (
	"slices"
	"strings"
)

// Field is one field of the fleet format, as an operator writes it. The table below
// is the one place that says what each field is called, what it holds, what it
// defaults to and what it means; what is derived from it:
//
//   - the YAML decoder's field lists (unknown-field suggestions, required fields)
//     and its refusal of empty strings (fieldFor, in decoder.str);
//   - the descriptions and defaults of the JSON Schema (`tether schema --jsonschema`);
//   - the tests that hold the rest to it: every field of the Go types (json tags),
//     every field of fleet.cue's definitions, and CUE's verdict on an empty string
//     for each string field (fields_test.go).
//
// The CUE schema states the constraints (fleet.cue stays the reference for what a
// value may be); the table states the knowledge about a field that is not a
// constraint, and which strings may not be empty, checked against CUE by test.
type Field struct {
	// Name is the field's key; a nested key of an inline mapping is dotted
	// ("mail.node").
	Name string
	// Type says what the value is, in words: string, boolean, integer, list of
	// strings, mapping, or the name of another type of the table (Credentials).
	Type string
	// Doc is the description shown in editors and the JSON Schema.
	Doc string
	// Default is the value an absent field means, as JSON ("10", `"warn"`), or "".
	Default string
	// Required fields must be written (for every object of the type).
	Required bool
	// NonEmpty strings are refused when written as "", as CUE refuses them (a
	// pattern, an enum): the YAML decoder refuses them from this flag, and a test
	// holds the flag to CUE's verdict on every string field.
	NonEmpty bool
	// Rule is the rule an invalid value of the field is reported under, as CUE names
	// it (schema/cue_diag.go); "" is TETHER-SCHEMA.
	Rule string
}

// FleetFields lists the fields of each type of the fleet format, by the type's name
// in fleet.cue (without the #) and in the JSON Schema's definitions, in the order
// the documentation shows them.
var FleetFields = map[string][]Field{
	"Fleet": {
		{Name: "policy", Type: "Policy", Doc: "Fleet-wide safety and daemon settings; every field has a safe default."},
		{Name: "nodes", Type: "mapping of Node", Doc: "Servers, by name; a child's name is its WHM link alias."},
		{Name: "resellers", Type: "mapping of Reseller", Doc: "Accounts with reseller privileges, by cPanel user name."},
		{Name: "accounts", Type: "mapping of Account", Doc: "cPanel accounts, by cPanel user name."},
		{Name: "dnsClusters", Type: "mapping of DNSCluster", Doc: "DNS clusters, by the parent whose cluster each is."},
	},
	"Policy": {
		{Name: "prune", Type: "boolean", Default: "false", Doc: "Let a plan remove objects Tether created (tracked in its inventory) that left the fleet. Off: objects not in the fleet are only reported."},
		{Name: "maxRemovePercent", Type: "integer", Default: "10", Doc: "Refuse, without --force, a plan that removes more than this share (0..100) of one parent's accounts."},
		{Name: "drift", Type: "string", NonEmpty: true, Default: `"warn"`, Doc: "What `tether watch` does about drift: warn (report it) or correct (apply the fleet again)."},
		{Name: "notifyWebhook", Type: "string", NonEmpty: true, Doc: "An http:// or https:// URL that receives JSON notifications: failures, drift, disabled DNS members."},
		{Name: "callTimeout", Type: "string", NonEmpty: true, Default: `"2m"`, Doc: "How long one request to a server may go unanswered before it counts as failed (a Go duration: 30s, 5m); --call-timeout overrides it."},
		{Name: "callAttempts", Type: "integer", Default: "4", Doc: "How many times a request that timed out or failed transiently is tried in all (1..20); --call-attempts overrides it."},
		{Name: "changeTimeout", Type: "string", NonEmpty: true, Default: `"1h"`, Doc: "The most one change of an apply may take, retries and waits for the server's tasks included (a Go duration); --change-timeout overrides it."},
	},
	"Node": {
		{Name: "role", Type: "string", NonEmpty: true, Required: true, Doc: "parent (a server holding accounts), child (a linked node taking a service from its parent) or dnsonly (a DNSONLY server)."},
		{Name: "parent", Type: "string", NonEmpty: true, Doc: "A child only: the name of the parent node it is linked to."},
		{Name: "host", Type: "string", Required: true, NonEmpty: true, Doc: "The server's fully qualified host name."},
		{Name: "ipv4", Type: "string", NonEmpty: true, Doc: "The server's main IPv4 address (dotted quad)."},
		{Name: "ipv6", Type: "string", NonEmpty: true, Doc: "The server's main IPv6 address."},
		{Name: "version", Type: "integer", Doc: "cPanel & WHM major version, e.g. 118; a child runs its parent's."},
		{Name: "profile", Type: "string", NonEmpty: true, Doc: "The server profile: STANDARD, MAILNODE, DNSNODE or DATABASENODE; a parent runs STANDARD."},
		{Name: "services", Type: "list of strings", Doc: "A child only: the services it takes over from its parent; only mail exists today.", Default: `["mail"]`},
		{Name: "port", Type: "integer", Default: "2087", Doc: "The port of WHM's API (HTTPS)."},
		{Name: "address", Type: "string", NonEmpty: true, Doc: "Where to connect to WHM instead of host:port (a tunnel, an IP, another port), as HOST:PORT; host stays the name in DNS and rules, and the name the certificate must carry."},
		{Name: "tls", Type: "TLS", Doc: "How to verify the server's WHM certificate."},
		{Name: "credentials", Type: "Credentials", Doc: "Where Tether finds the WHM API token for this server; never the token itself."},
		{Name: "passwordStrength", Type: "mapping", Doc: "Minimum password strength (0..100) per WHM password-strength kind; a mail child governs virtual and list only."},
		{Name: "lost", Type: "boolean", Default: "false", Doc: "A child only: it is gone or compromised, and its accounts are force-dedistributed (needs --allow-data-loss)."},
		{Name: "optionalRoles", Type: "mapping", Doc: "Optional roles of the profile to turn on (true) or off (false); a role not named keeps its state on the server."},
		{Name: "linkCredentials", Type: "Credentials", Doc: "A child only: the token the parent stores to reach it, apart from credentials (Tether's own token), so rotating one never touches the other."},
	},
	"TLS": {
		{Name: "caFile", Type: "string", Doc: "A PEM file of the certificate authority that signed the server's certificate."},
		{Name: "fingerprint", Type: "string", NonEmpty: true, Doc: "Pins the server's certificate itself: \"sha256:\" and its SHA-256 in 64 hex digits (colons between bytes allowed, as openssl prints them)."},
		{Name: "insecure", Type: "boolean", Default: "false", Doc: "Skip certificate verification (reported loudly); for test servers only."},
	},
	"Credentials": {
		{Name: "user", Type: "string", Default: `"root"`, NonEmpty: true, Doc: "The WHM user the token belongs to: root, or a reseller."},
		{Name: "tokenEnv", Type: "string", NonEmpty: true, Doc: "The name of the environment variable holding the API token."},
		{Name: "tokenFile", Type: "string", Doc: "The path of a file holding the API token."},
		{Name: "token", Type: "string", Doc: "Refused (TETHER-S01): the token never sits in the fleet; use tokenEnv or tokenFile.", Rule: RuleS01},
	},
	"Account": {
		{Name: "parent", Type: "string", Required: true, NonEmpty: true, Doc: "The parent node the account lives on."},
		{Name: "domain", Type: "string", Required: true, NonEmpty: true, Doc: "The account's main domain, lowercase, without a trailing dot.", Rule: RuleA02},
		{Name: "owner", Type: "string", Default: `"root"`, NonEmpty: true, Doc: "root, or the reseller (on the same parent) that owns the account."},
		{Name: "plan", Type: "string", Doc: "The hosting package the account uses."},
		{Name: "contactEmail", Type: "string", NonEmpty: true, Doc: "The account's contact email address."},
		{Name: "ipv6", Type: "boolean", Default: "false", Doc: "Give the account an IPv6 address; not with mail on a child."},
		{Name: "features", Type: "mapping", Doc: "Features of the account's feature list to turn on (true) or off (false); apitokens stays on for distributed accounts."},
		{Name: "mail", Type: "mapping", Doc: "Where the account's mail lives; omit for mail on the parent."},
		{Name: "mail.node", Type: "string", NonEmpty: true, Doc: "The child node that holds the account's mail."},
		{Name: "autossl", Type: "mapping", Doc: "AutoSSL settings."},
		{Name: "autossl.dcv", Type: "list of strings", Doc: "Domain control validation methods: dns, http; a distributed account needs dns."},
		{Name: "forwarders", Type: "list of Forwarder", Doc: "Email forwarders. Written, they are the whole list: others on the server are removed."},
		{Name: "ipv6Range", Type: "string", NonEmpty: true, Doc: "The server's IPv6 range (by name, as WHM's IPv6 Ranges lists it; SHARED for the server's shared address) an address is taken from when Tether turns ipv6 on."},
		{Name: "suspended", Type: "boolean", Default: "false", Doc: "Suspend the account."},
		{Name: "protect", Type: "boolean", Default: "false", Doc: "Never remove the account, whatever the fleet says."},
		{Name: "dnssec", Type: "boolean", Default: "false", Doc: "Sign the account's zone with DNSSEC; not on a parent with a DNS cluster."},
	},
	"Forwarder": {
		{Name: "from", Type: "string", Required: true, NonEmpty: true, Doc: "The local part (before the @) of the address that forwards, or it @ the account's main domain.", Rule: RuleA03},
		{Name: "to", Type: "string", Required: true, NonEmpty: true, Doc: "One destination: an address, \"|/path\" for a pipe to a program (not on a distributed account), \":blackhole:\", \":fail: message\" or a system user.", Rule: RuleA03},
	},
	// A reseller has every field of an account (see resellerFields) and these.
	"Reseller": {
		{Name: "acls", Type: "list of strings", Doc: "The reseller's WHM privileges (ACL names, e.g. list-accts, create-acct)."},
		{Name: "limits", Type: "mapping", Doc: "The reseller's limits; a limit not written is not managed."},
		{Name: "limits.accounts", Type: "integer", Doc: "How many accounts the reseller may create."},
	},
	"DNSCluster": {
		{Name: "enabled", Type: "boolean", Default: "false", Doc: "Turn DNS clustering on for the parent."},
		{Name: "failureThreshold", Type: "integer or \"never\"", Default: "10", Doc: "Consecutive failures after which a member is disabled, or never.", Rule: RuleD06},
		{Name: "notifyOnDisable", Type: "boolean", Default: "false", Doc: "Send a notification when a member is disabled."},
		{Name: "members", Type: "mapping of Member", Doc: "The cluster's nameservers, by name."},
	},
	"Member": {
		{Name: "backend", Type: "string", NonEmpty: true, Default: `"cpanel"`, Doc: "The member backend: one registered by a provider, today cpanel (a node of the fleet, configured through WHM) or rfc2136 (a standard nameserver Tether updates itself)."},
		{Name: "node", Type: "string", NonEmpty: true, Doc: "A cpanel member: the node of the fleet it is."},
		{Name: "host", Type: "string", NonEmpty: true, Doc: "An rfc2136 member: the server's host name."},
		{Name: "address", Type: "string", NonEmpty: true, Doc: "An rfc2136 member: HOST:PORT to send DNS to."},
		{Name: "software", Type: "string", NonEmpty: true, Doc: "The nameserver software: bind, knot or powerdns."},
		{Name: "role", Type: "string", NonEmpty: true, Required: true, Doc: "standalone (read only), sync (write and read back) or write-only (push only)."},
		{Name: "dnssec", Type: "boolean", Default: "false", Doc: "The member serves DNSSEC; not with powerdns."},
		{Name: "tsig", Type: "TSIG", Doc: "An rfc2136 member: the TSIG key updates and transfers are signed with."},
	},
	"TSIG": {
		{Name: "name", Type: "string", Required: true, NonEmpty: true, Doc: "The key's name, as the nameserver knows it."},
		{Name: "algorithm", Type: "string", NonEmpty: true, Default: `"hmac-sha256"`, Doc: "The key's HMAC algorithm."},
		{Name: "secretEnv", Type: "string", NonEmpty: true, Doc: "The name of the environment variable holding the key's secret (base64)."},
		{Name: "secretFile", Type: "string", Doc: "The path of a file holding the key's secret (base64)."},
		{Name: "secret", Type: "string", Doc: "Refused (TETHER-S01): the secret never sits in the fleet; use secretEnv or secretFile.", Rule: RuleS01},
	},
}

// fieldsOf returns the fields of a type as they are written in one object: a
// reseller's are an account's and its own.
func fieldsOf(typ string) []Field {
	if typ == "Reseller" {
		return append(slices.Clone(FleetFields["Account"]), FleetFields["Reseller"]...)
	}
	return FleetFields[typ]
}

// fieldNames lists the keys of an object of a type (or, with prefix "mail", of its
// inline mapping mail), in the table's order.
func fieldNames(typ, prefix string) []string {
	var out []string
	for _, f := range fieldsOf(typ) {
		name, ok := f.Name, prefix == ""
		if prefix != "" {
			name, ok = strings.CutPrefix(f.Name, prefix+".")
		}
		if ok && !strings.Contains(name, ".") {
			out = append(out, name)
		}
	}
	return out
}

// requiredNames lists the required keys of a type.
func requiredNames(typ string) []string {
	var out []string
	for _, f := range fieldsOf(typ) {
		if f.Required {
			out = append(out, f.Name)
		}
	}
	return out
}

// fieldFor finds the field a path of an object of type typ names, through nested
// types ("credentials.user" of a Node is Credentials' user; "forwarders[2].to" is a
// Forwarder's to). It returns nil for a path the table does not know (a feature
// name, a password kind).
func fieldFor(typ, path string) *Field {
	fields := fieldsOf(typ)
	for {
		if i := strings.IndexByte(path, '['); i >= 0 {
			if j := strings.IndexByte(path[i:], ']'); j >= 0 {
				path = path[:i] + path[i+j+1:]
			}
		}
		var best *Field
		for i := range fields {
			f := &fields[i]
			if f.Name == path {
				return f
			}
			if strings.HasPrefix(path, f.Name+".") && (best == nil || len(f.Name) > len(best.Name)) {
				best = f
			}
		}
		if best == nil {
			return nil
		}
		next := strings.TrimPrefix(strings.TrimPrefix(best.Type, "list of "), "mapping of ")
		nf, ok := FleetFields[next]
		if !ok {
			return nil
		}
		fields, path = nf, path[len(best.Name)+1:]
	}
}
