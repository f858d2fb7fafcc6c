package whm

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"

	"github.com/tether-dev/tether/schema"
)

// WHM has no JSON API for its DNS cluster: /scripts7/clusterstatus is the screen an
// administrator sees. Whostmgr/DNS/Cluster/UI/Clusterstatus.pm renders it from
// whostmgr/docroot/templates/clusterstatus.tmpl (cPanel & WHM 11.120), and this
// parser reads that template's structure:
//
//   - div.clusteringstatus: "DNS clustering is enabled." or "… is disabled.";
//   - form#cluster_opts_form (only when clustering is on): the checked radio
//     autodisablethreshold_control (default → 10, custom → input#threshold,
//     disabled → never) and the checkbox input#notify;
//   - table#sltbl, one tr per member, with the cells td.hostname, td.host (the IP
//     address WHM keys the member by, and the value every action's server= takes),
//     td.user, td.module, td.serverstatus, td.dnsserver and td.role (the selected
//     option of select[name=dnsrole]); or, with no members, the heading "There are
//     currently no servers in your DNS cluster.".
//
// td.serverstatus is one branch of the template's IF/ELSIF chain; each branch is a
// memberState. Markup the parser does not recognise is an error, not a guess: a
// status page it misreads would plan changes against a cluster it does not see.

// clusterStatus is what the screen shows.
type clusterStatus struct {
	Enabled       bool
	EnabledKnown  bool
	Threshold     schema.Threshold
	ThresholdRead bool
	Notify        bool
	NotifyKnown   bool
	Members       []clusterMember
}

// memberState is the branch of td.serverstatus the template rendered.
type memberState int

const (
	stateActive         memberState = iota // version and the green "Server Active" icon
	stateAutoDisabled                      // "Disabled due to connection failures." (the -down file)
	stateError                             // server.error: "Could not communicate with remote API server."
	stateBadPrivs                          // the stored token lacks the clustering ACL
	stateDNSDown                           // "DNS server may be down."
	stateDNSUnmonitored                    // named not monitored, state unknown
	stateDNSSEC                            // a DNSSEC coordinator's warnings
	stateNeedsTrust                        // sync/standalone member without reverse trust
	stateNoStatus                          // the chain matched nothing: an empty cell
)

var stateNames = map[memberState]string{
	stateActive: "active", stateAutoDisabled: "disabled due to connection failures", stateError: "unreachable",
	stateBadPrivs: "token lacks the clustering ACL", stateDNSDown: "DNS server may be down",
	stateDNSUnmonitored: "DNS server not monitored", stateDNSSEC: "DNSSEC warning",
	stateNeedsTrust: "needs reverse trust", stateNoStatus: "no status",
}

func (s memberState) String() string { return stateNames[s] }

type clusterMember struct {
	Hostname string // td.hostname ("unknown" when WHM knows only the address)
	IP       string // td.host: the member's key
	User     string
	Module   string
	Role     string
	State    memberState
	Detail   string // the status cell's text
	// DNSOff: td.dnsserver reads "disabled": the member's own DNS server is switched
	// off. WHM still sends it commands; it is not an auto-disabled member.
	DNSOff bool
}

// Disabled is WHM's auto-disable, the only state `tether dns enable` undoes.
func (m clusterMember) Disabled() bool { return m.State == stateAutoDisabled }

// statusTexts are the fixed texts of td.serverstatus (locale en), by branch.
var statusTexts = []struct {
	prefix string
	state  memberState
}{
	{"Disabled due to connection failures.", stateAutoDisabled},
	{"API key used has insufficient ACLs.", stateBadPrivs},
	{"DNS server may be down.", stateDNSDown},
	{"The DNS server’s status is unknown because the service isn’t monitored.", stateDNSUnmonitored},
	{"Requires cPanel update to support DNSSEC.", stateDNSSEC},
	{"Requires PowerDNS to support DNSSEC.", stateDNSSEC},
	{"Server needs reverse trust set up to auto-propagate DNS updates.", stateNeedsTrust},
}

var errUnrecognised = errors.New("not the DNS cluster status page of cPanel & WHM (clusterstatus.tmpl)")

