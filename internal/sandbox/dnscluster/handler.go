package dnscluster

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Paths of the WHM screens the handler answers. Each is a CGI of cPanel & WHM 11.120
// (whostmgr/docroot/cgi/NAME), except the status page, which
// Whostmgr/DNS/Cluster/UI/Clusterstatus.pm renders from
// whostmgr/docroot/templates/clusterstatus.tmpl.
const (
	PathAdjustClusterDNS     = "/cgi/adjustclusterdns.cgi"
	PathActivateRemote       = "/cgi/activate_remote_nameservers.cgi"
	PathChangeClusterDNS     = "/cgi/changeclusterdns.cgi"
	PathRemClusterServer     = "/cgi/remclusterserver.cgi"
	PathEnableClusterServer  = "/cgi/enableclusterserver.cgi"
	PathAdjustClusterOptions = "/cgi/adjustclusteroptions.cgi"
	PathTrustClusterMaster   = "/cgi/trustclustermaster.cgi"
	PathClusterStatus        = "/scripts7/clusterstatus"
)

// Paths lists every path Handler answers, for the sandbox's mux.
var Paths = []string{PathAdjustClusterDNS, PathActivateRemote, PathChangeClusterDNS,
	PathRemClusterServer, PathEnableClusterServer, PathAdjustClusterOptions,
	PathTrustClusterMaster, PathClusterStatus}

// rootOnly are the screens Cpanel/AppConfig.pm registers with the ACL "all"
// (internal_dnsclustering_root); the others need "clustering"
// (internal_dns_clustering).
var rootOnly = []string{PathAdjustClusterDNS, PathAdjustClusterOptions}

// maxForm bounds a form body; WHM's screens post a handful of short fields.
const maxForm = 64 << 10

// ErrUnauthorized is what a Remote hook returns (wrapped) when the remote server
// refused the user and token with HTTP 401.
var ErrUnauthorized = errors.New("401 Access Denied")

// RemoteInfo is what this server learns from another WHM with a user and token:
// its version (showversion) and its host name (showhostname).
type RemoteInfo struct {
	Version  string
	Hostname string
}

// PeerState is what Cpanel/DNSLib/PeerStatus.pm getpeerstate learns about one member
// with the member's stored user and token (a batch of version, installed_versions,
// servicestatus named, and cluster_member_has_trust_with this server).
type PeerState struct {
	// Reached: the batch answered. When false the page says "Could not communicate
	// with remote API server." and nothing below is known.
	Reached bool
	// GoodPrivs: the token holds the privileges the batch needs.
	GoodPrivs bool
	Version   string // e.g. 11.120.0.5
	DNSServer string // "bind" or "powerdns"
	// The member's named service as servicestatus reports it.
	DNSEnabled, DNSRunning, DNSMonitored bool
	// HasTrust: 1 the member has this server in its own cluster, 0 not, -1 unknown
	// (a member older than 11.84).
	HasTrust int
}

// Identity is who a request authenticated as: the user and the ACLs of its token.
type Identity struct {
	User string
	ACLs []string
}

func (id Identity) has(acl string) bool {
	return slices.Contains(id.ACLs, "all") || slices.Contains(id.ACLs, acl)
}

// hasroot is Whostmgr::ACLS::hasroot: the "all" ACL.
func (id Identity) hasroot() bool { return slices.Contains(id.ACLs, "all") }

