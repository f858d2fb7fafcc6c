package schema

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sparse makes a file of size bytes without writing them: the reader must refuse it
// from its size, never read it.
func sparse(t *testing.T, name string, size int64) string {
	t.Helper()
	fh, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestReadFleetFileRefuses: every file a fleet folder may name, whatever its
// extension, goes through readFleetFile, which refuses devices, FIFOs, links out of
// the folder and oversize files with one TETHER-LOAD diagnostic at the file, and
// never shows the content of what it refused.
func TestReadFleetFileRefuses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("FIFOs and /dev/zero are Unix")
	}
	const token = "J8K2SECRETTOKENVALUE0123456789"
	outside := t.TempDir()
	tokenFile := filepath.Join(outside, "mail1.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".cue", ".yaml", ".yml"} {
		tests := []struct {
			name string
			make func(dir string) string // returns the file Load is given (or "" for the folder)
			want string
		}{
			{"fifo", func(dir string) string {
				p := filepath.Join(dir, "fleet"+ext)
				if err := mkfifo(p); err != nil {
					t.Skip("mkfifo:", err)
				}
				return p
			}, "FIFO"},
			{"dev zero via symlink", func(dir string) string {
				p := filepath.Join(dir, "fleet"+ext)
				if err := os.Symlink("/dev/zero", p); err != nil {
					t.Fatal(err)
				}
				return p
			}, "outside the fleet folder"},
			{"token file via symlink", func(dir string) string {
				p := filepath.Join(dir, "fleet"+ext)
				if err := os.Symlink(tokenFile, p); err != nil {
					t.Fatal(err)
				}
				return p
			}, "outside the fleet folder"},
			{"link up and back out", func(dir string) string {
				p := filepath.Join(dir, "fleet"+ext)
				rel, err := filepath.Rel(dir, tokenFile)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(rel, p); err != nil {
					t.Fatal(err)
				}
				return p
			}, "outside the fleet folder"},
			{"dangling symlink", func(dir string) string {
				p := filepath.Join(dir, "fleet"+ext)
				if err := os.Symlink(filepath.Join(dir, "nothing"), p); err != nil {
					t.Fatal(err)
				}
				return p
			}, "does not resolve"},
			{"over the cap", func(dir string) string {
				return sparse(t, filepath.Join(dir, "fleet"+ext), MaxFileSize+1)
			}, "over the 40 MiB limit"},
		}
		for _, tt := range tests {
			for _, asFolder := range []bool{false, true} {
				name := tt.name + "/" + ext
				if asFolder {
					name += "/folder"
				}
				t.Run(name, func(t *testing.T) {
					dir := filepath.Join(t.TempDir(), "fleet")
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					file := tt.make(dir)
					target := file
					if asFolder {
						target = dir
					}
					done := make(chan struct{})
					var ds Diagnostics
					go func() { _, ds, _ = Load(target); close(done) }()
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("Load did not return: it blocked on the file")
					}
					want, line := tt.want, 1
					if tt.name == "dangling symlink" && !asFolder {
						want, line = "no such file", 0 // named on the command line: not found
					}
					if len(ds) != 1 || ds[0].Rule != RuleLoad || ds[0].Pos.File != file || ds[0].Pos.Line != line || !strings.Contains(ds[0].Message, want) {
						t.Fatalf("got %v\nwant one %s at %s:1:1 saying %q", ds, RuleLoad, file, tt.want)
					}
					if strings.Contains(ds.Error(), token) || strings.Contains(ds.Error(), outside) {
						t.Fatalf("the diagnostic shows what lies outside the fleet: %v", ds)
					}
				})
			}
		}
	}
}

// TestReadFleetFileLinkInside: a link to a file in the same folder is an ordinary
// fleet file.
func TestReadFleetFileLinkInside(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "nodes.txt")
	if err := os.WriteFile(real, []byte("nodes:\n  web1: {role: parent, host: web1.example.net}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nodes.txt", filepath.Join(dir, "nodes.yaml")); err != nil {
		t.Fatal(err)
	}
	f, ds, _ := Load(dir)
	if len(ds) > 0 || f.Nodes["web1"] == nil {
		t.Fatalf("a link inside the folder: %v, %v", ds, f)
	}
}