func parseClusterStatus(r io.Reader) (*clusterStatus, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("cluster status page: %w", err)
	}
	st := &clusterStatus{}
	flavor := find(doc, func(n *html.Node) bool { return hasClass(n, "clusteringstatus") })
	if flavor == nil {
		return nil, fmt.Errorf("cluster status page: no div.clusteringstatus: %w", errUnrecognised)
	}
	switch t := textOf(flavor); t {
	case "DNS clustering is enabled.":
		st.Enabled, st.EnabledKnown = true, true
	case "DNS clustering is disabled.":
		st.EnabledKnown = true
	default:
		return nil, fmt.Errorf("cluster status page: clustering status %q: %w", t, errUnrecognised)
	}
	if opts := find(doc, func(n *html.Node) bool { return isElem(n, "form") && attr(n, "id") == "cluster_opts_form" }); opts != nil {
		if err := readOptions(opts, st); err != nil {
			return nil, fmt.Errorf("cluster status page: %w", err)
		}
	} else if st.Enabled {
		return nil, fmt.Errorf("cluster status page: clustering is on but form#cluster_opts_form is missing: %w", errUnrecognised)
	}
	if !st.Enabled {
		// The template lists members only when clustering is on.
		return st, nil
	}
	table := find(doc, func(n *html.Node) bool { return isElem(n, "table") && attr(n, "id") == "sltbl" })
	if table == nil {
		empty := find(doc, func(n *html.Node) bool {
			return isElem(n, "h2") && textOf(n) == "There are currently no servers in your DNS cluster."
		})
		if empty == nil {
			return nil, fmt.Errorf("cluster status page: neither table#sltbl nor the no-servers heading: %w", errUnrecognised)
		}
		return st, nil
	}
	var rowErr error
	each(table, func(n *html.Node) bool { return isElem(n, "tr") && n.Parent != nil && isElem(n.Parent, "tbody") }, func(tr *html.Node) {
		if rowErr != nil {
			return
		}
		m, err := memberRow(tr)
		if err != nil {
			rowErr = err
			return
		}
		st.Members = append(st.Members, m)
	})
	if rowErr != nil {
		return nil, fmt.Errorf("cluster status page: %w", rowErr)
	}
	return st, nil
}

func readOptions(form *html.Node, st *clusterStatus) error {
	var control, custom string
	notify := false
	each(form, func(n *html.Node) bool { return isElem(n, "input") }, func(n *html.Node) {
		switch attr(n, "name") {
		case "autodisablethreshold_control":
			if hasAttr(n, "checked") {
				control = attr(n, "value")
			}
		case "autodisablethreshold":
			custom = attr(n, "value")
		case "cluster_failure_notifications":
			notify = hasAttr(n, "checked")
		}
	})
	switch control {
	case "default":
		st.Threshold = schema.Threshold{N: schema.DefaultThreshold}
	case "disabled":
		st.Threshold = schema.Threshold{Never: true}
	case "custom":
		n, err := strconv.Atoi(strings.TrimSpace(custom))
		if err != nil || n <= 0 {
			return fmt.Errorf("failure threshold %q: %w", custom, errUnrecognised)
		}
		st.Threshold = schema.Threshold{N: n}
	default:
		return fmt.Errorf("no checked autodisablethreshold_control (got %q): %w", control, errUnrecognised)
	}
	st.ThresholdRead = true
	st.Notify, st.NotifyKnown = notify, true
	return nil
}

var versionLike = regexp.MustCompile(`^\d+(\.\d+)*$`)

