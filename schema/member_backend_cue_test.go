package schema

import (
	"fmt"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// A member's backend-specific fields are held against its backend's registered
// schema (MemberBackend: Needs, Takes, Refuse) in CUE as in YAML: the same fleet,
// loaded either way, gives the same problems with the same wording. The test binary
// registers the real backends (backends_test.go).
func TestMemberBackendFieldsInCUE(t *testing.T) {
	const base = `nodes:
  web1: {role: parent, host: web1.example.net, version: 118}
  ns1: {role: dnsonly, host: ns1.example.net, version: 118}
dnsClusters:
  web1:
    enabled: true
    members:
      m: %s
`
	tests := []struct {
		name, member string
		want         []string // messages, both loaders
	}{
		{"cpanel member, fine", `{node: ns1, role: sync}`, nil},
		{"rfc2136 member, fine", `{backend: rfc2136, host: ns2.example.org, address: "192.0.2.9:53", role: sync}`, nil},
		{"rfc2136 member with a node", `{backend: rfc2136, node: ns1, host: ns2.example.org, address: "192.0.2.9:53", role: sync}`,
			[]string{"DNS cluster web1 member m: an rfc2136 member is not a node of the fleet, so it has no node"}},
		{"rfc2136 member without address", `{backend: rfc2136, host: ns2.example.org, role: sync}`,
			[]string{"DNS cluster web1 member m has no address"}},
		{"cpanel member with tsig and host", `{node: ns1, role: sync, host: ns9.example.net, tsig: {name: k, secretEnv: K}}`,
			[]string{"DNS cluster web1 member m: a cpanel member takes its host from its node", "DNS cluster web1 member m: a cpanel member takes its tsig from its node"}},
		{"cpanel member without node", `{role: sync, host: ns9.example.net}`,
			[]string{"DNS cluster web1 member m has no node", "DNS cluster web1 member m: a cpanel member takes its host from its node"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(fmt.Sprintf(base, tt.member))
			_, yds := loadBytes(data, defaultChunking)
			file, err := cueyaml.Extract("fleet.yaml", data)
			if err != nil {
				t.Fatal(err)
			}
			_, cds := evalFleetFiles([]*ast.File{file})
			for _, c := range []struct {
				name string
				ds   Diagnostics
			}{{"YAML", yds}, {"CUE", cds}} {
				var got []string
				for _, d := range c.ds {
					if d.Rule == RuleSchema && strings.Contains(d.Message, "member m") {
						got = append(got, d.Message)
					}
				}
				if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("%s:\n got %q\nwant %q\nall: %v", c.name, got, tt.want, c.ds)
				}
			}
		})
	}
}
