package cueguard

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunChildIfAsked()
	os.Exit(m.Run())
}

const goodFleet = `nodes: web1: {role: "parent", host: "web1.example.net", version: 118, profile: "STANDARD", credentials: {user: "root", tokenEnv: "WEB1_WHM_TOKEN"}}
`

// bomb is a comprehension that allocates without end, as far as any bound here is
// concerned: a billion elements.
const bomb = `import "list"
_bomb: [for i in list.Range(0, 1000000000, 1) {"element \(i) of a comprehension bomb"}]
nodes: web1: {role: "parent", host: "web1.example.net", version: 118, profile: "STANDARD", credentials: {user: "root", tokenEnv: "T"}, _n: len(_bomb)}
`

func fleetDir(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		fleet   string
		lim     Limits
		stopped string // "" when the child must finish
	}{
		{name: "a fleet that evaluates", fleet: goodFleet, lim: Limits{Timeout: time.Minute, Memory: 1 << 30}},
		{name: "a fleet with errors still finishes", fleet: "nodes: web1: {role: 3}\n", lim: Limits{Timeout: time.Minute, Memory: 1 << 30}},
		{name: "a bomb stopped at the memory bound", fleet: bomb, lim: Limits{Timeout: 2 * time.Minute, Memory: 256 << 20}, stopped: "used more than 256 MiB of memory"},
		{name: "a bomb stopped at the time bound", fleet: bomb, lim: Limits{Timeout: 1500 * time.Millisecond}, stopped: "took longer than 1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fleetDir(t, tt.fleet)
			if !HasCUE(dir) {
				t.Fatal("HasCUE says no")
			}
			before := selfRSS(t)
			start := time.Now()
			err := Check(context.Background(), dir, tt.lim)
			took := time.Since(start)
			if tt.stopped == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var se *StoppedError
			if !errors.As(err, &se) {
				t.Fatalf("Check = %v, want a *StoppedError", err)
			}
			if !strings.Contains(err.Error(), tt.stopped) || !strings.Contains(err.Error(), "fleet.cue") {
				t.Errorf("error %q, want it to say %q and name the file", err, tt.stopped)
			}
			d := se.Diagnostic()
			if d.Rule != "TETHER-LOAD" || !strings.HasSuffix(d.Pos.File, "fleet.cue") {
				t.Errorf("diagnostic %+v", d)
			}
			if tt.lim.Timeout > 0 && tt.lim.Memory == 0 && took > tt.lim.Timeout+2*time.Second {
				t.Errorf("stopped after %v, bound %v", took, tt.lim.Timeout)
			}
			// The evaluation ran in the child: this process did not grow with it.
			if after := selfRSS(t); after > before+64<<20 {
				t.Errorf("this process grew from %d to %d MiB", before>>20, after>>20)
			}
			t.Logf("stopped after %v: %v", took, err)
		})
	}
}

func TestCheckCancelled(t *testing.T) {
	dir := fleetDir(t, bomb)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := Check(ctx, dir, Limits{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check = %v, want the context's error", err)
	}
}

func TestHasCUE(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte("nodes: {}\n"), 0o600)
	if HasCUE(dir) || HasCUE(filepath.Join(dir, "fleet.yaml")) || HasCUE(filepath.Join(dir, "missing")) {
		t.Error("a YAML fleet has CUE")
	}
	os.WriteFile(filepath.Join(dir, "more.cue"), []byte("nodes: {}\n"), 0o600)
	if !HasCUE(dir) || !HasCUE(filepath.Join(dir, "more.cue")) {
		t.Error("a CUE fleet has none")
	}
}

func selfRSS(t *testing.T) uint64 {
	t.Helper()
	n, err := residentBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