// memberRow reads one tr of table#sltbl.
func memberRow(tr *html.Node) (clusterMember, error) {
	cells := map[string]*html.Node{}
	for td := tr.FirstChild; td != nil; td = td.NextSibling {
		if isElem(td, "td") {
			for _, c := range strings.Fields(attr(td, "class")) {
				cells[c] = td
			}
		}
	}
	for _, need := range []string{"hostname", "host", "user", "module", "serverstatus", "dnsserver", "role"} {
		if cells[need] == nil {
			return clusterMember{}, fmt.Errorf("member row %q has no td.%s: %w", attr(tr, "id"), need, errUnrecognised)
		}
	}
	m := clusterMember{
		Hostname: textOf(cells["hostname"]), IP: textOf(cells["host"]), User: textOf(cells["user"]),
		Module: textOf(cells["module"]),
	}
	if m.IP == "" {
		return m, fmt.Errorf("member row %q: empty td.host: %w", attr(tr, "id"), errUnrecognised)
	}
	// An inherited member (a reseller's view) shows its role as text, not a select.
	role := selectedOption(cells["role"])
	if role == "" && find(cells["role"], func(n *html.Node) bool { return isElem(n, "select") }) != nil {
		role = schema.DNSRoleStandalone // _dnsroles.tmpl selects the first role when none is set
	}
	if role == "" {
		role = textOf(cells["role"])
	}
	if !isRole(role) {
		return m, fmt.Errorf("member %s: role %q: %w", m.IP, role, errUnrecognised)
	}
	m.Role = role
	m.DNSOff = textOf(cells["dnsserver"]) == "disabled"
	state, detail, err := serverStatus(cells["serverstatus"])
	if err != nil {
		return m, fmt.Errorf("member %s: %w", m.IP, err)
	}
	m.State, m.Detail = state, detail
	return m, nil
}

// serverStatus names the branch of td.serverstatus from its fixed text and icon.
func serverStatus(td *html.Node) (memberState, string, error) {
	text := textOf(td)
	if text == "" {
		return stateNoStatus, "", nil
	}
	for _, s := range statusTexts {
		if strings.HasPrefix(text, s.prefix) {
			return s.state, text, nil
		}
	}
	var alt string
	if img := find(td, func(n *html.Node) bool { return isElem(n, "img") }); img != nil {
		alt = attr(img, "alt")
	}
	switch {
	case alt == "Server Error":
		return stateError, text, nil // server.error, filtered through html
	case alt == "Server Active" && versionLike.MatchString(text):
		return stateActive, text, nil
	}
	return 0, text, fmt.Errorf("status cell %q (icon %q): %w", text, alt, errUnrecognised)
}

func isRole(s string) bool {
	switch s {
	case schema.DNSRoleStandalone, schema.DNSRoleSync, schema.DNSRoleWriteOnly:
		return true
	}
	return false
}

func isElem(n *html.Node, tag string) bool { return n.Type == html.ElementNode && n.Data == tag }

func hasClass(n *html.Node, class string) bool {
	return n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// find returns the first node under n (n included) that matches.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

// each calls fn on every node under n that matches, in document order.
func each(n *html.Node, match func(*html.Node) bool, fn func(*html.Node)) {
	if match(n) {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		each(c, match, fn)
	}
}

// selectedOption returns the value of the selected <option> inside n, if any.
func selectedOption(n *html.Node) string {
	o := find(n, func(x *html.Node) bool { return isElem(x, "option") && hasAttr(x, "selected") })
	if o == nil {
		return ""
	}
	return attr(o, "value")
}

// textOf returns the text of n without the text of <option> and <script> elements:
// a role select lists every role, which is not what the cell says.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if x.Type == html.ElementNode && (x.Data == "option" || x.Data == "script" || x.Data == "style") {
			return
		}
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// cgiOutcome reads the answer of a cluster action: WHM's CGIs print one div.okmsg or
// div.errormsg (Whostmgr/DNS/Cluster/UI.pm render_success_message and
// fatal_error_and_exit; activate_remote_nameservers.cgi and changeclusterdns.cgi
// print their own), and div.warningmsg for notices. A page with neither is not a
// cluster screen's answer: an error.
func cgiOutcome(body string) (ok string, warnings []string, err error) {
	doc, perr := html.Parse(strings.NewReader(body))
	if perr != nil {
		return "", nil, fmt.Errorf("unreadable answer: %w", perr)
	}
	var failure string
	var failed, succeeded bool
	each(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }, func(n *html.Node) {
		switch {
		case hasClass(n, "errormsg") && !failed:
			failed, failure = true, textOf(n)
		case hasClass(n, "okmsg") && !succeeded:
			succeeded, ok = true, textOf(n)
		case hasClass(n, "warningmsg"):
			warnings = append(warnings, textOf(n))
		}
	})
	switch {
	case failed:
		if failure == "" {
			failure = "refused (no message)"
		}
		return "", warnings, errors.New(failure)
	case !succeeded:
		return "", warnings, fmt.Errorf("the answer has neither div.okmsg nor div.errormsg: %w", errUnrecognised)
	}
	return ok, warnings, nil
}
