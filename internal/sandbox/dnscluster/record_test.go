package dnscluster

import (
	"errors"
	"testing"
)

// Guarded.Record counts commands as RecordResult does on a copy (Update), and a
// snapshot taken before is not changed by it.
func TestGuardedRecord(t *testing.T) {
	cfg := withMembers(Member{Host: "ns1.example", Role: RoleSync})
	cfg.Threshold = 2
	g := NewGuarded(cfg)
	before := g.Snapshot()
	fail := errors.New("connection refused")
	steps := []struct {
		host         string
		err          error
		wantDisabled bool // this command disabled the member
		wantFailures int
		wantOff      bool // the member is disabled after it
	}{
		{"ns1.example", fail, false, 1, false},
		{"ns1.example", nil, false, 0, false},
		{"ns1.example", fail, false, 1, false},
		{"ns1.example", fail, false, 2, false},
		{"ns1.example", fail, true, 3, true},
		{"ns1.example", fail, false, 4, true},
		{"nsX.example", fail, false, 0, false}, // unknown: ignored, zero member
	}
	for i, s := range steps {
		disabled, m := g.Record(s.host, s.err)
		if disabled != s.wantDisabled || m.Failures != s.wantFailures || m.Disabled != s.wantOff {
			t.Errorf("step %d (%s, %v): disabled %t, member %+v; want %t, %d failures, disabled %t",
				i, s.host, s.err, disabled, m, s.wantDisabled, s.wantFailures, s.wantOff)
		}
	}
	if m := g.Snapshot().Members["ns1.example"]; m.Failures != 4 || !m.Disabled {
		t.Errorf("snapshot after: %+v", m)
	}
	if m := before.Members["ns1.example"]; m.Failures != 0 || m.Disabled {
		t.Errorf("a snapshot taken before changed: %+v", m)
	}
}
