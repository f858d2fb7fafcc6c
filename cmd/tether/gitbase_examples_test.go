package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleCommands finds the tether command lines of a CI or systemd example: shell
// continuations are joined, and each command ends at a redirection, pipe or ';'.
func exampleCommands(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	// A GitHub expression (${{ github.base_ref }}) is one word to the shell.
	text = regexp.MustCompile(`\$\{\{[^}]*\}\}`).ReplaceAllString(text, "EXPR")
	var out [][]string
	re := regexp.MustCompile(`(?:^|[\s;:=])(?:/usr/local/bin/)?tether\s+((?:validate|plan|apply|watch)\b[^;|>&\n]*)`)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			var args []string
			for _, f := range strings.Fields(m[1]) {
				// A shell array of flags ("${gates[@]}") is checked on its own.
				if strings.Contains(f, "[@]}") {
					continue
				}
				args = append(args, strings.Trim(f, `"'`))
			}
			out = append(out, args)
		}
	}
	return out
}

// The CI and systemd examples use only flags the commands have.
func TestExamplesUseRealFlags(t *testing.T) {
	files, _ := filepath.Glob("../../examples/ci/*.yml")
	files = append(files, "../../examples/systemd/tether-watch.service")
	seen := map[string]bool{}
	for _, f := range files {
		cmds := exampleCommands(t, f)
		if len(cmds) == 0 {
			t.Errorf("%s: no tether command found", f)
		}
		for _, args := range cmds {
			for _, rw := range argRewriters {
				args = rw(args)
			}
			root := newRoot(testCLI())
			cmd, rest, err := root.Find(args)
			if err != nil {
				t.Errorf("%s: tether %s: %v", f, strings.Join(args, " "), err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: tether %s: %v", f, strings.Join(args, " "), err)
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("%s: tether %s: %v", f, strings.Join(args, " "), err)
			}
			seen[cmd.Name()] = true
			for _, fl := range []string{"git-base", "format", "detailed-exitcode", "out"} {
				if cmd.Name() == "plan" && strings.Contains(strings.Join(args, " "), "markdown") && !cmd.Flags().Changed(fl) {
					t.Errorf("%s: the pull-request plan does not set --%s", f, fl)
				}
			}
			if strings.HasSuffix(f, ".yml") {
				checkCIStep(t, f, cmd.Name(), cmd.Flags().Args(), cmd.Flags().Changed)
			}
		}
	}
	for _, c := range []string{"plan", "apply", "watch"} {
		if !seen[c] {
			t.Errorf("no example runs tether %s", c)
		}
	}
}

// checkCIStep holds a CI example's tether command to the GitOps rules: an apply
// applies the saved, reviewed plan (never a fresh plan of the fleet), from the
// reviewed checkout, and no gate is lifted in the workflow itself.
func checkCIStep(t *testing.T, file, name string, args []string, changed func(string) bool) {
	t.Helper()
	for _, gate := range []string{"force", "allow-data-loss", "partial"} {
		if changed(gate) {
			t.Errorf("%s: tether %s passes --%s in the workflow: gates are lifted by a reviewed tether.gates, not by editing CI", file, name, gate)
		}
	}
	if name != "apply" {
		return
	}
	if len(args) != 1 || !strings.HasSuffix(args[0], ".plan") {
		t.Errorf("%s: tether apply %v: CI must apply the saved, reviewed plan (PLANFILE)", file, args)
	}
	if !changed("fleet") {
		t.Errorf("%s: tether apply of a saved plan without --fleet: the apply job checks the reviewed commit out elsewhere", file)
	}
}

// The CI examples keep the reviewed plan and apply it: the plan job uploads it, the
// apply job downloads it and never plans; gates come from tether.gates, checked
// against the allowed flags; the plan comment is found by its marker; a pull request's
// job gets read-only tokens.
func TestCIExamplesApplyTheReviewedPlan(t *testing.T) {
	files, _ := filepath.Glob("../../examples/ci/*.yml")
	if len(files) < 2 {
		t.Fatalf("want the GitHub and GitLab examples, found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range []string{
			"tether.plan",                            // saved by plan, applied by apply
			"tether.gates",                           // the reviewed file of gates
			"--force|--allow-data-loss|--partial)",   // the only flags it may hold
			`PLAN_MARKER: "<!-- tether-plan -->"`,    // the comment's marker
			`git diff --quiet "$head" HEAD -- fleet`, // main holds what was reviewed
			"_PLAN_TOKEN",                            // plan jobs' read-only tokens
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
		if strings.Contains(text, "--edit-last") {
			t.Errorf("%s edits the last comment, whoever wrote it: find the plan's by its marker", f)
		}
		plans := 0
		for _, args := range exampleCommands(t, f) {
			if args[0] == "plan" {
				plans++
			}
		}
		if plans != 1 {
			t.Errorf("%s runs tether plan %d times: once, in the review job (apply never plans again)", f, plans)
		}
	}
}
