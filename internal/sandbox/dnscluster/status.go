package dnscluster

import (
	"fmt"
	"html"
	"net/url"
	"strings"
)

// RenderStatus is the body of /scripts7/clusterstatus as
// whostmgr/docroot/templates/clusterstatus.tmpl renders it for root (11.120): the
// same elements, ids, classes, form fields and texts, in the same order, for every
// state the template can show. Left out: the styles and scripts, the locale links in
// the help text, the DNSSEC states (the sandbox has no DNSSEC coordinator, so the
// template never reaches them) and the path diagram's tree (only its container).
//
// peers holds what getpeerstate learnt of each member that is not disabled, by IP.
func RenderStatus(cfg Config, peers map[string]PeerState, clusterUser string) string {
	e := html.EscapeString
	u := url.QueryEscape(clusterUser)
	var b strings.Builder
	b.WriteString(`<div id="main_content">` + "\n")
	b.WriteString(`<p class="helptext">WHM’s DNS clustering allows you to synchronize DNS records among multiple cPanel &amp; WHM or cPanel DNSONLY machines.<br />` + "\n" +
		`In order to synchronize your DNS records, all machines in the cluster must be running cPanel &amp; WHM or cPanel DNSONLY version 8.9 or higher.<br /></p>` + "\n")

	text, flavor, value := "Enable DNS Clustering", "DNS clustering is disabled.", "1"
	if cfg.Enabled {
		// [% !enabled %] of a true value is the empty string.
		text, flavor, value = "Disable DNS Clustering", "DNS clustering is enabled.", ""
	}
	b.WriteString(`<div class="option_box">` + "\n<h4>Global DNS Cluster Options</h4>\n")
	b.WriteString(`<div class="option_contents">` + "\n")
	fmt.Fprintf(&b, `<form id="toggle_clustering_form" action="/cgi/adjustclusterdns.cgi">`+"\n"+
		`<input id="toggle_clustering_user" type="hidden" name="cluster_user" value="%s" />`+"\n"+
		`<div class="clusteringstatus">%s</div>`+"\n"+
		`<div class="the-button"><button id="toggle_clustering_submit" name="clusterdns" value="%s" class="btn btn-primary button-position">%s</button></div>`+"\n"+
		"</form>\n</div>\n", e(clusterUser), flavor, value, text)
	if cfg.Enabled {
		checked := "disabled"
		switch {
		case cfg.Threshold == DefaultThreshold:
			checked = "default"
		case cfg.Threshold != 0:
			checked = "custom"
		}
		on := func(v string) string {
			if checked == v {
				return " checked"
			}
			return ""
		}
		thr := cfg.Threshold
		if thr == 0 {
			thr = DefaultThreshold // [% autodisablethreshold || 10 %]
		}
		dis := " disabled"
		if checked == "custom" {
			dis = ""
		}
		notify := ""
		if cfg.Notify {
			notify = "checked "
		}
		b.WriteString(`<div class="option_contents">` + "\n")
		fmt.Fprintf(&b, `<form id="cluster_opts_form" action="/cgi/adjustclusteroptions.cgi">`+"\n"+
			`<input type="hidden" name="cluster_user" value="%s" />`+"\n"+
			`<p style="margin-top:0px !important;"><strong>Failure threshold for cluster members:</strong> Enter the number of DNSadmin commands that may fail before WHM disables an unresponsive cluster member.</p>`+"\n"+
			`<div class="button-grouped">`+"\n"+
			`<label><input id="cluster_opts_adt_default" type="radio" name="autodisablethreshold_control"%s value="default" /> 10 (Default)</label><br />`+"\n"+
			`<input id="cluster_opts_adt_custom" type="radio" name="autodisablethreshold_control"%s value="custom" />`+"\n"+
			`<input type=text size=2 maxlength="2" id="threshold" name=autodisablethreshold%s value="%d" /><br />`+"\n"+
			`<label><input id="cluster_opts_adt_maxgo" type="radio" name="autodisablethreshold_control"%s value="disabled" /> Keep all cluster members online at all times.</label><br />`+"\n"+
			"</div>\n<br />\n"+
			`<label><input type=checkbox name="cluster_failure_notifications" id="notify" value="1" %s/>&nbsp;Receive a notification when WHM disables an unresponsive cluster member.</label><br />`+"\n"+
			`<div class="the-button"><input id="cluster_opts_submit" type="submit" class="btn-primary button-position" value="Change" /></div>`+"\n"+
			"</form>\n</div>\n",
			e(clusterUser), on("default"), on("custom"), dis, thr, on("disabled"), notify)
	}
	b.WriteString("</div>\n")
	if !cfg.Enabled {
		b.WriteString("</div>")
		return b.String()
	}

	b.WriteString("<h2>Servers In Your DNS Cluster</h2>\n" + `<div id="serverlist" >` + "\n")
	b.WriteString(`<div class="option_box">` + "\n<h4>Add a new server to the cluster</h4>\n" + `<div class="option_contents">` + "\n")
	fmt.Fprintf(&b, `<form action="/cgi/configure_remote_nameserver.cgi" id="mainform" name="mainform">`+"\n"+
		`<label for="module">Backend Type:</label>`+"\n"+
		`<input id="newmember_user" type="hidden" name="cluster_user" value="%s" />`+"\n"+
		`<select name="module" id="module"><option value="cPanel">cPanel</option></select>`+"\n"+
		`<div class="the-button"><input id="newmember_submit" type="submit" class="btn-primary button-position" value="Configure" /></div>`+"\n"+
		"</form>\n</div>\n</div>\n", e(clusterUser))

	hosts := cfg.Hosts()
	if len(hosts) == 0 {
		b.WriteString(`<h2><font color="#550000">There are currently no servers in your DNS cluster.</font></h2>` + "\n")
	} else {
		b.WriteString(`<table id="sltbl" class="sortable2" cellspacing="0">` + "\n<thead>\n<tr>" +
			`<th class="first pointer">Hostname</th><th class="pointer">IP Address</th><th class="pointer">Username</th>` +
			`<th class="pointer">Type</th><th class="pointer">Status</th><th class="pointer">Remote Server Type</th>` +
			`<th nonsortable=true>DNS Role</th><th nonsortable=true width="90px" class="last">Actions</th>` +
			"</tr>\n</thead>\n<tbody>\n")
		for _, ip := range hosts {
			m := cfg.Members[ip]
			p := peers[ip]
			hostname := m.Hostname
			if hostname == "" || hostname == ip {
				hostname = "unknown" // PeerStatus: no host name other than the address
			}
			fmt.Fprintf(&b, `<tr id="%s_row">`+"\n", ip)
			fmt.Fprintf(&b, `<td class="hostname">%s</td>`+"\n"+`<td class="host">%s</td>`+"\n"+`<td class="user">%s</td>`+"\n"+`<td class="module">%s</td>`+"\n",
				e(hostname), e(ip), e(m.User), e(m.Module))
			b.WriteString(`<td class="serverstatus">` + serverStatus(m, p, u) + "</td>\n")
			dnsserver := "unknown"
			switch {
			case !m.Disabled && p.Reached && p.GoodPrivs && !p.DNSEnabled:
				dnsserver = "disabled"
			case !m.Disabled && p.Reached && p.DNSServer != "":
				dnsserver = p.DNSServer
			}
			b.WriteString(`<td class="dnsserver">` + dnsserver + "</td>\n")
			fmt.Fprintf(&b, `<td class="role"><form action="/cgi/changeclusterdns.cgi" style="text-align:center" method=POST>`+
				`<input type="hidden" name="cluster_user" value="%s" /><input type=hidden name=server value="%s" /><select name=dnsrole>`,
				e(clusterUser), e(ip))
			role := m.Role
			if role == "" {
				role = RoleStandalone // _dnsroles.tmpl: dnsrole || roles.0.value
			}
			for _, r := range [][2]string{{RoleStandalone, "Standalone"}, {RoleSync, "Synchronize Changes"}, {RoleWriteOnly, "Write-only"}} {
				sel := ""
				if r[0] == role {
					sel = ` selected="selected"`
				}
				fmt.Fprintf(&b, `<option value="%s"%s>%s</option>`, r[0], sel, r[1])
			}
			b.WriteString(`</select>&nbsp;<input type=image onclick="this.form.submit()" class="submit-me" title="Save" style="vertical-align:top" src="/images/save-me.png" /></form></td>` + "\n")
			fmt.Fprintf(&b, `<td class="last action" ><a style="text-decoration:none" href="/cgi/configure_remote_nameserver.cgi?cluster_user=%s&amp;server=%s"><img src="/images/edit-me.png" alt="Edit" title="Edit" border=0 /></a>`+
				`<a style="text-decoration:none" href="/cgi/remclusterserver.cgi?cluster_user=%s&amp;server=%s"><img src="/images/redx.gif" alt="Delete" title="Delete" border=0 /></a></td>`+"\n</tr>\n",
				u, url.QueryEscape(ip), u, url.QueryEscape(ip))
		}
		b.WriteString("</tbody>\n</table>\n")
	}
	b.WriteString("</div>\n<h2>DNS Path Diagram</h2>\n" + `<blockquote style="margin:10px 0 0 !important; padding: 0 !important;"><div id="dns_tree"></div></blockquote>` + "\n</div>")
	return b.String()
}

