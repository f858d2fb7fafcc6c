package sandbox

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// uapi_cpanel runs a UAPI function as a cPanel user (reference "Run UAPI function
// through WHM API", 11.138.0.6; 11.120 Whostmgr/API/1/Cpanel.pm uapi_cpanel). Its
// answer is {uapi: RESULT}, RESULT being the UAPI function's own result (data, errors,
// messages, metadata, status, warnings). metadata.result is 1 whenever the call got
// as far as running the function: the source sets the metadata ok after it, so a
// failed UAPI function shows only in data.uapi.status and data.uapi.errors.
//
// The sandbox models the one module Tether uses, Email, and of it the forwarder
// functions (cPanel's UAPI reference, 11.138: Email::list_forwarders,
// Email::add_forwarder, Email::delete_forwarder). For a distributed account the
// parent sends the call on to the account's mail child, as the linked nodes guide
// says ("You must call APIs on the parent node, which proxies requests to the child
// node") and 11.120 Cpanel/LinkedNode/Worker/cPanel.pm does it: the result comes
// back with metadata.proxied_from naming the child's host.
func uapiFunctions() map[string]function {
	return map[string]function{
		"uapi_cpanel": {h: fnUAPICpanel},
	}
}

// forwarder is one line of an account's forwarders (cPanel's valiases): mail to Dest
// goes to Forward (an address, "|program", ":blackhole:", ":fail: message" or a system
// user).
type forwarder struct {
	Dest    string `json:"dest"`
	Forward string `json:"forward"`
}

// uapiResult is a UAPI function's result as uapi_cpanel nests it (data.uapi).
type uapiResult struct {
	Data     any            `json:"data"`
	Errors   []string       `json:"errors"`
	Messages []string       `json:"messages"`
	Metadata map[string]any `json:"metadata"`
	Status   int            `json:"status"`
	Warnings []string       `json:"warnings"`
}

func uapiOK(data any) *uapiResult {
	return &uapiResult{Data: data, Status: 1, Metadata: map[string]any{"transformed": 1}}
}

func uapiFail(format string, a ...any) *uapiResult {
	return &uapiResult{Errors: []string{fmt.Sprintf(format, a...)}, Metadata: map[string]any{}}
}

func fnUAPICpanel(c *call) (any, error) {
	user, err := c.required("cpanel.user")
	if err != nil {
		return nil, err
	}
	module, err := c.required("cpanel.module")
	if err != nil {
		return nil, err
	}
	fn, err := c.required("cpanel.function")
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	a := c.n.st.Accounts[user]
	var owner, mailNode string
	if a != nil {
		owner, mailNode = a.Owner, a.MailNode
	}
	var l link
	var linked bool
	if mailNode != "" {
		var ll *link
		if ll, linked = c.n.st.Links[mailNode]; linked {
			l = *ll
		}
	}
	c.n.mu.Unlock()
	if a == nil {
		return nil, noUser(user)
	}
	// Whostmgr::Authz::verify_account_access: root, or a reseller for an account it
	// owns (its own included).
	if c.user != "root" && owner != c.user && user != c.user {
		return nil, die("You do not have access to the account “%s”.", user)
	}
	if module == "Email" && mailNode != "" {
		// The function's own arguments are the rest of the form, copied: proxyUAPI
		// adds the cpanel.* of the call to them.
		args := make(url.Values, len(c.args))
		for k, v := range c.args {
			if strings.HasPrefix(k, "cpanel.") || strings.HasPrefix(k, "api.") {
				continue
			}
			args[k] = v
		}
		return map[string]any{"uapi": c.proxyUAPI(l, linked, user, module, fn, args)}, nil
	}
	// Run here, the form is read as it is: the functions read their own arguments
	// by name, none of them cpanel.* or api.*, so a copy without those (a map for
	// every forwarder read a mail child answers) reads the same.
	return map[string]any{"uapi": c.runUAPI(user, module, fn, c.args)}, nil
}

