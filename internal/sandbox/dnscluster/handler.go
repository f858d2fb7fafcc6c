package dnscluster

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// Paths of the WHM screens the handler answers.
const (
	PathAdjustClusterDNS     = "/cgi/adjustclusterdns.cgi"
	PathActivateRemote       = "/cgi/activate_remote_nameservers.cgi"
	PathChangeClusterDNS     = "/cgi/changeclusterdns.cgi"
	PathRemClusterServer     = "/cgi/remclusterserver.cgi"
	PathEnableClusterServer  = "/cgi/enableclusterserver.cgi"
	PathAdjustClusterOptions = "/cgi/adjustclusteroptions.cgi"
	PathClusterStatus        = "/scripts7/clusterstatus"
)

// Paths lists every path Handler answers, for the sandbox's mux.
var Paths = []string{PathAdjustClusterDNS, PathActivateRemote, PathChangeClusterDNS,
	PathRemClusterServer, PathEnableClusterServer, PathAdjustClusterOptions, PathClusterStatus}

// maxForm bounds a form body; WHM's screens post a handful of short fields.
const maxForm = 64 << 10

// Hooks connect the cluster screens to the rest of the simulated server. Every hook
// may be nil.
type Hooks struct {
	// Verify checks that host, user and token reach a WHM that accepts them, as WHM
	// does before it saves a member. An error refuses the member.
	Verify func(ctx context.Context, m Member) error
	// ReverseTrust runs when "Setup Reverse Trust Relationship" (recurse=on) is
	// ticked: the remote adds this server to its own cluster as standalone. A
	// failure is reported as a warning; the member stays configured.
	ReverseTrust func(ctx context.Context, m Member) error
	// SyncZones runs when synczones=on: push every local zone to the new member.
	SyncZones func(ctx context.Context, m Member) error
	// Changed is called with the new config after every change, to persist it.
	Changed func(Config)
}

// Handler answers the DNS cluster screens of one server. auth decides whether a
// request may use them (a root session or a WHM API token with the clustering ACL);
// refused requests get HTTP 401. Every answer is an HTML page; see UNCONFIRMED.md for
// the markup a client can rely on.
func Handler(g *Guarded, auth func(*http.Request) bool, hooks Hooks) http.Handler {
	h := &handler{g: g, auth: auth, hooks: hooks}
	mux := http.NewServeMux()
	mux.HandleFunc(PathAdjustClusterDNS, h.wrap(h.adjustClusterDNS))
	mux.HandleFunc(PathActivateRemote, h.wrap(h.activateRemote))
	mux.HandleFunc(PathChangeClusterDNS, h.wrap(h.changeClusterDNS))
	mux.HandleFunc(PathRemClusterServer, h.wrap(h.remClusterServer))
	mux.HandleFunc(PathEnableClusterServer, h.wrap(h.enableClusterServer))
	mux.HandleFunc(PathAdjustClusterOptions, h.wrap(h.adjustClusterOptions))
	mux.HandleFunc(PathClusterStatus, h.clusterStatus)
	return mux
}

type handler struct {
	g     *Guarded
	auth  func(*http.Request) bool
	hooks Hooks
}

// page is what an action screen says: one okmsg or errormsg, optional warnings.
type page struct {
	ok       bool
	id       string // the div's id, where WHM gives one
	message  string
	warnings []string
}

// errPage makes a refusal; the config is not changed.
type errPage struct{ msg string }

func (e errPage) Error() string { return e.msg }

func (h *handler) wrap(fn func(r *http.Request) page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.allowed(w, r) {
			return
		}
		writePage(w, fn(r))
	}
}

func (h *handler) allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return false
	}
	if h.auth != nil && !h.auth(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, htmlHead+`<div class="errormsg" id="accessDenied">Access denied</div>`+htmlFoot)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writePage(w, page{message: "The request is too large."})
		} else {
			writePage(w, page{message: "The form could not be read."})
		}
		return false
	}
	return true
}

