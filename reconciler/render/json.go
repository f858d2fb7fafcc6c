package render

import (
	"encoding/json"
	"io"

	"github.com/tether-dev/tether/reconciler/plan"
)

// JSON writes the plan in the documented, versioned format (JSON.md). The plan's own
// field tags are the schema; this only makes sure empty lists are [] rather than
// null, so a consumer never has to tell the two apart.
func JSON(w io.Writer, p *plan.Plan) error {
	if p == nil {
		p = &plan.Plan{}
	}
	out := *p
	if out.FormatVersion == "" {
		out.FormatVersion = plan.FormatVersion
	}
	if out.Changes == nil {
		out.Changes = []*plan.Change{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}
