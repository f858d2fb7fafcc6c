package reconciler

import "github.com/tether-dev/tether/schema"

// Handling says what Tether does with a declared field of the fleet once the object
// exists on the servers. Every field of the model has an entry (a test walks the
// schema's types and fails on one that has none), and the README's "What Tether
// manages" table is made from this one.
type Handling struct {
	// Kind is one of the Kind* constants.
	Kind string
	// How says it in words: what is read and what is called, or why not.
	How string
}

// Kinds of handling.
const (
	// KindManaged: read from the servers, compared, and changed when it differs.
	KindManaged = "managed"
	// KindChecked: read from the servers and compared; a difference is reported,
	// never changed by Tether.
	KindChecked = "checked on the servers"
	// KindCreation: used when the object is created (or linked); a later change is
	// named in the plan, not made.
	KindCreation = "fixed at creation"
	// KindFiles: checked against the rules in the files only; the servers are not
	// read for it, and the plan says so when an account declares it.
	KindFiles = "checked in the files only"
	// KindTether: Tether's own setting or a way to reach a server; nothing on the
	// servers holds it.
	KindTether = "Tether's own"
)

// Fields maps each field of the fleet model ("node.profile", "account.forwarders")
// to how it is handled.
var Fields = map[string]Handling{
	"policy.prune":            {KindTether, "lets a plan remove objects Tether created that left the fleet"},
	"policy.maxRemovePercent": {KindTether, "share of a parent's accounts a plan may remove without --force"},
	"policy.drift":            {KindTether, "what `tether watch` does about drift"},
	"policy.notifyWebhook":    {KindTether, "where notifications go"},
	"policy.callTimeout":      {KindTether, "how long one request to a server may go unanswered"},
	"policy.callAttempts":     {KindTether, "how many times a request is tried"},
	"policy.changeTimeout":    {KindTether, "the most one change of an apply may take"},

	"node.role":             {KindManaged, "a child's link is read with list_linked_server_nodes; a child is linked (link_server_node_with_api_token) or unlinked"},
	"node.parent":           {KindManaged, "the parent a child is linked to; Tether links and unlinks, never moves a child between parents"},
	"node.host":             {KindCreation, "the host name a child is linked by; a different host on an existing link is an error"},
	"node.ipv4":             {KindTether, "the address DNS checks expect; not read from the server"},
	"node.ipv6":             {KindTether, "the address DNS checks expect; not read from the server"},
	"node.version":          {KindChecked, "read with version; a difference is a warning (Tether never upgrades)"},
	"node.profile":          {KindManaged, "get_current_profile; start_profile_activation"},
	"node.optionalRoles":    {KindManaged, "is_role_enabled; start_profile_activation with optional (roles not named keep their state)"},
	"node.services":         {KindCreation, "the worker type a child is linked as (WHM links every child as Mail)"},
	"node.port":             {KindTether, "where Tether reaches WHM"},
	"node.address":          {KindTether, "HOST:PORT Tether reaches WHM at (a tunnel, an IP); not the name used in DNS and rules"},
	"node.tls":              {KindTether, "how Tether verifies WHM's certificate"},
	"node.credentials":      {KindTether, "Tether's API token for the node (a reference, never the token)"},
	"node.linkCredentials":  {KindCreation, "the token the parent stores when it links the child; WHM never returns it"},
	"node.passwordStrength": {KindManaged, "getminimumpasswordstrengths; setminimumpasswordstrengths"},
	"node.lost":             {KindTether, "marks a child gone: its accounts are force-dedistributed (force_dedistribution_from_node)"},

	"account.parent":       {KindCreation, "the parent an account is created on; Tether never moves accounts between parents"},
	"account.domain":       {KindManaged, "listaccts; modifyacct domain"},
	"account.owner":        {KindManaged, "listaccts; modifyacct owner"},
	"account.plan":         {KindManaged, "listaccts; changepackage"},
	"account.contactEmail": {KindManaged, "listaccts; modifyacct contactemail"},
	"account.ipv6":         {KindManaged, "listaccts ipv6; turned off with ipv6_disable_account; turned on with ipv6_enable_account from the range ipv6Range names (without one it is named in the plan, not made)"},
	"account.ipv6Range":    {KindTether, "the range ipv6_enable_account takes an address from when Tether turns ipv6 on; WHM does not say which range an address came from, so it is not compared"},
	"account.features":     {KindManaged, "get_users_features_settings; add_override_features_for_user (declared features only)"},
	"account.mail":         {KindManaged, "listaccts child_nodes; modifyacct mail_node_alias (distribution), force_dedistribution_from_node"},
	"account.autossl":      {KindFiles, "rule TETHER-L08; the reference offers no read of an account's DCV methods (get_autossl_metadata, get_autossl_providers, get_autossl_problems_for_user checked)"},
	"account.forwarders":   {KindManaged, "UAPI Email::list_forwarders, add_forwarder, delete_forwarder through WHM's uapi_cpanel (the parent sends them to a distributed account's mail child); written forwarders: is the whole list (extra ones are removed), not written leaves them alone; a pipe on a distributed account is reported (TETHER-L09), a from or to cPanel would not keep as written is refused (TETHER-A03)"},
	"account.suspended":    {KindManaged, "listaccts; suspendacct, unsuspendacct"},
	"account.protect":      {KindTether, "never removed, whatever the fleet says"},
	"account.dnssec":       {KindChecked, "fetch_ds_records_for_domains (a zone with DS keys is signed; a server without PowerDNS signs none); a difference is reported, and a signed zone on a parent with a DNS cluster is reported as TETHER-D03"},

	"reseller.acls":   {KindCreation, "setacls when set up; WHM API 1 has no function that reads a reseller's ACLs"},
	"reseller.limits": {KindManaged, "acctcounts; setresellerlimits"},

	"dnsCluster.enabled":          {KindManaged, "/scripts7/clusterstatus; /cgi/adjustclusterdns.cgi"},
	"dnsCluster.failureThreshold": {KindManaged, "/cgi/adjustclusteroptions.cgi"},
	"dnsCluster.notifyOnDisable":  {KindManaged, "/cgi/adjustclusteroptions.cgi"},
	"dnsCluster.members":          {KindManaged, "members are added, changed and removed"},

	"member.backend":  {KindCreation, "cpanel (WHM's DNS cluster) or rfc2136 (Tether's own UPDATE/AXFR); a change is remove then add"},
	"member.node":     {KindCreation, "the fleet node a cpanel member is"},
	"member.host":     {KindCreation, "the member's host name; a new host is remove then add"},
	"member.address":  {KindTether, "where Tether sends DNS for an rfc2136 member"},
	"member.software": {KindTether, "the rfc2136 member's software (rules D03)"},
	"member.role":     {KindManaged, "/cgi/changeclusterdns.cgi (cpanel) or how Tether replicates (rfc2136)"},
	"member.dnssec":   {KindFiles, "rule TETHER-D03"},
	"member.tsig":     {KindTether, "the TSIG key Tether signs with (a reference, never the secret)"},
}