// Hooks connect the cluster screens to the rest of the simulated server. Every hook
// may be nil (nil Resolve resolves nothing, nil Remote reaches nothing).
type Hooks struct {
	// Resolve is gethostbyname: a host name to an IPv4 address.
	Resolve func(host string) (ip string, ok bool)
	// LocalIPs are this server's addresses (Cpanel::Ips::Fetch::fetchipslist): a
	// member with one of them would be a cyclic trust.
	LocalIPs func() []string
	// Remote asks the WHM at ip, with user and token, for its version and host name.
	Remote func(ctx context.Context, ip, user, token string) (RemoteInfo, error)
	// ReverseTrust is the "Setup Reverse Trust Relationship" step (recurse=on): this
	// server creates an API token with the clustering ACL and posts it to the
	// member's /cgi/trustclustermaster.cgi, which adds this server to the member's
	// cluster as standalone. An error becomes a notice; the member stays added.
	ReverseTrust func(ctx context.Context, m Member) error
	// SyncZones is the queued "synczones" task (synczones=on).
	SyncZones func(ctx context.Context, m Member)
	// Peer reads a member's state for the status page.
	Peer func(ctx context.Context, m Member) PeerState
	// Changed is called with the new config after every change, to persist it.
	Changed func(Config)
}

// Handler answers the DNS cluster screens of one server. auth authenticates a
// request (false: HTTP 401, as cpsrvd answers bad credentials); the screens then
// check ACLs as Cpanel/AppConfig.pm and the CGIs do. Every answer is an HTML page.
func Handler(g *Guarded, auth func(*http.Request) (Identity, bool), hooks Hooks) http.Handler {
	h := &handler{g: g, auth: auth, hooks: hooks}
	mux := http.NewServeMux()
	mux.HandleFunc(PathAdjustClusterDNS, h.wrap(h.adjustClusterDNS))
	mux.HandleFunc(PathActivateRemote, h.wrap(h.activateRemote))
	mux.HandleFunc(PathChangeClusterDNS, h.wrap(h.changeClusterDNS))
	mux.HandleFunc(PathRemClusterServer, h.wrap(h.remClusterServer))
	mux.HandleFunc(PathEnableClusterServer, h.wrap(h.enableClusterServer))
	mux.HandleFunc(PathAdjustClusterOptions, h.wrap(h.adjustClusterOptions))
	mux.HandleFunc(PathTrustClusterMaster, h.wrap(h.trustClusterMaster))
	mux.HandleFunc(PathClusterStatus, h.wrap(h.clusterStatus))
	return mux
}

type handler struct {
	g     *Guarded
	auth  func(*http.Request) (Identity, bool)
	hooks Hooks
}

// req is one screen request: the form and who sent it.
type req struct {
	r    *http.Request
	f    url.Values
	id   Identity
	user string // the validated cluster user
}

func (h *handler) wrap(fn func(q *req) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		id := Identity{User: "root", ACLs: []string{"all"}}
		if h.auth != nil {
			var ok bool
			if id, ok = h.auth(r); !ok {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, htmlHead+`<div class="errormsg"><h3>Access denied</h3></div>`+htmlFoot)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// init_app: every screen needs the clustering ACL; AppConfig asks "all" of the
		// root-only ones, which the CGIs check again with hasroot.
		if !id.has("clustering") || (slices.Contains(rootOnly, r.URL.Path) && !id.hasroot()) {
			_, _ = w.Write([]byte(htmlHead + fatal("Permission denied") + htmlFoot))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			msg := "The form could not be read."
			if errors.As(err, &tooBig) {
				msg = "The request is too large."
			}
			_, _ = w.Write([]byte(htmlHead + fatal(msg) + htmlFoot))
			return
		}
		q := &req{r: r, f: r.Form, id: id, user: clusterUser(id)}
		_, _ = w.Write([]byte(htmlHead + fn(q) + htmlFoot))
	}
}

// clusterUser is get_validated_cluster_user_from_formenv for the one cluster the
// sandbox models, root's: a reseller's cluster_user is not modelled, so every
// request works on root's cluster and the page links back with the caller's user.
func clusterUser(id Identity) string {
	if id.User != "" {
		return id.User
	}
	return "root"
}

const htmlHead = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>WHM - DNS Cluster Management</title></head>\n<body>\n"
const htmlFoot = "\n</body></html>\n"

// lines escapes s and joins its lines with <br />, as the CGIs do with
// join('<br />', split(/\n/, ...)): Perl's split drops trailing empty fields.
func lines(s string) string {
	parts := strings.Split(html.EscapeString(s), "\n")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, "<br />")
}

