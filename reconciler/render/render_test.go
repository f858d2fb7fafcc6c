package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

func bigPlan(n int) *plan.Plan {
	p := &plan.Plan{FormatVersion: plan.FormatVersion}
	for i := range n {
		user := fmt.Sprintf("user%05d", i)
		c := &plan.Change{
			Address: plan.AccountAddress(user), Action: plan.Update,
			Before: &schema.Account{Parent: "web1", Domain: user + ".example", Plan: "basic"},
			After:  &schema.Account{Parent: "web1", Domain: user + ".example", Plan: "pro"},
			Fields: []string{"plan"}, Reason: "plan differs on web1", Provider: "whm", Target: "web1", Parent: fmt.Sprintf("web%d", i%3),
		}
		if i%10 == 0 {
			c.Action, c.Flags = plan.Dedistribute, plan.Flags{Disruptive: true}
		}
		c.ID = plan.ChangeID(c.Address, c.Action)
		p.Changes = append(p.Changes, c)
		p.Unmanaged = append(p.Unmanaged, plan.Unmanaged{Address: "account.x" + user, Target: "web1", Reason: "not in the fleet"})
	}
	p.Summary = plan.Summarize(p.Changes, len(p.Unmanaged))
	return p
}

func TestMarkdownFitsAndSaysWhatWasElided(t *testing.T) {
	tests := []struct {
		name     string
		n, max   int
		elided   bool
		folded   bool
		contains []string
	}{
		{name: "small plan shown whole", n: 4, max: 0, contains: []string{"4 to change", "**parent `web1`** — 1 change", "Risky changes (1)"}},
		{name: "long groups fold", n: 40, max: 0, folded: true, contains: []string{"<details><summary>parent `web0` — 12 changes</summary>"}},
		{name: "huge plan is capped", n: 5000, max: 20000, folded: true, elided: true, contains: []string{"Not shown, to keep this comment under 20000 bytes", "Run `tether plan` for the whole plan"}},
		{name: "default cap holds a review", n: 5000, max: 0, folded: true, elided: true, contains: []string{"of 500 risky changes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, bigPlan(tt.n), MarkdownOptions{MaxBytes: tt.max}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			limit := tt.max
			if limit == 0 {
				limit = DefaultMarkdownMaxBytes
			}
			if len(out) > limit {
				t.Errorf("comment is %d bytes, over the cap of %d", len(out), limit)
			}
			if got := strings.Contains(out, "Not shown"); got != tt.elided {
				t.Errorf("elision note present: %v, want %v", got, tt.elided)
			}
			if got := strings.Contains(out, "<details><summary>parent"); got != tt.folded {
				t.Errorf("folded: %v, want %v", got, tt.folded)
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("comment lacks %q", s)
				}
			}
			// Structure survives elision: every fence and fold is closed.
			if strings.Count(out, "```")%2 != 0 || strings.Count(out, "<details>") != strings.Count(out, "</details>") {
				t.Error("an unclosed code block or <details> in the comment")
			}
			// Risky changes come before the rest.
			if r, o := strings.Index(out, "Risky changes"), strings.Index(out, "Other changes"); r < 0 || (o >= 0 && o < r) {
				t.Error("risky changes are not first")
			}
		})
	}
}

func TestTextEmptyAndColour(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, &plan.Plan{}, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(stripANSI(b.String())); got != "No changes. The fleet matches the configuration." {
		t.Errorf("empty plan: %q", got)
	}
	p := bigPlan(3)
	b.Reset()
	if err := Text(&b, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := b.String()
	if strings.Contains(plain, "\x1b[") {
		t.Error("colour without being asked")
	}
	for _, s := range []string{"1 change is risky (marked !! or ! above).\nPlan: 0 to create, 3 to change, 0 to remove.\n", `plan = "basic" → "pro"`, "! disruptive", "<- account.user00000"} {
		if !strings.Contains(plain, s) {
			t.Errorf("text lacks %q:\n%s", s, plain)
		}
	}
	b.Reset()
	if err := Text(&b, p, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[") || stripANSI(b.String()) != plain {
		t.Error("coloured text must be the plain text plus escapes")
	}
}

func stripANSI(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// failWriter fails every write: renders must return the error, not panic or hide it.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestRendersReportWriteErrors(t *testing.T) {
	p := bigPlan(2)
	if err := Text(failWriter{}, p, TextOptions{}); err == nil {
		t.Error("Text: want the write error")
	}
	if err := JSON(failWriter{}, p); err == nil {
		t.Error("JSON: want the write error")
	}
	if err := Markdown(failWriter{}, p, MarkdownOptions{}); err == nil {
		t.Error("Markdown: want the write error")
	}
}

func TestJSONEmptyPlanHasEmptyChanges(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["format_version"] != plan.FormatVersion {
		t.Errorf("format_version %v", m["format_version"])
	}
	if c, ok := m["changes"].([]any); !ok || len(c) != 0 {
		t.Errorf("changes %v, want []", m["changes"])
	}
	for _, k := range []string{"summary", "source"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b.String())
		}
	}
}

func TestMarkdownKeepsValuesInTheirPlace(t *testing.T) {
	p := &plan.Plan{Changes: []*plan.Change{{
		ID: "account.a/delete", Address: "account.a", Action: plan.Delete, Flags: plan.Flags{Destructive: true},
		Reason: "a | b\n<script>```", Target: "web1", Parent: "web1", Provider: "whm",
	}}, Errors: []string{"line1\nline2 <b>"}}
	p.Summary = plan.Summarize(p.Changes, 0)
	var b bytes.Buffer
	if err := Markdown(&b, p, MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>", "<b>", "a | b", "line1\nline2"} {
		if strings.Contains(out, bad) {
			t.Errorf("comment contains %q unescaped:\n%s", bad, out)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	tests := []struct {
		p    *plan.Plan
		want string
	}{
		{&plan.Plan{}, "No changes. The fleet matches the configuration."},
		{&plan.Plan{Errors: []string{"observe web2 (whm): timeout"}}, "Incomplete plan: nothing to change in what could be read, but parts of the fleet are unknown (see the errors above)."},
		{&plan.Plan{Unread: []plan.Unread{{Scope: "mail1", Reason: "HTTP 500"}}}, "Incomplete plan: nothing to change in what could be read, but parts of the fleet are unknown (see the errors above)."},
		{&plan.Plan{Changes: []*plan.Change{{Action: plan.Create}}, Summary: plan.Summary{Create: 3, Change: 1}}, "Plan: 3 to create, 1 to change, 0 to remove."},
	}
	for _, tt := range tests {
		if got := SummaryLine(tt.p); got != tt.want {
			t.Errorf("SummaryLine = %q, want %q", got, tt.want)
		}
	}
}
