package whmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Typed wrappers for the functions the provider reads. The response shapes follow
// ../shared/whm-api.md; where that document marks a detail UNCONFIRMED, this file is
// the one place to correct it.

// Version returns the full dotted version ("11.118.0.5").
func (c *Client) Version(ctx context.Context) (string, error) {
	var d struct {
		Version FlexString `json:"version"`
	}
	if _, err := c.Call(ctx, Read, "version", nil, &d); err != nil {
		return "", err
	}
	return string(d.Version), nil
}

// MajorVersion turns "11.118.0.5" into 118 and "118.0.5" into 118 (cPanel dropped the
// leading 11 in its marketing, not in the API; accept both).
func MajorVersion(v string) (int, error) {
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) == 0 || parts[0] == "" {
		return 0, fmt.Errorf("version %q: empty", v)
	}
	i := 0
	if parts[0] == "11" && len(parts) > 1 {
		i = 1
	}
	n, err := strconv.Atoi(parts[i])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("version %q: not a cPanel & WHM version", v)
	}
	return n, nil
}

// Profile is get_current_profile's data.
type Profile struct {
	Code         string   `json:"code"`
	Name         string   `json:"name"`
	Experimental FlexBool `json:"experimental"`
	// OptionalRoles are the profile's optional roles (on or off: get_current_profile
	// lists them all; is_role_enabled says which are on).
	OptionalRoles []ProfileRole `json:"optional_roles"`
}

// ProfileRole is one role of a profile as get_current_profile lists it.
type ProfileRole struct {
	Module string `json:"module"`
}

// RolesEnabled asks is_role_enabled about each role, in one batch request, and
// returns each role's state. (Whostmgr/API/1/Cpanel.pm: data.enabled is "1" or "0".)
func (c *Client) RolesEnabled(ctx context.Context, roles []string) (map[string]bool, error) {
	out := make(map[string]bool, len(roles))
	if len(roles) == 0 {
		return out, nil
	}
	cmds := make([]BatchCommand, len(roles))
	for i, r := range roles {
		cmds[i] = BatchCommand{Function: "is_role_enabled", Params: url.Values{"role": {r}}}
	}
	envs, errs, err := c.Batch(ctx, cmds)
	if err != nil {
		return nil, err
	}
	for i, r := range roles {
		if errs[i] != nil {
			return nil, fmt.Errorf("role %s: %w", r, errs[i])
		}
		var d struct {
			Enabled FlexBool `json:"enabled"`
		}
		if err := c.Decode(envs[i], "is_role_enabled", &d); err != nil {
			return nil, err
		}
		out[r] = bool(d.Enabled)
	}
	return out, nil
}

// CurrentProfile returns the node's server profile.
func (c *Client) CurrentProfile(ctx context.Context) (Profile, error) {
	var p Profile
	_, err := c.Call(ctx, Read, "get_current_profile", nil, &p)
	return p, err
}

// PasswordStrengths returns getminimumpasswordstrengths' map of kind → strength.
func (c *Client) PasswordStrengths(ctx context.Context) (map[string]int, error) {
	var raw map[string]FlexInt
	if _, err := c.Call(ctx, Read, "getminimumpasswordstrengths", nil, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(raw))
	for k, v := range raw {
		if v.Valid {
			out[k] = int(v.N)
		}
	}
	return out, nil
}

// LinkedNode is one entry of list_linked_server_nodes / get_linked_server_node.
type LinkedNode struct {
	Alias              string                     `json:"alias"`
	Hostname           string                     `json:"hostname"`
	Username           string                     `json:"username"`
	Version            FlexString                 `json:"version"`
	EnabledServices    []string                   `json:"enabled_services"`
	WorkerCapabilities map[string]json.RawMessage `json:"worker_capabilities"`
	TLSVerified        FlexBool                   `json:"tls_verified"`
	LastCheck          FlexInt                    `json:"last_check"`
}

// LinkedNodes lists the children linked to this parent.
func (c *Client) LinkedNodes(ctx context.Context) ([]LinkedNode, error) {
	var d struct {
		Payload []LinkedNode `json:"payload"`
	}
	_, err := c.Call(ctx, Read, "list_linked_server_nodes", nil, &d)
	return d.Payload, err
}

// ChildNode is one element of listaccts' child_nodes.
type ChildNode struct {
	Workload string `json:"workload"`
	Alias    string `json:"alias"`
}