const (
	imgRed    = `<img src="/red-status.gif" alt="Server Error" title="Server Error" />`
	imgYellow = `<img src="/yellow-status.gif" alt="Server Warning" title="Server Warning" />`
	imgGreen  = `<img src="/green-status.gif" alt="Server Active" title="Server Active" />`
)

// serverStatus is the template's td.serverstatus chain of IF/ELSIF for a cPanel
// member, in its order.
func serverStatus(m *Member, p PeerState, u string) string {
	ip := url.QueryEscape(m.Host)
	switch {
	case m.Disabled:
		return `Disabled due to connection failures. [<a href="/cgi/enableclusterserver.cgi?cluster_user=` + u + `&amp;server=` + ip + `">Enable</a>] ` +
			`<img src="/red-status.gif" alt="Server Disabled" title="Server Disabled" />`
	case !p.Reached:
		return "Could not communicate with remote API server. " + imgRed
	case !p.GoodPrivs:
		return "API key used has insufficient ACLs. The clustering ACL is required. " + imgRed
	case !p.DNSRunning && p.DNSEnabled:
		if p.DNSMonitored {
			return `DNS server may be down. [<a href="/scripts7/restartclustermember?cluster_user=` + u + `&amp;server=` + ip + `">Restart</a>] ` + imgYellow
		}
		return `The DNS server’s status is unknown because the service isn’t monitored. [<a href="/scripts7/monitorclustermember?cluster_user=` + u + `&amp;server=` + ip + `">Monitor</a>] ` + imgYellow
	case p.HasTrust == 0 && (m.Role == RoleSync || m.Role == RoleStandalone):
		return `Server needs reverse trust set up to auto-propagate DNS updates. [<a href="/cgi/configure_remote_nameserver.cgi?cluster_user=` + u + `&amp;server=` + ip + `">Enable</a>] ` + imgYellow
	}
	return html.EscapeString(p.Version) + " " + imgGreen
}
