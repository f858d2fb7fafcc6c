// Package version says which build of Tether is running. A release build stamps the
// version, commit and date with the linker (.goreleaser.yaml):
//
//	go build -ldflags "-X github.com/tether-dev/tether/internal/version.version=v1.2.3
//	  -X github.com/tether-dev/tether/internal/version.commit=abc123
//	  -X github.com/tether-dev/tether/internal/version.date=2026-01-02T03:04:05Z" ./cmd/tether
//
// An unstamped build (go build, go install …@v1.2.3) says what the Go toolchain
// recorded instead: the module version, and the VCS revision and time.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker (-X) in release builds; empty otherwise. Package is the import
// path the -X flags name: .goreleaser.yaml and its test use it.
var (
	version string
	commit  string
	date    string
)

// Package is this package's import path, the prefix of every -X flag that stamps it.
const Package = "github.com/tether-dev/tether/internal/version"

// Stamped are the variables a release build sets, by the name the -X flags use.
var Stamped = []string{"version", "commit", "date"}

// Info is the running build, as `tether version --format json` prints it.
type Info struct {
	// Version is the release (v1.2.3), the module version of a go install, or
	// "(devel)" for a build from a work tree.
	Version string `json:"version"`
	// Commit is the git revision built ("" when unknown); Modified says the work tree
	// had uncommitted changes (unstamped builds only: a release is built clean).
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"`
	// Date is when the commit was made (unstamped) or the build ran (stamped), RFC 3339.
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running build's Info: the stamped values where the linker set them,
// else what debug.ReadBuildInfo recorded.
func Get() Info { return get(debug.ReadBuildInfo) }

func get(read func() (*debug.BuildInfo, bool)) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if in.Version == "" && bi.Main.Version != "" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				// Only an unstamped build: a stamped one names its commit, not the tree.
				in.Modified = commit == "" && s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	return in
}

// String is the one line `tether version` and `tether --version` print.
func (in Info) String() string {
	s := "tether " + in.Version
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if in.Modified {
			c += "-dirty"
		}
		s += " (" + c
		if in.Date != "" {
			s += ", " + in.Date
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s %s", s, in.GoVersion, in.Platform)
}