// filesOnlyAccountFields are the account fields KindFiles the plan names when an
// account declares them.
var filesOnlyAccountFields = []string{"autossl"}

// noteFilesOnly names, once per field, the account fields the fleet declares that
// Tether checks in the files only (Fields: KindFiles), so a plan never looks as if it
// had compared them with the servers.
func (d *differ) noteFilesOnly() {
	count := map[string]int{}
	seen := func(a *schema.Account) {
		if a == nil {
			return
		}
		if a.AutoSSL != nil && len(a.AutoSSL.DCV) > 0 {
			count["autossl"]++
		}
	}
	// The fleet's accounts were counted by diffAccounts' walk, which meets them all.
	count["autossl"] += d.autosslDeclared
	for _, r := range d.d.Resellers {
		if r != nil {
			seen(&r.Account)
		}
	}
	for _, f := range filesOnlyAccountFields {
		if n := count[f]; n > 0 {
			d.warnf("%s: declared on %d account(s) and checked in the files only: %s", f, n, Fields["account."+f].How)
		}
	}
	acls := 0
	for _, r := range d.d.Resellers {
		if d.can(CapObserveResellerACLs) {
			break // compared like any other field
		}
		if r != nil && r.ACLs != nil {
			acls++
		}
	}
	if acls > 0 {
		d.warnf("acls: declared on %d reseller(s) and set only when reseller privileges are set up: %s, so a later change is not seen", acls, Fields["reseller.acls"].How)
	}
}