// proxyUAPI sends a UAPI call for a distributed account to its mail child, args
// (the function's own, which it changes) with the cpanel.* of the call. A child
// that cannot be reached yields a failed result with the text of
// Cpanel/LinkedNode/Worker/cPanel.pm (_call_api).
func (c *call) proxyUAPI(l link, linked bool, user, module, fn string, args url.Values) *uapiResult {
	if !linked {
		return uapiFail("Failed to send API request to the child node as “%s”: the node link no longer exists", user)
	}
	// args is this call's own (fnUAPICpanel's), sent as the child's form.
	p := args
	p.Set("cpanel.user", user)
	p.Set("cpanel.module", module)
	p.Set("cpanel.function", fn)
	var d proxiedUAPI
	res, err := c.n.callChildForm(c.ctx, l, "uapi_cpanel", p, &d)
	if err != nil {
		return uapiFail("Failed to send API request to “%s” as “%s”: %s", l.Hostname, user, err.Error())
	}
	var r *uapiResult
	if d.typed != nil {
		r = d.typed
	} else {
		if res.Data != nil || d.UAPI == nil {
			// Not decoded with the envelope: decoded, and refused, as on its own.
			d = proxiedUAPI{}
			if err := json.Unmarshal(res.Data, &d); err != nil || d.UAPI == nil {
				return uapiFail("Failed to send API request to “%s” as “%s”: the answer holds no UAPI result", l.Hostname, user)
			}
		}
		r = &d.UAPI.uapiResult
		r.Data = d.UAPI.Data
		if len(d.UAPI.Data) == 0 || string(d.UAPI.Data) == "null" {
			r.Data = nil // as decoding into any left it
		}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	var from []any
	if prev, ok := r.Metadata["proxied_from"].([]any); ok {
		from = prev
	}
	r.Metadata["proxied_from"] = append(from, l.Hostname)
	return r
}

// proxiedUAPI is a child's uapi_cpanel answer as its parent reads it. From bytes,
// the result's data is kept as the child wrote it (JSON, its keys already in order):
// decoding it into maps to encode them again cost the parent more than the call. In
// process, typed is the child's own result (takeTyped), which the parent's answer
// encodes to the same bytes, unencoded and undecoded in between.
type proxiedUAPI struct {
	UAPI *struct {
		uapiResult
		Data json.RawMessage `json:"data"`
	} `json:"uapi"`
	typed *uapiResult
}

// takeTyped takes a child's answer {uapi: RESULT} as the child built it when
// encoding it and decoding it again would give the parent the same result: data
// the parent passes on as it is (nil, or list_forwarders' rows, the call a plan
// makes for every distributed account), strings that are valid UTF-8 (the decoder
// replaces what is not), metadata values that decode to what encodes as they do
// (whole numbers a float64 holds exactly, strings, the proxied_from list), and an
// answer far under what the parent reads of one (remoteMaxAnswer). Any other is
// decoded from its bytes.
func (d *proxiedUAPI) takeTyped(env *answer) bool {
	m, ok := env.Data.(map[string]any)
	if !ok {
		return false
	}
	r, ok := m["uapi"].(*uapiResult)
	if !ok || r == nil {
		return false
	}
	// size bounds the encoded result: no byte of a string takes more than six.
	size := 256
	switch data := r.Data.(type) {
	case nil:
	case []forwarderRow:
		for _, f := range data {
			size += 128 + 6*(len(f.Dest)+len(f.Forward)+len(f.HTMLDest)+len(f.HTMLForward)+len(f.URIDest)+len(f.URIForward))
		}
	default:
		return false
	}
	validStrings := func(ss []string) bool {
		for _, s := range ss {
			if !utf8.ValidString(s) {
				return false
			}
			size += 3 + 6*len(s)
		}
		return true
	}
	if !validStrings(r.Errors) || !validStrings(r.Messages) || !validStrings(r.Warnings) {
		return false
	}
	for k, v := range r.Metadata {
		if !validStrings([]string{k}) {
			return false
		}
		switch v := v.(type) {
		case int:
			if v <= -1<<53 || v >= 1<<53 {
				return false
			}
			size += 24
		case string:
			if !validStrings([]string{v}) {
				return false
			}
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok || !validStrings([]string{s}) {
					return false
				}
			}
		default:
			return false
		}
	}
	if size > remoteMaxAnswer/4 {
		return false
	}
	d.typed = r
	return true
}