// Acct is one listaccts / accountsummary entry (only the fields Tether reads).
type Acct struct {
	User       string          `json:"user"`
	Domain     string          `json:"domain"`
	Owner      FlexString      `json:"owner"`
	Plan       FlexString      `json:"plan"`
	Email      FlexString      `json:"email"`
	Suspended  FlexBool        `json:"suspended"`
	IPv6       json.RawMessage `json:"ipv6"`
	ChildNodes []ChildNode     `json:"child_nodes"`
}

// HasIPv6 reports whether listaccts shows IPv6 addresses for the account (an array,
// sometimes a single string, "" or 0 when none).
func (a *Acct) HasIPv6() bool {
	s := strings.TrimSpace(string(a.IPv6))
	switch s {
	case "", "null", "[]", `""`, "0", `"0"`, "false":
		return false
	}
	return true
}

// MailNode returns the child alias of the Mail workload, and any further ones.
func (a *Acct) MailNode() (string, []string) {
	var first string
	var extra []string
	for _, cn := range a.ChildNodes {
		if !strings.EqualFold(cn.Workload, "Mail") {
			continue
		}
		if first == "" {
			first = cn.Alias
		} else {
			extra = append(extra, cn.Alias)
		}
	}
	return first, extra
}

// AcctWant is the want= list Tether asks listaccts for: the keys Acct decodes,
// read from its json tags so a field added to Acct is asked for too.
var AcctWant = strings.Join(jsonKeys(reflect.TypeFor[Acct]()), ",")

// acctColumns asks listaccts for Acct's keys twice over: want= (listaccts' own
// argument, Whostmgr/Accounts/List.pm builds only those) and the output columns every
// WHM API 1 function takes (api.columns.*, applied by the API layer:
// Whostmgr/API/1/Data/Columns.pm), for a server whose listaccts ignores want. A
// server that ignores both answers every field; the decoding is the same.
var acctColumns = ColumnsParams(reflect.TypeFor[Acct]())

// AcctParams are the parameters of a listaccts that Acct decodes: want= and the
// output columns, from Acct's json tags.
func AcctParams() url.Values {
	q := url.Values{"want": {AcctWant}}
	for k, v := range acctColumns {
		q[k] = v
	}
	return q
}

// ColumnsParams are WHM API 1's output columns (api.columns.enable=1,
// api.columns.a=KEY, …; reference "WHM API 1 Output Columns") asking a function's
// records for the keys of struct type t's json tags. Use them only for a function
// that answers no data when it has no record (listaccts: "return if !$count"): WHM
// applies columns to an empty list too, where the 11.120 code that does
// (Cpanel/Args/Columns/Util.pm) may leave an empty record behind.
func ColumnsParams(t reflect.Type) url.Values {
	q := url.Values{"api.columns.enable": {"1"}}
	for i, k := range jsonKeys(t) {
		q["api.columns."+columnLetter(i)] = []string{k}
	}
	return q
}

// columnLetter names the i-th column argument: a … z, then ba, bb, … (WHM takes any
// name after api.columns.; its reference counts in letters).
func columnLetter(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	if i < len(letters) {
		return letters[i : i+1]
	}
	return columnLetter(i/len(letters)) + letters[i%len(letters):i%len(letters)+1]
}

// jsonKeys are the JSON keys struct type t decodes: each exported field's json tag
// name, or its Go name without one ("-" skipped). Embedded structs are refused (their
// keys would need promoting), so a type they would silently shorten is caught at
// start.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if f.Anonymous {
			panic(fmt.Sprintf("whmapi: %s embeds %s: list its keys by hand", t, f.Type))
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys = append(keys, name)
	}
	return keys
}

// ListAccts runs listaccts with the given search parameters (nil for all accounts).
func (c *Client) ListAccts(ctx context.Context, search url.Values) ([]Acct, error) {
	q := AcctParams()
	for k, v := range search {
		q[k] = v
	}
	var d struct {
		Acct []Acct `json:"acct"`
	}
	_, err := c.Call(ctx, Read, "listaccts", q, &d)
	return d.Acct, err
}

