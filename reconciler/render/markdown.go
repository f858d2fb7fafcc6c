package render

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tether-dev/tether/reconciler/plan"
)

// MarkdownOptions tune the pull-request comment.
type MarkdownOptions struct {
	// MaxBytes caps the comment; what does not fit is elided and the comment says
	// so. 0 means DefaultMarkdownMaxBytes (forges refuse comments over 64 KiB).
	MaxBytes int
	// FoldAfter folds a parent's changes into <details> when there are more than
	// this many; 0 means 5.
	FoldAfter int
	// Title replaces the heading's first words ("Tether plan").
	Title string
}

// DefaultMarkdownMaxBytes leaves room under GitHub's 65,536-character limit.
const DefaultMarkdownMaxBytes = 60000

// Markdown writes the plan as one pull-request comment: a title with the summary,
// risky changes first with their reasons, the rest grouped by parent (folded when
// long), then warnings, unmanaged objects and observation errors.
func Markdown(w io.Writer, p *plan.Plan, opts MarkdownOptions) error {
	if p == nil {
		p = &plan.Plan{}
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMarkdownMaxBytes
	}
	if opts.FoldAfter <= 0 {
		opts.FoldAfter = 5
	}
	if opts.Title == "" {
		opts.Title = "Tether plan"
	}
	b := &budget{max: opts.MaxBytes}

	s := p.Summary
	title := fmt.Sprintf("### %s: ", opts.Title)
	if !p.Complete() {
		title += "⚠️ INCOMPLETE, "
	}
	if p.Empty() && !p.Complete() {
		title += "nothing to change in what could be read"
	} else if p.Empty() {
		title += "no changes"
	} else {
		title += fmt.Sprintf("%d to create, %d to change, %d to remove", s.Create, s.Change, s.Remove)
		if s.Risky > 0 {
			title += fmt.Sprintf(", **%d risky**", s.Risky)
		}
	}
	if s.Unmanaged > 0 {
		title += fmt.Sprintf(" · %d unmanaged", s.Unmanaged)
	}
	if len(p.Errors) > 0 {
		title += fmt.Sprintf(" · ⚠️ %d errors", len(p.Errors))
	}
	for _, f := range gateFlags(p) {
		title += fmt.Sprintf(" · 🔒 needs `%s`", f)
	}
	b.must(title + "\n\n")
	switch {
	case !p.Complete():
		b.must("**" + mdText(IncompleteHeadline(p)) + "**\n\n")
	case p.Empty():
		b.must("The fleet matches the configuration.\n\n")
	}

	// Gates come before the changes: the reviewer learns first what apply will refuse.
	if len(p.Gates) > 0 {
		b.must("#### Apply refuses this plan unless\n\n")
		list(b, p.Gates, func(g plan.Gate) string {
			return fmt.Sprintf("- **%s**: %s\n", mdText(GateLabel(g)), mdText(g.Message))
		}, "gates")
		b.must("\n")
	}

	// Errors come early: a reviewer must know the plan is partial before trusting it.
	if len(p.Errors) > 0 {
		b.must("**Errors** (nothing is planned where they apply):\n\n")
		list(b, p.Errors, func(e string) string { return "- " + mdText(e) + "\n" }, "errors")
		b.must("\n")
	}

	var risky, rest []*plan.Change
	for _, c := range p.Changes {
		if c.Flags.Risky() {
			risky = append(risky, c)
		} else {
			rest = append(rest, c)
		}
	}
	if len(risky) > 0 {
		b.must(fmt.Sprintf("#### Risky changes (%d)\n\n", len(risky)))
		b.must("| | change | risk | why |\n| --- | --- | --- | --- |\n")
		// Risky changes may take two thirds of the comment, so a long list of them
		// still leaves the reviewer a view of the rest.
		b.ceiling = b.Len() + (b.max-b.Len())*2/3
		list(b, risky, func(c *plan.Change) string {
			why := c.Reason
			for _, wn := range c.Warnings {
				why += "<br>⚠️ " + wn
			}
			return fmt.Sprintf("| `%s` | `%s` %s on `%s` | %s | %s |\n",
				Symbol(c.Action), c.Address, c.Action, c.Target,
				strings.Join(RiskMarks(c.Flags), ", "), mdCell(why))
		}, "risky changes")
		b.ceiling = 0
		b.must("\n")
	}

	if len(rest) > 0 {
		groups := map[string][]*plan.Change{}
		for _, c := range rest {
			groups[c.Parent] = append(groups[c.Parent], c)
		}
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		// Parents in name order; changes that belong to no parent (DNS-only nodes) last.
		sort.Slice(names, func(i, j int) bool {
			if (names[i] == "") != (names[j] == "") {
				return names[j] == ""
			}
			return names[i] < names[j]
		})
		b.must(fmt.Sprintf("#### Other changes (%d)\n\n", len(rest)))
		for _, g := range names {
			cs := groups[g]
			label := "parent `" + g + "`"
			if g == "" {
				label = "DNS-only nodes"
			}
			fold := len(cs) > opts.FoldAfter
			head := fmt.Sprintf("**%s** — %s\n\n", label, plural(len(cs), "change"))
			if fold {
				head = fmt.Sprintf("<details><summary>%s — %s</summary>\n\n", label, plural(len(cs), "change"))
			}
			if !b.try(head + "```diff\n") {
				b.elide(fmt.Sprintf("%d changes on %s", len(cs), label))
				continue
			}
			b.reserve(len("```\n</details>\n\n"))
			list(b, cs, func(c *plan.Change) string { return diffLine(c) }, "changes on "+label)
			b.release()
			b.must("```\n")
			if fold {
				b.must("</details>\n")
			}
			b.must("\n")
		}
	}

	if len(p.Warnings) > 0 {
		b.must("**Warnings**\n\n")
		list(b, p.Warnings, func(wn string) string { return "- " + mdText(wn) + "\n" }, "warnings")
		b.must("\n")
	}
	if len(p.Unmanaged) > 0 {
		open := fmt.Sprintf("<details><summary>Unmanaged objects (%d): on the servers, left alone</summary>\n\n", len(p.Unmanaged))
		if b.try(open) {
			b.reserve(len("\n</details>\n\n"))
			list(b, p.Unmanaged, func(u plan.Unmanaged) string {
				return fmt.Sprintf("- `%s` on `%s`: %s\n", u.Address, u.Target, mdText(u.Reason))
			}, "unmanaged objects")
			b.release()
			b.must("\n</details>\n\n")
		} else {
			b.elide(fmt.Sprintf("%d unmanaged objects", len(p.Unmanaged)))
		}
	}
	if len(p.Adoptable) > 0 {
		open := fmt.Sprintf("<details><summary>Adoptable objects (%d): declared and on the servers, not created by Tether, so never pruned until adopted (<code>tether adopt ADDRESS…</code>)</summary>\n\n", len(p.Adoptable))
		if b.try(open) {
			b.reserve(len("\n</details>\n\n"))
			list(b, p.Adoptable, func(a plan.Adoptable) string {
				return fmt.Sprintf("- `%s` on `%s`\n", a.Address, a.Target)
			}, "adoptable objects")
			b.release()
			b.must("\n</details>\n\n")
		} else {
			b.elide(fmt.Sprintf("%d adoptable objects", len(p.Adoptable)))
		}
	}
	if len(b.elided) > 0 {
		b.must(fmt.Sprintf("_Not shown, to keep this comment under %d bytes: %s. Run `tether plan` for the whole plan._\n",
			opts.MaxBytes, strings.Join(b.elided, "; ")))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// gateFlags lists the flags the plan's gates need, in order, without repeats.
func gateFlags(p *plan.Plan) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range p.Gates {
		if g.Flag != "" && !seen[g.Flag] {
			seen[g.Flag] = true
			out = append(out, g.Flag)
		}
	}
	return out
}

// diffLine is one change in a ```diff block: the first character colours it on
// forges (+ green, - red, ! orange), so it says the kind, and the action is spelled.
func diffLine(c *plan.Change) string {
	lead := "!"
	switch c.Action.Kind() {
	case "create":
		lead = "+"
	case "remove":
		lead = "-"
	}
	line := fmt.Sprintf("%s %-12s %s on %s", lead, c.Action, c.Address, c.Target)
	if fcs := fieldChanges(c); len(fcs) > 0 && c.Action != plan.Create && c.Action != plan.Delete {
		parts := make([]string, 0, len(fcs))
		for _, fc := range fcs {
			parts = append(parts, fc.path+": "+show(fc.before)+" → "+show(fc.after))
		}
		line += " (" + strings.Join(parts, "; ") + ")"
	}
	// A line break or fence inside a value must not end the code block.
	line = strings.NewReplacer("\n", " ", "```", "'''").Replace(line)
	return line + "\n"
}

// mdText keeps a value from changing the comment's structure.
func mdText(s string) string {
	return strings.NewReplacer("\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCell also keeps a value inside its table cell.
func mdCell(s string) string {
	s = strings.NewReplacer("\n", " ", "|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
	return strings.ReplaceAll(s, "&lt;br&gt;", "<br>")
}

// budget builds the comment within a size: structure (headings, closing tags) is
// always written, items only while they fit, and what did not fit is named.
type budget struct {
	strings.Builder
	max      int
	ceiling  int // a lower cap for one section; 0 means none
	reserved []int
	elided   []string
}

func (b *budget) room() int {
	limit := b.max
	if b.ceiling > 0 && b.ceiling < limit {
		limit = b.ceiling
	}
	r := limit - b.Len()
	for _, n := range b.reserved {
		r -= n
	}
	return r - 300 // the closing "not shown" note
}

func (b *budget) must(s string) { b.WriteString(s) }

func (b *budget) try(s string) bool {
	if len(s) > b.room() {
		return false
	}
	b.WriteString(s)
	return true
}

func (b *budget) reserve(n int) { b.reserved = append(b.reserved, n) }
func (b *budget) release()      { b.reserved = b.reserved[:len(b.reserved)-1] }

func (b *budget) elide(what string) { b.elided = append(b.elided, what) }

// list writes items while they fit and notes how many did not.
func list[T any](b *budget, items []T, line func(T) string, what string) {
	for i, it := range items {
		if !b.try(line(it)) {
			b.elide(fmt.Sprintf("%d of %d %s", len(items)-i, len(items), what))
			return
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
