package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tether-dev/tether/internal/version"
)

// goreleaserConfig is the part of .goreleaser.yaml (GoReleaser v2) the release
// depends on; unknown fields are allowed, as goreleaser has many.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		ID      string   `yaml:"id"`
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Flags   []string `yaml:"flags"`
		Ldflags []string `yaml:"ldflags"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
	} `yaml:"builds"`
	Archives []struct {
		IDs             []string `yaml:"ids"`
		Formats         []string `yaml:"formats"`
		FormatOverrides []struct {
			Goos    string   `yaml:"goos"`
			Formats []string `yaml:"formats"`
		} `yaml:"format_overrides"`
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
}

// The release targets: every one is also cross-built by .ci/run.
var releaseTargets = []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64", "windows/amd64", "windows/arm64"}

// TestReleaseConfig checks .goreleaser.yaml where `goreleaser check` cannot run
// (goreleaser is not installed in CI): the targets, archives and checksums, and that
// the -X flags stamp internal/version — a binary built with them says the stamped
// version, commit and date (a -X naming a missing variable is silently ignored by the
// linker, so only running the binary shows it).
func TestReleaseConfig(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if cfg.Version != 2 {
		t.Errorf("version: %d, want 2 (GoReleaser v2 format)", cfg.Version)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds, want 1 (tether)", len(cfg.Builds))
	}
	bld := cfg.Builds[0]
	if bld.Main != "./cmd/tether" || bld.Binary != "tether" {
		t.Errorf("build main %q binary %q, want ./cmd/tether and tether", bld.Main, bld.Binary)
	}
	if !slices.Contains(bld.Env, "CGO_ENABLED=0") {
		t.Errorf("build env %v: cross-builds need CGO_ENABLED=0", bld.Env)
	}
	var targets []string
	for _, goos := range bld.Goos {
		for _, goarch := range bld.Goarch {
			targets = append(targets, goos+"/"+goarch)
		}
	}
	slices.Sort(targets)
	if !slices.Equal(targets, releaseTargets) {
		t.Errorf("targets %v, want %v", targets, releaseTargets)
	}
	// CI cross-builds the same targets.
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	loop := regexp.MustCompile(`(?m)^for target in (.+); do$`).FindSubmatch(ci)
	if loop == nil || !slices.Equal(slices.Sorted(slices.Values(strings.Fields(string(loop[1])))), releaseTargets) {
		t.Errorf(".ci/run cross-builds %q, want every release target %v", loop, releaseTargets)
	}
	if len(cfg.Archives) == 0 {
		t.Fatal("no archives")
	}
	for _, a := range cfg.Archives {
		if !slices.Contains(a.IDs, bld.ID) {
			t.Errorf("archive ids %v lack the build %q", a.IDs, bld.ID)
		}
		if !slices.Equal(a.Formats, []string{"tar.gz"}) {
			t.Errorf("archive formats %v, want [tar.gz]", a.Formats)
		}
		if len(a.FormatOverrides) != 1 || a.FormatOverrides[0].Goos != "windows" || !slices.Equal(a.FormatOverrides[0].Formats, []string{"zip"}) {
			t.Errorf("format overrides %+v, want zip for windows", a.FormatOverrides)
		}
		for _, f := range a.Files {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("archive file %s: %v", f, err)
			}
		}
	}
	if cfg.Checksum.NameTemplate == "" || cfg.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum %+v, want a name and sha256", cfg.Checksum)
	}

	// Every -X names internal/version and every stamped variable is set.
	ldflags := strings.Join(bld.Ldflags, " ")
	re := regexp.MustCompile(`-X ([^=\s]+)\.([A-Za-z_]+)=`)
	var stamped []string
	for _, m := range re.FindAllStringSubmatch(ldflags, -1) {
		if m[1] != version.Package {
			t.Errorf("-X %s.%s: not the version package %s", m[1], m[2], version.Package)
		}
		stamped = append(stamped, m[2])
	}
	slices.Sort(stamped)
	want := slices.Sorted(slices.Values(version.Stamped))
	if !slices.Equal(stamped, want) {
		t.Errorf("-X flags set %v, want %v", stamped, want)
	}

	// Build with the flags as goreleaser expands them, and ask the binary.
	values := map[string]string{".Version": "9.8.7-test", ".FullCommit": "0123456789abcdef0123456789abcdef01234567", ".CommitDate": "2026-12-02T20:00:00Z"}
	expanded := regexp.MustCompile(`\{\{\s*([.A-Za-z]+)\s*\}\}`).ReplaceAllStringFunc(ldflags, func(s string) string {
		name := strings.TrimSpace(strings.Trim(s, "{}"))
		v, ok := values[name]
		if !ok {
			t.Fatalf("ldflags template %s: the test does not know it", s)
		}
		return v
	})
	bin := filepath.Join(t.TempDir(), "tether")
	// Without the build's other flags (-trimpath): they change how every package is
	// compiled, not what is stamped, and would rebuild everything from scratch.
	build := exec.Command("go", "build", "-o", bin, "-ldflags", expanded, "./cmd/tether")
	build.Dir = root
	build.Env = append(os.Environ(), bld.Env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with the release flags: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--format", "json").Output()
	if err != nil {
		t.Fatalf("tether version: %v", err)
	}
	var in version.Info
	if err := json.Unmarshal(out, &in); err != nil {
		t.Fatalf("tether version --format json: %v\n%s", err, out)
	}
	if in.Version != values[".Version"] || in.Commit != values[".FullCommit"] || in.Date != values[".CommitDate"] {
		t.Errorf("stamped binary says %+v, want %s %s %s", in, values[".Version"], values[".FullCommit"], values[".CommitDate"])
	}
	line, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(line), "tether 9.8.7-test (0123456789ab, 2026-12-02T20:00:00Z)") {
		t.Errorf("tether --version: %q %v", line, err)
	}
}
