package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// allCommands is every command of the tree, the root included.
func allCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

// sampleValue is a value each flag type parses.
func sampleValue(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64", "uint", "count":
		return "3"
	case "duration":
		return "2s"
	case "float64":
		return "0.5"
	default:
		return "x"
	}
}

// TestSingleDashLongFlags: Terraform's spelling of every long flag of every command
// (-auto-approve, -out=FILE, -out FILE) parses as the two-dash spelling does.
func TestSingleDashLongFlags(t *testing.T) {
	probe := newRoot(testCLI())
	probe.InitDefaultVersionFlag()
	checked := 0
	for _, cmd := range allCommands(probe) {
		cmd.InitDefaultHelpFlag()
		path := strings.Fields(cmd.CommandPath())[1:]
		var flags []*pflag.Flag
		cmd.Flags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		for _, f := range flags {
			if len(f.Name) < 2 {
				continue
			}
			var spellings [][]string
			if f.Value.Type() == "bool" {
				spellings = [][]string{{"-" + f.Name}, {"-" + f.Name + "=true"}}
			} else {
				v := sampleValue(f)
				spellings = [][]string{{"-" + f.Name + "=" + v}, {"-" + f.Name, v}}
			}
			for _, sp := range spellings {
				root := newRoot(testCLI())
				root.InitDefaultVersionFlag()
				args := normaliseFlags(root, append(append([]string{}, path...), sp...))
				found, rest, err := root.Find(args)
				if err != nil {
					t.Errorf("tether %s: %v", strings.Join(args, " "), err)
					continue
				}
				found.InitDefaultHelpFlag()
				if err := found.ParseFlags(rest); err != nil {
					t.Errorf("tether %s %s: %v", cmd.CommandPath(), strings.Join(sp, " "), err)
					continue
				}
				if got := found.Flags().Lookup(f.Name); got == nil || !got.Changed {
					t.Errorf("tether %s %s: --%s not set", cmd.CommandPath(), strings.Join(sp, " "), f.Name)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d spellings checked: the walk over the commands is broken", checked)
	}
}

func TestNormaliseFlagsLeavesTheRestAlone(t *testing.T) {
	root := newRoot(testCLI())
	got := normaliseFlags(root, []string{"apply", "-h", "-auto-approve", "-nosuchflag", "-out=f", "fleet", "--", "-force"})
	want := "apply -h --auto-approve -nosuchflag --out=f fleet -- -force"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
}

// Under --format json every error is one errorJSON document on stdout, whatever
// went wrong: an invalid fleet (with rule, position and fix), a missing file, a bad flag.
func TestErrorsAsJSON(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(bad, []byte("nodes:\n  web1: {role: parent, host: web1.example.net}\naccounts:\n  alice: {parent: web9, domain: alice.example}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		withRule bool
	}{
		{"invalid fleet", []string{"plan", "--format", "json", "--sandbox", "--sandbox-state", filepath.Join(dir, "sb"), bad}, true},
		{"missing saved plan", []string{"show", "--format", "json", filepath.Join(dir, "nope.json")}, false},
		{"bad format value", []string{"version", "--format", "json", "extra"}, false},
		{"dns verify of a missing fleet", []string{"dns", "verify", "--format", "json", filepath.Join(dir, "missing")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tether(t, context.Background(), "", tt.args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			var doc struct {
				Errors []map[string]any `json:"errors"`
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil || len(doc.Errors) == 0 {
				t.Fatalf("stdout is not an errors document (%v):\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
			}
			for _, e := range doc.Errors {
				for _, k := range []string{"rule", "file", "line", "column", "message", "fix"} {
					if _, ok := e[k]; !ok {
						t.Errorf("error %v lacks %q (one shape for every error)", e, k)
					}
				}
				if e["message"] == "" {
					t.Errorf("error without a message: %v", e)
				}
			}
			if e := doc.Errors[0]; tt.withRule && (!strings.HasPrefix(e["rule"].(string), "TETHER-") || e["file"] == "" || e["line"].(float64) < 1 || e["column"].(float64) < 1) {
				t.Errorf("a rule violation names its rule and position: %v", e)
			}
			if strings.Contains(r.stderr, "Error:") {
				t.Errorf("the error was also written as text:\n%s", r.stderr)
			}
		})
	}
}

// A saved plan is shown in the three formats; colour only on a terminal without
// --no-color or NO_COLOR.
func TestShowAndNoColor(t *testing.T) {
	e := newEnv(t)
	saved := filepath.Join(e.dir, "plan.json")
	expect(t, e.run(t, "plan", "-out", saved, e.fleet), 0, "Saved the plan")
	planJSON := e.run(t, "plan", "--format", "json", e.fleet)

	text := tether(t, context.Background(), "", "show", saved)
	expect(t, text, 0, "Saved plan "+saved, "Plan: ")
	expect(t, tether(t, context.Background(), "", "show", "-format=markdown", saved), 0, "### Tether plan: ")
	js := tether(t, context.Background(), "", "show", "--format", "json", saved)
	var shown, planned struct {
		Changes []json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &shown); err != nil {
		t.Fatalf("show --format json: %v\n%s", err, js.stdout)
	}
	if err := json.Unmarshal([]byte(planJSON.stdout), &planned); err != nil {
		t.Fatal(err)
	}
	if len(shown.Changes) == 0 || len(shown.Changes) != len(planned.Changes) {
		t.Errorf("show: %d changes, plan: %d", len(shown.Changes), len(planned.Changes))
	}

	onTerminal := func() *cli {
		c := testCLI()
		c.terminal = func(any) bool { return true }
		return c
	}
	const esc = "\033["
	if r := tetherWith(t, onTerminal(), context.Background(), "", "show", saved); !strings.Contains(r.stdout, esc) {
		t.Errorf("no colour on a terminal:\n%s", r.stdout)
	}
	if r := tetherWith(t, onTerminal(), context.Background(), "", "show", "-no-color", saved); strings.Contains(r.stdout, esc) {
		t.Errorf("colour despite --no-color:\n%s", r.stdout)
	}
	t.Setenv("NO_COLOR", "1")
	if r := tetherWith(t, onTerminal(), context.Background(), "", "show", saved); strings.Contains(r.stdout, esc) {
		t.Errorf("colour despite NO_COLOR:\n%s", r.stdout)
	}
}

// Shell completion offers the formats and the fleet's names.
func TestCompletion(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"plan", "--format", ""}, []string{"text", "json", "markdown"}},
		{[]string{"import", "--format", ""}, []string{"yaml", "cue"}},
		{[]string{"apply", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"adopt", "--fleet", e.fleet, "account."}, []string{"account.alice", "account.dave"}},
		{[]string{"state", "unlock", ""}, nil}, // no fleet in the current folder: nothing, no error
	}
	for _, tt := range tests {
		r := tether(t, context.Background(), "", append([]string{cobra.ShellCompRequestCmd}, tt.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", tt.args, r.code, r.stderr)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(line, ":") && line != "" {
				got = append(got, strings.SplitN(line, "\t", 2)[0])
			}
		}
		for _, w := range tt.want {
			if !strings.Contains(strings.Join(got, " ")+" ", w+" ") {
				t.Errorf("complete %v: %v lacks %s", tt.args, got, w)
			}
		}
		if tt.want == nil && len(got) != 0 {
			t.Errorf("complete %v: %v, want nothing", tt.args, got)
		}
	}
}

func TestApplyJSON(t *testing.T) {
	e := newEnv(t)
	decode := func(r result) applyJSON {
		t.Helper()
		var doc applyJSON
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("stdout is not one apply document: %v\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		}
		return doc
	}
	r := e.run(t, "apply", "--format", "json", e.fleet)
	expect(t, r, 1, `"errors"`, "add --auto-approve")

	r = e.run(t, "apply", "-auto-approve", "-format=json", e.fleet)
	doc := decode(r)
	if r.code != 0 || !doc.Converged || !doc.Complete || doc.Created != 7 || len(doc.Changes) != 7 || doc.Summary != "Apply complete!" {
		t.Fatalf("exit %d, document %+v", r.code, doc)
	}
	for _, c := range doc.Changes {
		if c.Status != "done" || c.Address == "" || c.Target == "" || c.Error != "" {
			t.Errorf("change %+v", c)
		}
	}
	if !strings.Contains(r.stderr, "✓ create account.alice on web1") {
		t.Errorf("progress is not on stderr:\n%s", r.stderr)
	}
	doc = decode(e.run(t, "apply", "-auto-approve", "-format=json", e.fleet))
	if doc.Summary != "Apply complete! Nothing to change." || len(doc.Changes) != 0 || doc.Errors == nil {
		t.Errorf("second apply: %+v", doc)
	}
}

// plan says what it reads: a line per server off a terminal, a line kept up to date
// (and cleared before the plan) on one.
func TestPlanReadingProgress(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "plan", e.fleet)
	expect(t, r, 0, "Read web1 (whm) in ", "[1/1]")
	c := testCLI()
	c.terminal = func(any) bool { return true }
	r = e.runWith(t, c, "plan", e.fleet)
	expect(t, r, 0, "\r\033[KReading the fleet: 0/1 · web1 · ")
	if !strings.HasSuffix(r.stderr, "\r\033[K") {
		t.Errorf("the reading line is not cleared:\n%q", r.stderr)
	}
	r = e.run(t, "plan", "--log-format", "json", e.fleet)
	expect(t, r, 0, `"msg":"read","scope":"web1","provider":"whm"`)
}