// runUAPI runs a UAPI function for user on this node.
func (c *call) runUAPI(user, module, fn string, args url.Values) *uapiResult {
	if module != "Email" {
		return uapiFail("The sandbox does not model the UAPI module “%s”.", module)
	}
	switch fn {
	case "list_forwarders":
		return c.listForwarders(user, args)
	case "add_forwarder":
		return c.addForwarder(user, args)
	case "delete_forwarder":
		return c.deleteForwarder(user, args)
	}
	return uapiFail("The sandbox does not model the UAPI function “%s::%s”.", module, fn)
}

// ownsDomain checks that domain is the account's (the sandbox models each account's
// main domain only).
func ownsDomain(a *account, domain string) bool {
	return strings.EqualFold(a.Domain, domain)
}

// listForwarders answers Email::list_forwarders (UAPI reference, 11.138.0.19):
// domain required, regex optional (matched against the forwarded address or its
// destination); each row has dest, forward and their html_ and uri_ forms.
func (c *call) listForwarders(user string, args url.Values) *uapiResult {
	domain := args.Get("domain")
	if domain == "" {
		return uapiFail("Provide the “domain” parameter.")
	}
	var re *regexp.Regexp
	if expr := args.Get("regex"); expr != "" {
		var err error
		if re, err = regexp.Compile(expr); err != nil {
			return uapiFail("“%s” is not a valid regular expression: %s", expr, err.Error())
		}
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	a := c.n.st.Accounts[user]
	if a == nil {
		return uapiFail("The user “%s” does not exist.", user)
	}
	if !ownsDomain(a, domain) {
		return uapiFail("The account “%s” does not own the domain “%s”.", user, domain)
	}
	suffix := "@" + strings.ToLower(domain)
	rows := []forwarderRow{}
	for _, f := range a.Forwarders {
		if !strings.HasSuffix(strings.ToLower(f.Dest), suffix) {
			continue
		}
		if re != nil && !re.MatchString(f.Dest) && !re.MatchString(f.Forward) {
			continue
		}
		rows = append(rows, forwarderRow{
			Dest: f.Dest, Forward: f.Forward,
			HTMLDest: html.EscapeString(f.Dest), HTMLForward: html.EscapeString(f.Forward),
			URIDest: url.QueryEscape(f.Dest), URIForward: url.QueryEscape(f.Forward),
		})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Dest < rows[j].Dest })
	return uapiOK(rows)
}

// forwarderRow is one row of list_forwarders, its keys in the order a map's are
// written (sorted), as the map it replaced wrote them.
type forwarderRow struct {
	Dest        string `json:"dest"`
	Forward     string `json:"forward"`
	HTMLDest    string `json:"html_dest"`
	HTMLForward string `json:"html_forward"`
	URIDest     string `json:"uri_dest"`
	URIForward  string `json:"uri_forward"`
}