const htmlHead = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>WHM - DNS Cluster</title></head>\n<body>\n"
const htmlFoot = "\n</body></html>\n"

func writePage(w http.ResponseWriter, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(htmlHead)
	class, status := "errormsg", "error"
	if p.ok {
		class, status = "okmsg", "ok"
	}
	id := ""
	if p.id != "" {
		id = ` id="` + html.EscapeString(p.id) + `"`
	}
	fmt.Fprintf(&b, `<div class="%s"%s data-status="%s">%s</div>`, class, id, status, lines(p.message))
	for _, wmsg := range p.warnings {
		fmt.Fprintf(&b, "\n"+`<div class="warningmsg">%s</div>`, lines(wmsg))
	}
	b.WriteString("\n" + `<p><a href="` + PathClusterStatus + `">Return to Cluster Status</a></p>`)
	b.WriteString(htmlFoot)
	_, _ = w.Write([]byte(b.String()))
}

// lines escapes s and turns newlines into <br />, as WHM's screens do.
func lines(s string) string {
	return strings.Join(strings.Split(html.EscapeString(s), "\n"), "<br />")
}

// change runs fn on the config and reports the new config to the Changed hook.
func (h *handler) change(fn func(*Config) error) error {
	var after Config
	err := h.g.Update(func(c *Config) error {
		if err := fn(c); err != nil {
			return err
		}
		after = c.Clone()
		return nil
	})
	if err == nil && h.hooks.Changed != nil {
		h.hooks.Changed(after)
	}
	return err
}

// server reads the "server" field the way WHM's screens clean it.
func server(r *http.Request) string {
	s := strings.TrimSpace(r.Form.Get("server"))
	s = strings.ReplaceAll(s, "/", "")
	return strings.ReplaceAll(s, "..", "")
}

func truthy(v string) bool {
	v = strings.TrimSpace(strings.ToLower(v))
	return v != "" && v != "0" && v != "off" && v != "false" && v != "no"
}

func (h *handler) adjustClusterDNS(r *http.Request) page {
	on := truthy(r.Form.Get("clusterdns"))
	_ = h.change(func(c *Config) error { c.Enabled = on; return nil })
	return page{ok: true, message: "Your changes have been saved."}
}

func (h *handler) activateRemote(r *http.Request) page {
	fail := func(msg string) page { return page{id: "activateNameserverFailed", message: msg} }
	module := strings.TrimSuffix(strings.ReplaceAll(r.Form.Get("module"), "/", ""), ".yaml")
	if module != ModuleCPanel {
		return fail(fmt.Sprintf("The DNS cluster module “%s” is not available. Use “%s”.", module, ModuleCPanel))
	}
	m := Member{
		Host:   strings.ToLower(strings.TrimSpace(r.Form.Get("host"))),
		User:   strings.TrimSpace(r.Form.Get("user")),
		Token:  strings.TrimSpace(r.Form.Get("pass")),
		Role:   strings.TrimSpace(r.Form.Get("dnsrole")),
		Module: ModuleCPanel,
		Debug:  truthy(r.Form.Get("debug")),
	}
	switch {
	case m.Host == "" || strings.ContainsAny(m.Host, "/ \t") || strings.Contains(m.Host, ".."):
		return fail("You must specify a valid remote host.")
	case m.User == "":
		return fail("You must specify the remote server username.")
	case m.Token == "":
		return fail("You must specify the remote server API token.")
	}
	if m.Role == "" {
		m.Role = RoleStandalone
	}
	if !ValidRole(m.Role) {
		return fail(fmt.Sprintf("“%s” is not a valid DNS role. Use standalone, sync or write-only.", m.Role))
	}
	if h.hooks.Verify != nil {
		if err := h.hooks.Verify(r.Context(), m); err != nil {
			return fail(redact(fmt.Sprintf("The remote server %s did not accept the connection: %v", m.Host, err), m.Token))
		}
	}
	_ = h.change(func(c *Config) error {
		if old, ok := c.Members[m.Host]; ok {
			// Editing a member rewrites its configuration, not its down state.
			m.Disabled, m.Failures = old.Disabled, old.Failures
		}
		cp := m
		c.Members[m.Host] = &cp
		return nil
	})
	p := page{ok: true, id: "activateNameserverSucceeded",
		message: fmt.Sprintf("The trust relationship with “%s” has been established.\nThe DNS role of “%s” is “%s”.", m.Host, m.Host, m.Role)}
	if truthy(r.Form.Get("recurse")) && h.hooks.ReverseTrust != nil {
		if err := h.hooks.ReverseTrust(r.Context(), m); err != nil {
			p.warnings = append(p.warnings, redact(fmt.Sprintf("The reverse trust relationship with “%s” could not be established: %v", m.Host, err), m.Token))
		} else {
			p.message += fmt.Sprintf("\nThe reverse trust relationship with “%s” has been established.", m.Host)
		}
	}
	if truthy(r.Form.Get("synczones")) && h.hooks.SyncZones != nil {
		if err := h.hooks.SyncZones(r.Context(), m); err != nil {
			p.warnings = append(p.warnings, redact(fmt.Sprintf("The zones could not be synchronized to “%s”: %v", m.Host, err), m.Token))
		} else {
			p.message += fmt.Sprintf("\nThe zones have been synchronized to “%s”.", m.Host)
		}
	}
	return p
}

