package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	vcs := func(rev, when, modified string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: Package, Version: "(devel)"}}
			for k, v := range map[string]string{"vcs.revision": rev, "vcs.time": when, "vcs.modified": modified} {
				if v != "" {
					bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
				}
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name                  string
		stamp                 [3]string // version, commit, date set by -X
		read                  func() (*debug.BuildInfo, bool)
		version, commit, date string
		modified              bool
		line                  string
	}{
		{"stamped release wins over VCS info", [3]string{"v1.2.3", "0123456789abcdef", "2026-12-01T10:00:00Z"},
			vcs("ffff", "2020-01-01T00:00:00Z", "true"), "v1.2.3", "0123456789abcdef", "2026-12-01T10:00:00Z", false,
			"tether v1.2.3 (0123456789ab, 2026-12-01T10:00:00Z)"},
		{"work tree build falls back to vcs.revision and vcs.time", [3]string{},
			vcs("abcdef0123456789", "2026-11-30T09:00:00Z", "false"), "(devel)", "abcdef0123456789", "2026-11-30T09:00:00Z", false,
			"tether (devel) (abcdef012345, 2026-11-30T09:00:00Z)"},
		{"uncommitted changes are named", [3]string{}, vcs("abcdef0123456789", "2026-11-30T09:00:00Z", "true"),
			"(devel)", "abcdef0123456789", "2026-11-30T09:00:00Z", true, "tether (devel) (abcdef012345-dirty, 2026-11-30T09:00:00Z)"},
		{"no build info at all", [3]string{}, none, "(devel)", "", "", false, "tether (devel) go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version, commit, date = tt.stamp[0], tt.stamp[1], tt.stamp[2]
			defer func() { version, commit, date = "", "", "" }()
			in := get(tt.read)
			if in.Version != tt.version || in.Commit != tt.commit || in.Date != tt.date || in.Modified != tt.modified {
				t.Errorf("got %+v, want version %q commit %q date %q modified %v", in, tt.version, tt.commit, tt.date, tt.modified)
			}
			if !strings.HasPrefix(in.String(), tt.line) || !strings.HasSuffix(in.String(), in.Platform) {
				t.Errorf("String() = %q, want it to start with %q and end with the platform", in.String(), tt.line)
			}
		})
	}
}
