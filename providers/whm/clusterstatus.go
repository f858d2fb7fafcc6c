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
// administrator sees. Its markup is not documented (the template lives in the absent
// dnsadmin/cpsrvd parts of the source dump), so this parser reads it the way a person
// does, relying on the form controls the cluster CGIs themselves take as input:
//
//   - cluster on/off: the radio input name="clusterdns" that is checked (value 1/0),
//     else the words "clustering is enabled/disabled";
//   - threshold: input name="autodisablethreshold" (its value) and the checked radio
//     name="autodisablethreshold_control" (default → 10, disabled → never);
//   - notifications: checkbox name="cluster_failure_notifications" checked;
//   - members: each table row naming a member, by data-host / data-dnsrole /
//     data-disabled attributes when present, else by its cells: the host (the first
//     cell that looks like a host name or address), the role (the selected option of
//     the row's dnsrole select, or a cell reading standalone/sync/write-only) and
//     whether it is disabled (a cell or class saying disabled/down/offline).
//
// Everything it cannot read stays at its zero value; read-back after each change
// catches a format it misreads, loudly, rather than silently.

// clusterStatus is what the screen shows.
type clusterStatus struct {
	Enabled       bool
	EnabledKnown  bool
	Threshold     schema.Threshold
	Notify        bool
	NotifyKnown   bool
	Members       []clusterMember
	ThresholdRead bool
	// fromAttrs: the threshold came from data-threshold, which beats the controls.
	fromAttrs bool
}

type clusterMember struct {
	Host     string
	Role     string
	Module   string
	Disabled bool
}