// FindAcct returns one account by exact user name, or nil when there is none.
// listaccts answers an exact user search that misses with result 0 "No accounts
// found."; accountsummary would do too, but answers a miss the same way, so use the
// listing that also serves bulk reads.
func (c *Client) FindAcct(ctx context.Context, user string) (*Acct, error) {
	accts, err := c.ListAccts(ctx, url.Values{"searchtype": {"user"}, "search": {user}, "searchmethod": {"exact"}})
	if err != nil {
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	for i := range accts {
		if accts[i].User == user {
			return &accts[i], nil
		}
	}
	return nil, nil
}

// CreateAcctAndRead runs createacct with params and reads the account user back in
// one request: a WHM batch of createacct then an exact listaccts (AcctParams),
// without abort_on_error so the read runs whether or not createacct was refused.
// With the server's latency per request dominating an apply of thousands of
// accounts, this halves its time. It returns createacct's refusal (or nil), the
// account as read after it (nil when absent) and the read's failure. A batch that
// fails or answers short is an error: sent Once, it is never repeated here, and the
// caller's retry comes back to a createacct that is then refused for a user that
// exists. Should the server refuse batch itself (whether WHM runs a write inside
// batch is UNCONFIRMED), nothing ran, and the two calls are made apart.
//
// The answer is read as ReadBatch reads one, by decodeBatchFast when both succeeded
// (the common case: read through encoding/json, the batch and then the listaccts
// again, it was an eighth of the CPU an apply of 10k creations spent against the
// in-process sandbox), else as envelopes, each result on its own.
func (c *Client) CreateAcctAndRead(ctx context.Context, user string, params url.Values) (createErr error, cur *Acct, readErr error) {
	var accts acctList
	reads := []BatchRead{
		{Function: "createacct", Params: params},
		{Function: "listaccts", Out: &accts},
	}
	bd := &batchDecode{reads: reads}
	batch := url.Values{"command": {commandQuery("createacct", params), acctReadCommand(user)}}
	if _, err := c.Call(ctx, Once, "batch", batch, bd); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Function == "batch" {
			c.log.Warn("batch refused; creating without it", "node", c.node, "reason", apiErr.Reason)
			if _, err := c.Call(ctx, Once, "createacct", params, nil); err != nil {
				createErr = err
			}
			cur, readErr = c.FindAcct(ctx, user)
			return createErr, cur, readErr
		}
		return err, nil, err
	}
	// Each result's metadata (a null result reads as none: refused, no reason), and
	// whether the read's data is in accts already.
	var metas []Metadata
	decoded := bd.slots != nil
	if decoded {
		for _, s := range bd.slots {
			var md Metadata
			if s != nil {
				md = s.Metadata
			}
			metas = append(metas, md)
		}
		if s := bd.slots[1]; s != nil && s.Data != nil && c.opts.OnDecode != nil {
			c.opts.OnDecode("listaccts", &accts)
		}
	} else {
		for _, env := range bd.envs {
			var md Metadata
			if env != nil {
				md = env.Metadata
			}
			metas = append(metas, md)
		}
	}
	if len(metas) == 0 {
		err := fmt.Errorf("batch of createacct and its read back: no results")
		return err, nil, err
	}
	if md := metas[0]; !bool(md.Result) {
		createErr = &APIError{Node: c.node, Function: "createacct", Reason: c.redact(string(md.Reason))}
	}
	if len(metas) < 2 {
		return createErr, nil, fmt.Errorf("batch of createacct and its read back: the read back did not run")
	}
	if md := metas[1]; !bool(md.Result) {
		rerr := &APIError{Node: c.node, Function: "listaccts", Reason: c.redact(string(md.Reason))}
		if IsNotFound(rerr) {
			return createErr, nil, nil
		}
		return createErr, nil, rerr
	}
	if !decoded {
		// Into a struct of no name, as the read was decoded before: the error
		// names the field, not acctList.
		var d struct {
			Acct []Acct `json:"acct"`
		}
		if err := c.Decode(bd.envs[1], "listaccts", &d); err != nil {
			return createErr, nil, err
		}
		accts.Acct = d.Acct
	}
	for i := range accts.Acct {
		if accts.Acct[i].User == user {
			return createErr, &accts.Acct[i], nil
		}
	}
	return createErr, nil, nil
}

// acctRead is the exact listaccts of one user as a batch command, but for the
// user: the parameters (AcctParams and the search) are the same for every account,
// so they are encoded once, around the user's place, not for each creation.
var acctRead = func() (head, tail string) {
	q := AcctParams()
	q["searchtype"], q["search"], q["searchmethod"] = []string{"user"}, []string{"\x00"}, []string{"exact"}
	head, tail, _ = strings.Cut(commandQuery("listaccts", q), "search=%00")
	return head + "search=", tail
}

var acctReadHead, acctReadTail = acctRead()

