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
			for _, fl := range []string{"git-base", "format", "detailed-exitcode"} {
				if cmd.Name() == "plan" && strings.Contains(strings.Join(args, " "), "markdown") && !cmd.Flags().Changed(fl) {
					t.Errorf("%s: the pull-request plan does not set --%s", f, fl)
				}
			}
		}
	}
	for _, c := range []string{"plan", "apply", "watch"} {
		if !seen[c] {
			t.Errorf("no example runs tether %s", c)
		}
	}
}