// ErrorPage is a whole screen answering msg as fatal_error_and_exit does: the
// sandbox's refusal fault uses it for a screen told to refuse.
func ErrorPage(msg string) string { return htmlHead + fatal(msg) + htmlFoot }

// fatal is Whostmgr::DNS::Cluster::UI::fatal_error_and_exit.
func fatal(msg string) string {
	return `<div class="errormsg"><h3>` + html.EscapeString(msg) + `</h3></div>`
}

// success is Whostmgr::DNS::Cluster::UI::render_success_message.
func success(msg string) string {
	return `<div class="okmsg"><h3>` + html.EscapeString(msg) + `</h3></div>`
}

// returnLink is Whostmgr::DNS::Cluster::UI::render_return_to_cluster_status.
func returnLink(user string) string {
	return `<div id="cluster_go_back"><br /><a href="` + PathClusterStatus + `?cluster_user=` +
		html.EscapeString(user) + `">Return to Cluster Status</a></div>`
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

// cleanServer is what remclusterserver, enableclusterserver and changeclusterdns do
// to the server field: s/\///g; s/\.\.//g.
func cleanServer(s string) string {
	s = strings.ReplaceAll(s, "/", "")
	return strings.ReplaceAll(s, "..", "")
}

// perlTrue is Perl truth of a form value: defined, not "" and not "0".
func perlTrue(v string) bool { return v != "" && v != "0" }

func (h *handler) adjustClusterDNS(q *req) string {
	on := perlTrue(q.f.Get("clusterdns"))
	_ = h.change(func(c *Config) error { c.Enabled = on; return nil })
	return success("Your changes have been saved.") + returnLink(q.user)
}

var (
	dottedQuad = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	accessKey  = [2]*regexp.Regexp{
		regexp.MustCompile(`^\s*-+BEGIN\s+WHM\s+ACCESS\s+KEY-+`),
		regexp.MustCompile(`-+END\s+WHM\s+ACCESS\s+KEY-+\s*$`),
	}
	ctrlChars = strings.NewReplacer("\r", "", "\n", "", "\f", "", "\x00", "")
)

// cleanHost is what setup and trustclustermaster.cgi do to a host: no slashes, no
// "..", no control characters, no surrounding space.
func cleanHost(s string) string {
	s = strings.ReplaceAll(s, "/", "")
	s = strings.ReplaceAll(s, "..", "")
	return strings.TrimSpace(ctrlChars.Replace(s))
}

func cleanPass(s string) string {
	s = ctrlChars.Replace(s)
	s = accessKey[0].ReplaceAllString(s, "")
	s = accessKey[1].ReplaceAllString(s, "")
	return strings.TrimSpace(s)
}

func (h *handler) resolve(host string) (string, bool) {
	if dottedQuad.MatchString(host) {
		return host, true
	}
	if h.hooks.Resolve == nil {
		return "", false
	}
	return h.hooks.Resolve(host)
}

func (h *handler) isLocal(ip string) bool {
	return h.hooks.LocalIPs != nil && slices.Contains(h.hooks.LocalIPs(), ip)
}

func (h *handler) remote(ctx context.Context, ip, user, token string) (RemoteInfo, error) {
	if h.hooks.Remote == nil {
		return RemoteInfo{}, errors.New("500 Can't connect to " + ip + ":2087")
	}
	return h.hooks.Remote(ctx, ip, user, token)
}

// setup is Cpanel::NameServer::Setup::Remote::cPanel::setup and _setup: it returns
// the status, the success message, notices and the member's address.
func (h *handler) setup(ctx context.Context, f url.Values, id Identity) (ok bool, msg, notices, ip string) {
	if !id.has("clustering") {
		return false, "User does not have the clustering ACL enabled.", "", ""
	}
	if !f.Has("user") {
		return false, "No user given", "", ""
	}
	if !f.Has("pass") {
		return false, "No API token given", "", ""
	}
	debug := perlTrue(f.Get("debug"))
	ip = cleanHost(f.Get("host"))
	hostname := ip
	if !dottedQuad.MatchString(ip) {
		resolved, found := h.resolve(ip)
		if !found {
			return false, "DNS Lookup Failed for " + ip, "", ""
		}
		ip = resolved
	}
	role := f.Get("dnsrole")
	if !ValidRole(role) {
		return false, fmt.Sprintf("Invalid dns role (%s) chosen", role), "", ""
	}
	user := strings.TrimSpace(ctrlChars.Replace(f.Get("user")))
	if user == "" {
		return false, "Invalid user given", "", ""
	}
	pass := cleanPass(f.Get("pass"))
	if pass == "" {
		return false, "Invalid API token given", "", ""
	}
	recurse := f.Get("recurse")
	if !f.Has("recurse") {
		recurse = "0"
	}
	// Without recurse the remote is not asked anything: its version is taken to be
	// 10.0.0 and a wrong token goes unnoticed (the source's comment: asking would loop
	// when the remote calls back with recurse=0).
	version := "10.0.0"
	var info RemoteInfo
	if recurse != "0" {
		var err error
		info, err = h.remote(ctx, ip, user, pass)
		switch {
		case errors.Is(err, ErrUnauthorized):
			return false, "The remote server did not accept the authentication information. Please verify the token and username and try again. The exact message was " + err.Error() + ". For more information check /usr/local/cpanel/logs/login_log on the remote server.", "", ""
		case err != nil:
			return false, "There was an error while processing your request: cPanel::PublicAPI returned [" + err.Error() + "]", "", ""
		}
		version = info.Version
	}
	if h.isLocal(ip) {
		return false, "The specified IP address would create a cyclic trust relationship: " + ip, "", ""
	}
	if recurse != "0" {
		if strings.ContainsAny(info.Hostname, "\r\n\x00") {
			return false, "The remote host returned an invalid hostname: [" + info.Hostname + "]", "", ""
		}
		hostname = info.Hostname
	}
	if major, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0]); major < 6 {
		return false, "This operation requires the remote server to be running WHM 6.0 or later. The server reported version " + version, "", ""
	}

	// _setup: write /var/cpanel/cluster/root/config/<IP>. The down state lives
	// elsewhere (/var/cpanel/clusterqueue/status/<IP>-down) and is kept.
	m := Member{Host: ip, Hostname: hostname, User: user, Token: pass, Module: ModuleCPanel, Debug: debug}
	_ = h.change(func(c *Config) error {
		if old, found := c.Members[ip]; found {
			m.Role, m.Disabled, m.Failures = old.Role, old.Disabled, old.Failures
		}
		cp := m
		c.Members[ip] = &cp
		return nil
	})
	msg = "The Trust Relationship has been established.\n" +
		"The remote server, " + hostname + ", is running WHM version: " + version + "\n"
	if strings.ToLower(recurse) == "on" {
		var err error
		if h.hooks.ReverseTrust == nil {
			err = errors.New("no reverse trust")
		} else {
			err = h.hooks.ReverseTrust(ctx, m)
		}
		if err == nil {
			msg += "The reverse trust relationship has been established from the remote server to this server as well.\n"
		} else {
			notices += "The reverse trust relationship could not be established from the remote server to this server.\n" +
				"You must log into the remote server and manually add this server using the “DNS Cluster” interface there if you want the other server to access this one.\n"
		}
	}
	if rok, rmsg := h.changeRole(ip, role); !rok {
		notices += rmsg + "\n"
	}
	if strings.ToLower(f.Get("synczones")) == "on" {
		cur := h.g.Snapshot().Members[ip]
		if cur == nil || cur.Role == "" {
			return false, ip + " not present in Peer List!  Cannot sync zones.", notices, ""
		}
		if h.hooks.SyncZones != nil {
			h.hooks.SyncZones(ctx, *cur)
		}
		msg += "Queued task to synchronize zones.\n"
	}
	return true, msg, notices, ip
}