// addForwarder answers Email::add_forwarder (UAPI reference, 11.138.0.10): domain,
// email and fwdopt required; fwdopt fwd (fwdemail, a comma-separated list), pipe
// (pipefwd), system (fwdsystem), blackhole, or fail (failmsgs, by default "No such
// person at this address"). A distributed account refuses a pipe: the linked nodes
// guide disables "Pipe to a Program" for distributed accounts.
func (c *call) addForwarder(user string, args url.Values) *uapiResult {
	for _, req := range []string{"domain", "email", "fwdopt"} {
		if args.Get(req) == "" {
			return uapiFail("Provide the “%s” parameter.", req)
		}
	}
	domain := strings.ToLower(args.Get("domain"))
	email := strings.ToLower(strings.TrimSpace(args.Get("email")))
	if !strings.Contains(email, "@") {
		email += "@" + domain
	}
	if local, dom, _ := strings.Cut(email, "@"); local == "" || dom != domain {
		return uapiFail("“%s” is not an address of the domain “%s”.", email, domain)
	}
	var targets []string
	switch opt := args.Get("fwdopt"); opt {
	case "fwd":
		list := args.Get("fwdemail")
		if list == "" {
			return uapiFail("Provide the “fwdemail” parameter.")
		}
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			if err := validEmail(t); err != nil || t == "" {
				return uapiFail("“%s” is not a valid email address.", t)
			}
			targets = append(targets, t)
		}
	case "pipe":
		prog := strings.TrimSpace(args.Get("pipefwd"))
		if prog == "" {
			return uapiFail("Provide the “pipefwd” parameter.")
		}
		targets = []string{"|" + strings.TrimPrefix(prog, "|")}
	case "system":
		su := args.Get("fwdsystem")
		if su == "" {
			return uapiFail("Provide the “fwdsystem” parameter.")
		}
		targets = []string{su}
	case "blackhole":
		targets = []string{":blackhole:"}
	case "fail":
		msg := args.Get("failmsgs")
		if msg == "" {
			msg = "No such person at this address"
		}
		targets = []string{":fail: " + msg}
	default:
		return uapiFail("“%s” is not a valid forwarding method.", opt)
	}
	var res *uapiResult
	_ = c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			res = uapiFail("The user “%s” does not exist.", user)
			return false, nil
		}
		if !ownsDomain(a, domain) {
			res = uapiFail("The account “%s” does not own the domain “%s”.", user, domain)
			return false, nil
		}
		if args.Get("fwdopt") == "pipe" && (a.ParentHost != "" || a.MailNode != "") {
			res = uapiFail("Distributed accounts cannot forward mail to a program.")
			return false, nil
		}
		rows := []map[string]any{}
		changed := false
		for _, t := range targets {
			rows = append(rows, map[string]any{"domain": domain, "email": email, "forward": t})
			if !hasForwarder(a.Forwarders, email, t) {
				a.Forwarders = append(a.Forwarders, forwarder{Dest: email, Forward: t})
				changed = true
			}
		}
		res = uapiOK(rows)
		return changed, nil
	})
	return res
}

// deleteForwarder answers Email::delete_forwarder (UAPI reference, 11.138.0.19):
// address and forwarder required; data null.
func (c *call) deleteForwarder(user string, args url.Values) *uapiResult {
	address := strings.ToLower(strings.TrimSpace(args.Get("address")))
	target := args.Get("forwarder")
	if address == "" {
		return uapiFail("Provide the “address” parameter.")
	}
	if target == "" {
		return uapiFail("Provide the “forwarder” parameter.")
	}
	var res *uapiResult
	_ = c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			res = uapiFail("The user “%s” does not exist.", user)
			return false, nil
		}
		kept := a.Forwarders[:0:0]
		for _, f := range a.Forwarders {
			if strings.EqualFold(f.Dest, address) && f.Forward == target {
				continue
			}
			kept = append(kept, f)
		}
		changed := len(kept) != len(a.Forwarders)
		a.Forwarders = kept
		res = &uapiResult{Status: 1, Metadata: map[string]any{}}
		return changed, nil
	})
	return res
}

func hasForwarder(fs []forwarder, dest, fwd string) bool {
	for _, f := range fs {
		if strings.EqualFold(f.Dest, dest) && f.Forward == fwd {
			return true
		}
	}
	return false
}

func copyForwarders(fs []forwarder) []forwarder {
	if len(fs) == 0 {
		return nil
	}
	return append([]forwarder(nil), fs...)
}