var hostLike = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{1,63}\.?$|^\d{1,3}(?:\.\d{1,3}){3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$`)

func parseClusterStatus(r io.Reader) (*clusterStatus, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("cluster status page: %w", err)
	}
	st := &clusterStatus{}
	var thresholdValue string
	var control string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "div":
				if attr(n, "id") == "clusterstatus" {
					statusAttrs(n, st, &thresholdValue, &control)
				}
			case "input":
				name, typ := attr(n, "name"), strings.ToLower(attr(n, "type"))
				checked := hasAttr(n, "checked")
				switch {
				case st.EnabledKnown && name == "clusterdns":
					// Already known from the page's data attributes.
				case name == "clusterdns" && (typ == "radio" || typ == "checkbox") && checked:
					st.Enabled, st.EnabledKnown = attr(n, "value") == "1", true
				case name == "clusterdns" && typ == "hidden":
					st.Enabled, st.EnabledKnown = attr(n, "value") == "1", true
				case name == "autodisablethreshold" && typ != "radio" && !st.fromAttrs:
					thresholdValue = attr(n, "value")
				case name == "autodisablethreshold_control" && checked && !st.fromAttrs:
					control = attr(n, "value")
				case name == "cluster_failure_notifications" && st.NotifyKnown:
				case name == "cluster_failure_notifications":
					switch typ {
					case "checkbox":
						st.Notify, st.NotifyKnown = checked, true
					case "radio":
						if checked {
							st.Notify, st.NotifyKnown = attr(n, "value") == "1", true
						}
					default:
						st.Notify, st.NotifyKnown = attr(n, "value") == "1", true
					}
				}
			case "tr":
				if m, ok := memberRow(n); ok {
					st.Members = append(st.Members, m)
				}
				return
			}
		}
		if n.Type == html.TextNode && !st.EnabledKnown {
			t := strings.ToLower(n.Data)
			switch {
			case strings.Contains(t, "clustering is enabled"):
				st.Enabled, st.EnabledKnown = true, true
			case strings.Contains(t, "clustering is disabled"):
				st.Enabled, st.EnabledKnown = false, true
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	switch control {
	case "disabled":
		st.Threshold, st.ThresholdRead = schema.Threshold{Never: true}, true
	case "default":
		st.Threshold, st.ThresholdRead = schema.Threshold{N: schema.DefaultThreshold}, true
	}
	if !st.ThresholdRead && thresholdValue != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(thresholdValue)); err == nil {
			if n == 0 {
				st.Threshold = schema.Threshold{Never: true}
			} else {
				st.Threshold = schema.Threshold{N: n}
			}
			st.ThresholdRead = true
		}
	}
	return st, nil
}

// statusAttrs reads the data attributes the sandbox puts on div#clusterstatus
// (internal/sandbox/dnscluster/UNCONFIRMED.md); they win over the form controls.
func statusAttrs(n *html.Node, st *clusterStatus, threshold, control *string) {
	if v := attr(n, "data-enabled"); v != "" {
		st.Enabled, st.EnabledKnown = v == "1", true
	}
	if v := attr(n, "data-notify"); v != "" {
		st.Notify, st.NotifyKnown = v == "1", true
	}
	if v := attr(n, "data-threshold"); v != "" {
		*threshold, *control = v, ""
		st.fromAttrs = true
	}
}

// memberRow reads one table row as a cluster member, if it is one.
func memberRow(tr *html.Node) (clusterMember, bool) {
	m := clusterMember{Host: attr(tr, "data-host"), Role: attr(tr, "data-role"), Module: attr(tr, "data-module")}
	if m.Role == "" {
		m.Role = attr(tr, "data-dnsrole")
	}
	if d := attr(tr, "data-disabled"); d != "" {
		m.Disabled = d == "1" || strings.EqualFold(d, "true")
	}
	cls := strings.ToLower(attr(tr, "class"))
	if strings.Contains(cls, "disabled") || strings.Contains(cls, "down") {
		m.Disabled = true
	}
	var cells []*html.Node
	for ch := tr.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type == html.ElementNode && (ch.Data == "td" || ch.Data == "th") {
			if ch.Data == "th" && m.Host == "" {
				// A header row, not a member.
				return m, false
			}
			cells = append(cells, ch)
		}
	}
	for _, td := range cells {
		if r := selectedOption(td); r != "" && m.Role == "" && isRole(r) {
			m.Role = r
		}
		text := strings.TrimSpace(textOf(td))
		low := strings.ToLower(text)
		switch {
		case m.Host == "" && hostLike.MatchString(text):
			m.Host = text
		case m.Role == "" && isRole(low):
			m.Role = low
		case m.Module == "" && (low == "cpanel" || low == "softlayer" || low == "vps.net"):
			m.Module = text
		case low == "disabled" || low == "down" || low == "offline" || strings.Contains(low, "auto-disabled"):
			m.Disabled = true
		}
		tcls := strings.ToLower(attr(td, "class"))
		if strings.Contains(tcls, "disabled") || strings.Contains(tcls, "down") {
			m.Disabled = true
		}
	}
	if m.Host == "" || m.Role == "" {
		return m, false
	}
	if m.Module == "" {
		m.Module = "cPanel"
	}
	return m, true
}

func isRole(s string) bool {
	switch s {
	case schema.DNSRoleStandalone, schema.DNSRoleSync, schema.DNSRoleWriteOnly:
		return true
	}
	return false
}

// selectedOption returns the value of the selected <option> inside n, if any.
func selectedOption(n *html.Node) string {
	var found string
	var walk func(*html.Node)
	walk = func(x *html.Node) {
		if found != "" {
			return
		}
		if x.Type == html.ElementNode && x.Data == "option" && hasAttr(x, "selected") {
			found = attr(x, "value")
			if found == "" {
				found = strings.TrimSpace(textOf(x))
			}
			found = strings.ToLower(found)
			return
		}
		for ch := x.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return found
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

// cgiOutcome reads the answer of a cluster action: WHM's CGIs print exactly one
// div.okmsg or div.errormsg (confirmed in the 11.120 sources), and div.warningmsg for
// a side step that failed. A page with neither is taken as done; read-back decides.
func cgiOutcome(body string) (warnings []string, err error) {
	doc, perr := html.Parse(strings.NewReader(body))
	if perr != nil {
		return nil, fmt.Errorf("unreadable answer: %w", perr)
	}
	var failure string
	var failed bool
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, cls := range strings.Fields(attr(n, "class")) {
				switch cls {
				case "errormsg":
					if !failed {
						failed, failure = true, textOf(n)
					}
				case "warningmsg":
					warnings = append(warnings, textOf(n))
				}
			}
			if attr(n, "id") == "activateNameserverFailed" && !failed {
				failed, failure = true, textOf(n)
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	if failed {
		if failure == "" {
			failure = "refused (no message)"
		}
		return warnings, errors.New(failure)
	}
	return warnings, nil
}