var serverChars = regexp.MustCompile(`\A[A-Za-z0-9:.-]+\z`)

// changeRole is Cpanel::DNSLib::PeerConfig::change_dns_role for root's cluster. Its
// messages are the source's, two spaces and all.
func (h *handler) changeRole(server, role string) (bool, string) {
	if !serverChars.MatchString(server) {
		return false, "The server contains invalid characters.\n"
	}
	if !ValidRole(role) {
		return false, "The dnsrole is not valid.\n"
	}
	err := h.change(func(c *Config) error {
		m, found := c.Members[server]
		if (role == RoleSync || role == RoleWriteOnly) && !found {
			return errors.New("For security reasons, the root user must add this server into the cluster before it can be made to synchronize dns records.  To accomplish this you or the server administrator must login as root and add " + server + " to the cluster.")
		}
		if found {
			m.Role = role
			return nil
		}
		// A role file with no member: written all the same.
		if c.StrayRoles == nil {
			c.StrayRoles = map[string]string{}
		}
		c.StrayRoles[server] = role
		return nil
	})
	if err != nil {
		return false, err.Error()
	}
	return true, "The new role for " + server + " is " + role + "."
}

// activateRemote is activate_remote_nameservers.cgi: Whostmgr::DNS::Cluster
// configure_provider with the form.
func (h *handler) activateRemote(q *req) string {
	ok, msg, notices := h.configureProvider(q)
	var b strings.Builder
	if ok {
		b.WriteString(`<div class="okmsg" id="activateNameserverSucceeded">` + lines(msg) + "</div>\n")
	} else {
		b.WriteString(`<div class="errormsg" id="activateNameserverFailed">` + lines(msg) + "</div>\n")
	}
	if notices != "" {
		b.WriteString(`<div class="warningmsg">` + lines(notices) + "</div>\n")
	}
	b.WriteString(returnLink(q.user))
	return b.String()
}

