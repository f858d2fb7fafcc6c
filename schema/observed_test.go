package schema

import "testing"

func TestMemberUpdateDue(t *testing.T) {
	tests := []struct {
		name        string
		m           *Member
		due, resync bool
	}{
		{"nil", nil, false, false},
		{"not observed", &Member{Role: DNSRoleSync}, false, false},
		{"in step", &Member{Role: DNSRoleSync, Zones: &MemberZones{}}, false, false},
		{"sync out of step", &Member{Role: DNSRoleSync, Zones: &MemberZones{OutOfStep: []string{"a.example"}}}, true, false},
		{"write-only out of step", &Member{Role: DNSRoleWriteOnly, Zones: &MemberZones{OutOfStep: []string{"a.example"}}}, true, false},
		{"standalone is never written", &Member{Role: DNSRoleStandalone, Zones: &MemberZones{OutOfStep: []string{"a.example"}}}, false, false},
		{"disabled waits for enable", &Member{Role: DNSRoleSync, Disabled: true, Zones: &MemberZones{OutOfStep: []string{"a.example"}}}, false, false},
		{"re-enabled: resync", &Member{Role: DNSRoleSync, Zones: &MemberZones{NeedsResync: true}}, true, true},
		{"missing zones alone are not an update", &Member{Role: DNSRoleSync, Zones: &MemberZones{Missing: []string{"a.example"}}}, false, false},
	}
	for _, tc := range tests {
		due, resync := tc.m.UpdateDue()
		if due != tc.due || resync != tc.resync {
			t.Errorf("%s: due=%v resync=%v, want %v %v", tc.name, due, resync, tc.due, tc.resync)
		}
	}
}
