package whm

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

func TestParseClusterStatus(t *testing.T) {
	tests := []struct {
		name string
		file string // read from disk when set
		body string
		want clusterStatus
	}{
		{
			name: "WHM-like screen (form controls, role selects)",
			file: testdataDir + "/observe/web1/clusterstatus.html",
			want: clusterStatus{Enabled: true, EnabledKnown: true, Threshold: schema.Threshold{N: 3}, ThresholdRead: true, Notify: true, NotifyKnown: true,
				Members: []clusterMember{{Host: "ns1.example.net", Role: "sync", Module: "cPanel"}, {Host: "ns9.example.net", Role: "standalone", Module: "cPanel", Disabled: true}}},
		},
		{
			name: "sandbox screen (data attributes)",
			file: "../../internal/sandbox/dnscluster/testdata/clusterstatus.html",
			want: clusterStatus{Enabled: true, EnabledKnown: true, Threshold: schema.Threshold{N: 5}, ThresholdRead: true, fromAttrs: true, Notify: true, NotifyKnown: true,
				Members: []clusterMember{
					{Host: "ns0.example", Role: "standalone", Module: "cPanel"},
					{Host: "ns1.example", Role: "sync", Module: "cPanel"},
					{Host: "ns2.example", Role: "write-only", Module: "cPanel", Disabled: true}}},
		},
		{
			name: "disabled cluster, threshold never, no members",
			body: `<div id="clusterstatus" data-enabled="0" data-threshold="0" data-notify="0"><input type="radio" name="clusterdns" value="1" checked></div>`,
			want: clusterStatus{EnabledKnown: true, Threshold: schema.Threshold{Never: true}, ThresholdRead: true, fromAttrs: true, NotifyKnown: true},
		},
		{
			name: "control wins: default",
			body: `<input type="radio" name="autodisablethreshold_control" value="default" checked><input type="text" name="autodisablethreshold" value="4"><p>DNS clustering is disabled.</p>`,
			want: clusterStatus{EnabledKnown: true, Threshold: schema.Threshold{N: 10}, ThresholdRead: true},
		},
		{
			name: "nothing readable",
			body: `<html><body>Login</body></html>`,
			want: clusterStatus{},
		},
		{
			name: "broken markup does not panic",
			body: `<table><tr><td>ns1.example.net<td><select><option selected value="sync">`,
			want: clusterStatus{Members: []clusterMember{{Host: "ns1.example.net", Role: "sync", Module: "cPanel"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.file != "" {
				b, err := os.ReadFile(tt.file)
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			}
			got, err := parseClusterStatus(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestCGIOutcome(t *testing.T) {
	tests := []struct {
		body     string
		err      string
		warnings int
	}{
		{`<div class="okmsg" data-status="ok">Your changes have been saved.</div>`, "", 0},
		{`<div class="errormsg">Missing failure threshold setting.</div>`, "Missing failure threshold setting.", 0},
		{`<div id="activateNameserverFailed" class="x">The remote server refused the token.</div>`, "refused the token", 0},
		{`<div class="okmsg">saved</div><div class="warningmsg">Reverse trust failed</div>`, "", 1},
		{`<p>Done.</p>`, "", 0},
		{`<div class="errormsg"></div>`, "no message", 0},
	}
	for _, tt := range tests {
		w, err := cgiOutcome(tt.body)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || len(w) != tt.warnings {
			t.Errorf("%s → %v, %v; want error %q, %d warnings", tt.body, err, w, tt.err, tt.warnings)
		}
	}
}

func FuzzParseClusterStatus(f *testing.F) {
	f.Add(`<div id="clusterstatus" data-enabled="1" data-threshold="x"><tr data-host="a.b" data-role="sync"></tr></div>`)
	f.Add(`<table><tr><td>1.2.3.4</td><td>sync</td></tr></table>`)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseClusterStatus(strings.NewReader(s)); err != nil {
			t.Skip()
		}
		_, _ = cgiOutcome(s)
	})
}