func (h *handler) changeClusterDNS(r *http.Request) page {
	host, role := server(r), strings.TrimSpace(r.Form.Get("dnsrole"))
	if host == "" {
		return page{message: "Server Not Specified"}
	}
	if !ValidRole(role) {
		return page{message: fmt.Sprintf("“%s” is not a valid DNS role. Use standalone, sync or write-only.", role)}
	}
	err := h.change(func(c *Config) error {
		m, ok := c.Members[host]
		if !ok {
			return errPage{fmt.Sprintf("%s does not appear to be configured as a member of the cluster.", host)}
		}
		m.Role = role
		return nil
	})
	if err != nil {
		return page{message: err.Error()}
	}
	return page{ok: true, message: fmt.Sprintf("The DNS role for “%s” is now “%s”.", host, role)}
}

func (h *handler) remClusterServer(r *http.Request) page {
	host := server(r)
	if host == "" {
		return page{message: "Server Not Specified"}
	}
	// WHM unlinks the member's files without checking they exist, so removing an
	// unknown server succeeds too.
	_ = h.change(func(c *Config) error { delete(c.Members, host); return nil })
	return page{ok: true, message: "Server removed from cluster."}
}

func (h *handler) enableClusterServer(r *http.Request) page {
	host := server(r)
	if host == "" {
		return page{message: "Server Not Specified"}
	}
	if err := h.change(func(c *Config) error { return c.Enable(host) }); err != nil {
		return page{message: err.Error()}
	}
	return page{ok: true, message: host + " is now enabled."}
}

func (h *handler) adjustClusterOptions(r *http.Request) page {
	var threshold int
	switch ctl := r.Form.Get("autodisablethreshold_control"); ctl {
	case "default":
		threshold = DefaultThreshold
	case "disabled":
		threshold = 0
	default:
		if !r.Form.Has("autodisablethreshold") {
			return page{message: "Missing failure threshold setting."}
		}
		threshold = perlInt(r.Form.Get("autodisablethreshold"))
		if threshold < 0 {
			threshold = 0
		}
	}
	notify := r.Form.Get("cluster_failure_notifications") == "1"
	_ = h.change(func(c *Config) error { c.Threshold, c.Notify = threshold, notify; return nil })
	return page{ok: true, message: "Your changes have been saved."}
}

// perlInt converts like Perl's int() on a form value: the leading integer, 0 when
// there is none ("abc", ""), clamped to the int32 range.
func perlInt(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return 0
	}
	// Out of range, ParseInt returns the clamped bound with its error: keep it.
	n, _ := strconv.ParseInt(s[:end], 10, 32)
	return int(n)
}