// acctReadCommand is the batch command reading user back: commandQuery of
// listaccts with AcctParams and an exact search for user, byte for byte.
func acctReadCommand(user string) string {
	var b strings.Builder
	b.Grow(len(acctReadHead) + 3*len(user) + len(acctReadTail))
	b.WriteString(acctReadHead)
	writeQueryEscape(&b, user)
	b.WriteString(acctReadTail)
	return b.String()
}

// IsNotFound reports whether err is WHM saying an object does not exist.
func IsNotFound(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	r := strings.ToLower(ae.Reason)
	for _, s := range []string{"no accounts found", "does not exist", "no node link", "not exist", "no such"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// Resellers returns listresellers' user names.
func (c *Client) Resellers(ctx context.Context) ([]string, error) {
	var d struct {
		Reseller []string `json:"reseller"`
	}
	_, err := c.Call(ctx, Read, "listresellers", nil, &d)
	return d.Reseller, err
}

// AcctCount is acctcounts' data.reseller.
type AcctCount struct {
	User      string  `json:"user"`
	Active    FlexInt `json:"active"`
	Suspended FlexInt `json:"suspended"`
	// Limit is the account creation limit; invalid (null) means no limit.
	Limit FlexInt `json:"limit"`
}

func decodeAcctCount(c *Client, env *Envelope) (AcctCount, error) {
	var d struct {
		Reseller AcctCount `json:"reseller"`
	}
	err := c.Decode(env, "acctcounts", &d)
	return d.Reseller, err
}

// AcctCounts reads the account limits of several resellers in one batch request.
// Should the server refuse batch, it falls back to one acctcounts call each:
// resellers are few.
func (c *Client) AcctCounts(ctx context.Context, users []string) (map[string]AcctCount, error) {
	out := make(map[string]AcctCount, len(users))
	if len(users) == 0 {
		return out, nil
	}
	cmds := make([]BatchCommand, len(users))
	for i, u := range users {
		cmds[i] = BatchCommand{Function: "acctcounts", Params: url.Values{"user": {u}}}
	}
	envs, errs, err := c.Batch(ctx, cmds)
	if err == nil {
		for i, u := range users {
			if errs[i] != nil {
				return nil, fmt.Errorf("reseller %s: %w", u, errs[i])
			}
			ac, err := decodeAcctCount(c, envs[i])
			if err != nil {
				return nil, fmt.Errorf("reseller %s: %w", u, err)
			}
			out[u] = ac
		}
		return out, nil
	}
	if _, ok := err.(*APIError); !ok {
		return nil, err
	}
	for _, u := range users {
		env, err := c.Call(ctx, Read, "acctcounts", url.Values{"user": {u}}, nil)
		if err != nil {
			return nil, fmt.Errorf("reseller %s: %w", u, err)
		}
		ac, err := decodeAcctCount(c, env)
		if err != nil {
			return nil, fmt.Errorf("reseller %s: %w", u, err)
		}
		out[u] = ac
	}
	return out, nil
}

// UserFeature is one entry of get_users_features_settings: the fields Enabled reads.
// The entry's feature (the one asked for) and feature_list are not decoded: a 100k
// plan reads 200k entries and more, and every string decoded is one more allocation.
type UserFeature struct {
	User               string     `json:"user"`
	FeatureListSetting FlexString `json:"feature_list_setting"`
	CPUserSetting      FlexString `json:"cpuser_setting"`
}

// Enabled is the effective setting: the account's own override wins over its
// feature list.
func (f UserFeature) Enabled() bool {
	// null or "" means "not set here".
	if v, ok := parseBool(string(f.CPUserSetting)); ok {
		return v
	}
	v, _ := parseBool(string(f.FeatureListSetting))
	return v
}

// UsersFeatures reads one feature for many users in one call.
func (c *Client) UsersFeatures(ctx context.Context, feature string, users []string) ([]UserFeature, error) {
	q := url.Values{"user": users, "feature": {feature}}
	// The reference's key (and the 11.120 code's) is users_features_settings.
	var d struct {
		Users []UserFeature `json:"users_features_settings"`
	}
	if _, err := c.Call(ctx, Read, "get_users_features_settings", q, &d); err != nil {
		return nil, err
	}
	return d.Users, nil
}

// FeaturesRequest is one get_users_features_settings call of UsersFeaturesBatch:
// one feature for some users.
type FeaturesRequest struct {
	Feature string
	Users   []string
}

// UsersFeaturesBatch makes several get_users_features_settings calls in one batch
// request: one round trip on one connection, where the calls made at once opened a
// connection (a TLS handshake on both sides) each. A call the server answers with a
// failure gets its error at its index. Should the server refuse batch itself, the
// calls are made one after another.
func (c *Client) UsersFeaturesBatch(ctx context.Context, reqs []FeaturesRequest) ([][]UserFeature, []error, error) {
	outs := make([]featuresList, len(reqs))
	reads := make([]BatchRead, len(reqs))
	for i, r := range reqs {
		reads[i] = BatchRead{Function: "get_users_features_settings", Params: url.Values{"user": r.Users, "feature": {r.Feature}}, Out: &outs[i]}
	}
	got := make([][]UserFeature, len(reqs))
	errs, err := c.ReadBatch(ctx, reads)
	var refused *APIError
	if errors.As(err, &refused) && refused.Function == "batch" {
		c.log.Warn("batch refused; reading features call by call", "node", c.node, "reason", refused.Reason)
		errs = make([]error, len(reqs))
		for i, r := range reqs {
			got[i], errs[i] = c.UsersFeatures(ctx, r.Feature, r.Users)
		}
		return got, errs, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for i := range outs {
		if errs[i] == nil {
			got[i] = outs[i].Users
		}
	}
	return got, errs, nil
}

func parseBool(s string) (value, set bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return false, false
}

// NodeInfo is what observing reads of every node first.
type NodeInfo struct {
	Version           string
	Profile           Profile
	PasswordStrengths map[string]int
}

// Listing is what observing reads of a parent along with its NodeInfo.
type Listing struct {
	Linked    []LinkedNode
	Accts     []Acct
	Resellers []string
}

// ReadNode reads a node's version, server profile and minimum password strengths
// and, with listing, a parent's linked nodes, accounts (AcctParams) and
// resellers: one batch request, so a node costs one round trip and one connection
// where these calls made apart cost one each and, run at once, a connection each
// (cPanel itself reads a remote node's version and links in one batch,
// Cpanel/LinkedNode.pm). A failed read fails the whole with its name ("profile:
// …"); version's failure is returned as it is, being the first thing a node is
// asked. Should the server refuse batch itself, the calls are made one after
// another.
func (c *Client) ReadNode(ctx context.Context, listing bool) (*NodeInfo, *Listing, error) {
	var (
		version struct {
			Version FlexString `json:"version"`
		}
		info   NodeInfo
		pw     map[string]FlexInt
		lst    Listing
		linked struct {
			Payload []LinkedNode `json:"payload"`
		}
		accts     acctList
		resellers struct {
			Reseller []string `json:"reseller"`
		}
	)
	reads := []BatchRead{
		{Function: "version", Out: &version},
		{Function: "get_current_profile", Out: &info.Profile},
		{Function: "getminimumpasswordstrengths", Out: &pw},
	}
	labels := []string{"", "profile", "password strengths"}
	if listing {
		reads = append(reads,
			BatchRead{Function: "list_linked_server_nodes", Out: &linked},
			BatchRead{Function: "listaccts", Params: AcctParams(), Out: &accts},
			BatchRead{Function: "listresellers", Out: &resellers})
		labels = append(labels, "linked nodes", "accounts", "resellers")
	}
	errs, err := c.ReadBatch(ctx, reads)
	var refused *APIError
	if errors.As(err, &refused) && refused.Function == "batch" {
		c.log.Warn("batch refused; reading the node call by call", "node", c.node, "reason", refused.Reason)
		errs = make([]error, len(reads))
		for i, r := range reads {
			if _, errs[i] = c.Call(ctx, Read, r.Function, r.Params, r.Out); errs[i] != nil {
				break
			}
		}
	} else if err != nil {
		return nil, nil, err
	}
	for i, e := range errs {
		if e != nil {
			if labels[i] == "" {
				return nil, nil, e
			}
			return nil, nil, fmt.Errorf("%s: %w", labels[i], e)
		}
	}
	info.Version = string(version.Version)
	info.PasswordStrengths = make(map[string]int, len(pw))
	for k, v := range pw {
		if v.Valid {
			info.PasswordStrengths[k] = int(v.N)
		}
	}
	if !listing {
		return &info, nil, nil
	}
	lst.Linked, lst.Accts, lst.Resellers = linked.Payload, accts.Acct, resellers.Reseller
	return &info, &lst, nil
}
