package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowCUE takes about half a second to evaluate (the comprehension is quadratic in
// CUE's evaluator), long past a 100 ms bound yet short enough that the abandoned
// evaluation does not outlive the test binary by much.
const slowCUE = `package fleet

import "list"

_slow: [for i in list.Range(0, 20000, 1) {i * 2}]
`

func TestCUETimeout(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "fleet.cue")
	if err := os.WriteFile(name, []byte(slowCUE), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CUETimeoutEnv, "100ms")
	start := time.Now()
	_, ds, err := Load(dir)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Rule != RuleLoad || ds[0].Pos.File != name ||
		!strings.Contains(ds[0].Message, name) || !strings.Contains(ds[0].Message, "took longer than 100ms") ||
		!strings.Contains(ds[0].Fix, CUETimeoutEnv) {
		t.Fatalf("want one TETHER-LOAD naming %s and the limit, got %v", name, ds)
	}
	// The bound is what ended the load, not the evaluation finishing anyway.
	if took > 400*time.Millisecond {
		t.Fatalf("the load took %s with a 100ms bound", took)
	}
}

func TestCUETimeoutSetting(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want time.Duration
		bad  bool
	}{
		{"", DefaultCUETimeout, false},
		{"90s", 90 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"30", 30 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"0", 0, false},
		{"soon", 0, true},
		{"-5s", 0, true},
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(CUETimeoutEnv, tt.env)
			got, d := cueTimeout()
			if (d != nil) != tt.bad || got != tt.want {
				t.Fatalf("%s=%q: got %s, diagnostic %v; want %s, bad=%v", CUETimeoutEnv, tt.env, got, d, tt.want, tt.bad)
			}
		})
	}
}

// A bad setting is reported, not ignored: the operator asked for something.
func TestCUETimeoutBadSettingIsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte("package fleet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CUETimeoutEnv, "soon")
	_, ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Rule != RuleLoad || !strings.Contains(ds[0].Message, CUETimeoutEnv) {
		t.Fatalf("got %v", ds)
	}
}

// TestCUEMemoryBound: the same slow input, with the time bound off and a heap bound
// far below what the comprehension needs, is stopped by the memory guard.
func TestCUEMemoryBound(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "fleet.cue")
	if err := os.WriteFile(name, []byte(slowCUE), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CUETimeoutEnv, "0")
	t.Setenv(CUEMemoryEnv, "4MiB")
	_, ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Rule != RuleLoad || !strings.Contains(ds[0].Message, "used more than 4 MiB of memory") ||
		!strings.Contains(ds[0].Fix, CUEMemoryEnv) {
		t.Fatalf("want one TETHER-LOAD about memory, got %v", ds)
	}
}

func TestCUEMemorySetting(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want uint64
		bad  bool
	}{
		{"", DefaultCUEMemory, false},
		{"1048576", 1 << 20, false},
		{"512MiB", 512 << 20, false},
		{"8GiB", 8 << 30, false},
		{"64 KiB", 64 << 10, false},
		{"0", 0, false},
		{"lots", 0, true},
		{"-1MiB", 0, true},
		{"99999999999GiB", 0, true},
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(CUEMemoryEnv, tt.env)
			got, d := cueMemory()
			if (d != nil) != tt.bad || got != tt.want {
				t.Fatalf("%s=%q: got %d, diagnostic %v; want %d, bad=%v", CUEMemoryEnv, tt.env, got, d, tt.want, tt.bad)
			}
		})
	}
}