func (h *handler) clusterStatus(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	cfg := h.g.Snapshot()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(htmlHead)
	b.WriteString(renderStatus(cfg))
	b.WriteString(htmlFoot)
	_, _ = w.Write([]byte(b.String()))
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// renderStatus is the cluster status page body. Its data-* attributes are the
// contract a client parses (UNCONFIRMED.md); the visible text is for people.
func renderStatus(cfg Config) string {
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, `<div id="clusterstatus" data-enabled="%s" data-threshold="%d" data-notify="%s">`+"\n",
		bit(cfg.Enabled), cfg.Threshold, bit(cfg.Notify))
	b.WriteString("<h2>Modify Cluster Status</h2>\n<form action=\"" + PathAdjustClusterDNS + "\" method=\"post\">\n")
	fmt.Fprintf(&b, `<label><input type="radio" name="clusterdns" value="1"%s> Enable DNS clustering</label>`+"\n", checked(cfg.Enabled))
	fmt.Fprintf(&b, `<label><input type="radio" name="clusterdns" value="0"%s> Disable DNS clustering</label>`+"\n", checked(!cfg.Enabled))
	b.WriteString("<input type=\"submit\" value=\"Change\">\n</form>\n")
	b.WriteString("<h2>Global Cluster Options</h2>\n<form action=\"" + PathAdjustClusterOptions + "\" method=\"post\">\n")
	fmt.Fprintf(&b, `<label><input type="radio" name="autodisablethreshold_control" value="default"%s> %d (Default)</label>`+"\n", checked(cfg.Threshold == DefaultThreshold), DefaultThreshold)
	fmt.Fprintf(&b, `<label><input type="radio" name="autodisablethreshold_control" value="custom"%s> <input type="text" name="autodisablethreshold" value="%d"></label>`+"\n", checked(cfg.Threshold != DefaultThreshold && cfg.Threshold != 0), cfg.Threshold)
	fmt.Fprintf(&b, `<label><input type="radio" name="autodisablethreshold_control" value="disabled"%s> Keep all cluster members online at all times</label>`+"\n", checked(cfg.Threshold == 0))
	fmt.Fprintf(&b, `<label><input type="checkbox" name="cluster_failure_notifications" value="1"%s> Receive a notification when WHM disables an unresponsive cluster member</label>`+"\n", checked(cfg.Notify))
	b.WriteString("<input type=\"submit\" value=\"Change\">\n</form>\n")
	b.WriteString("<h2>Servers in your DNS cluster</h2>\n<table id=\"clusterservers\">\n")
	b.WriteString("<thead><tr><th>Hostname</th><th>Username</th><th>Type</th><th>DNS role</th><th>Status</th></tr></thead>\n<tbody>\n")
	for _, host := range cfg.Hosts() {
		m := cfg.Members[host]
		status := "online"
		if m.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(&b, `<tr class="clusterserver" data-host="%s" data-user="%s" data-module="%s" data-role="%s" data-disabled="%s" data-failures="%d">`,
			e(m.Host), e(m.User), e(m.Module), e(m.Role), bit(m.Disabled), m.Failures)
		fmt.Fprintf(&b, `<td class="host">%s</td><td class="user">%s</td><td class="module">%s</td><td class="dnsrole">%s</td><td class="status">%s</td></tr>`+"\n",
			e(m.Host), e(m.User), e(m.Module), e(m.Role), status)
	}
	b.WriteString("</tbody>\n</table>\n</div>")
	return b.String()
}

func checked(b bool) string {
	if b {
		return " checked"
	}
	return ""
}

// redact keeps a member's token out of a page even when a hook's error quotes it.
func redact(msg, token string) string {
	if token == "" {
		return msg
	}
	return strings.ReplaceAll(msg, token, "[redacted]")
}