func (h *handler) configureProvider(q *req) (bool, string, string) {
	for _, p := range []string{"cluster_user", "dnsrole", "module"} {
		if !perlTrue(q.f.Get(p)) {
			// `$config{X} or die`: Cpanel::Exception::MissingParameter, caught by the
			// CGI's eval.
			return false, "The required parameter “" + p + "” is not set.", ""
		}
	}
	module := strings.ReplaceAll(q.f.Get("module"), "/", "")
	module = strings.TrimSuffix(module, ".yaml")
	if module != ModuleCPanel {
		// Cpanel::LoadModule dies; the CGI prints the exception's text.
		return false, "The system failed to load the module “Cpanel::NameServer::Setup::Remote::" + module + "”.", ""
	}
	ok, msg, notices, ip := h.setup(q.r.Context(), q.f, q.id)
	if !ok {
		// configure_provider drops setup's own message: this is all the page says.
		return false, "Failed to set up DNS cluster for module “" + module + "”.", notices
	}
	rok, rmsg := h.changeRole(ip, q.f.Get("dnsrole"))
	if rmsg != "" {
		if msg != "" {
			msg += "\n"
		}
		msg += rmsg
	}
	return rok, msg, notices
}

// trustClusterMaster is trustclustermaster.cgi, the member side of reverse trust:
// the server that posts it is added to this server's cluster as standalone, after
// this server checked the token it was given by asking that server's version.
func (h *handler) trustClusterMaster(q *req) string {
	master := cleanHost(q.f.Get("clustermaster"))
	hostname := master
	if !dottedQuad.MatchString(master) {
		ip, found := h.resolve(master)
		if !found {
			return fatal("Dns Lookup Failed for " + master)
		}
		master = ip
	}
	if strings.TrimSpace(ctrlChars.Replace(q.f.Get("user"))) == "" {
		return fatal("Invalid user given")
	}
	pass := cleanPass(q.f.Get("pass"))
	if pass == "" {
		return fatal("Invalid access hash given")
	}
	if h.isLocal(master) {
		return fatal("The specified IP address would create a cyclic trust relationship: " + master + ".")
	}
	info, err := h.remote(q.r.Context(), master, q.user, pass)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return fatal("The remote server did not accept the access hash.  Please verify the access hash and username and try again.  The exact message was " + err.Error() + ".  For more information check /usr/local/cpanel/logs/login_log on the remote server.")
	case err != nil:
		return fatal("There was an error while processing your request: Cpanel::Accounting returned [" + err.Error() + "]")
	}
	if major, _ := strconv.Atoi(strings.SplitN(info.Version, ".", 2)[0]); major < 6 {
		return fatal("This operation requires the remote server to be running WHM 6.0 or later.  The server reported version: " + info.Version)
	}
	f := url.Values{}
	for k, v := range q.f {
		f[k] = v
	}
	if f.Get("module") == "" {
		f.Set("module", ModuleCPanel)
	}
	f.Set("dnsrole", RoleStandalone)
	f.Set("host", hostname)
	ok, msg, _, _ := h.setup(q.r.Context(), f, q.id)
	if !ok {
		return `<div class="errormsg" id="trustRelationshipFailed">The trust relationship could not be established, please examine /usr/local/cpanel/logs/error_log for more information.<br />` + lines(msg) + `</div>`
	}
	return `<br /><br /><div class="okmsg" id="trustRelationshipFailed">The trust relationship has been established from the remote server to this server.</div>`
}

func (h *handler) changeClusterDNS(q *req) string {
	server := cleanServer(q.f.Get("server"))
	ok, msg := h.changeRole(server, q.f.Get("dnsrole"))
	class := "errormsg"
	if ok {
		class = "okmsg"
	}
	return `<div class="` + class + `">` + html.EscapeString(msg) + `</div><div><br />` + returnLink(q.user)
}

func (h *handler) remClusterServer(q *req) string {
	server := q.f.Get("server")
	if server == "" || server == "0" {
		return fatal("Server Not Specified")
	}
	server = cleanServer(server)
	// WHM unlinks the member's files without checking they exist, so removing an
	// unknown server succeeds too.
	_ = h.change(func(c *Config) error {
		delete(c.Members, server)
		delete(c.StrayRoles, server)
		return nil
	})
	return success("Server removed from cluster.") + returnLink(q.user)
}

func (h *handler) enableClusterServer(q *req) string {
	if !q.id.hasroot() {
		return fatal("Permission denied")
	}
	server := cleanServer(q.f.Get("server"))
	if server == "" {
		// -e on the config directory itself succeeds; opening the status directory
		// for writing then fails.
		return fatal("Could not open /var/cpanel/clusterqueue/status/ for writing.")
	}
	if err := h.change(func(c *Config) error { return c.Enable(server) }); err != nil {
		return fatal(err.Error())
	}
	return success(server + " is now enabled.")
}

func (h *handler) adjustClusterOptions(q *req) string {
	threshold, has := q.f.Get("autodisablethreshold"), q.f.Has("autodisablethreshold")
	switch q.f.Get("autodisablethreshold_control") {
	case "default":
		threshold, has = strconv.Itoa(DefaultThreshold), true
	case "disabled":
		threshold, has = "0", true
	}
	if !has {
		return fatal("Missing failure threshold setting.")
	}
	n := perlInt(threshold)
	if n < 0 {
		n = 0
	}
	notify := q.f.Get("cluster_failure_notifications") == "1"
	_ = h.change(func(c *Config) error { c.Threshold, c.Notify = n, notify; return nil })
	return success("Your changes have been saved.") + returnLink(q.user)
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

func (h *handler) clusterStatus(q *req) string {
	cfg := h.g.Snapshot()
	peers := map[string]PeerState{}
	if cfg.Enabled && h.hooks.Peer != nil {
		for _, ip := range cfg.Hosts() {
			if m := cfg.Members[ip]; !m.Disabled {
				peers[ip] = h.hooks.Peer(q.r.Context(), *m)
			}
		}
	}
	return RenderStatus(cfg, peers, q.user)
}
