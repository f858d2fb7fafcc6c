package workspace

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/internal/engine"
	"github.com/tether-dev/tether/internal/fleetcode"
	"github.com/tether-dev/tether/internal/importer"
	"github.com/tether-dev/tether/internal/session"
	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/schema"
)

// ImportCounter counts the scopes (parents, DNS members) read so far and the
// accounts they held, for a progress line: long imports of thousands of accounts
// should not look hung.
type ImportCounter struct {
	Total    atomic.Int64
	Done     atomic.Int64
	Failed   atomic.Int64
	Accounts atomic.Int64
}

// countingProvider is a provider whose observations are counted as they finish.
type countingProvider struct {
	providers.Provider
	c *ImportCounter
}

// Counting wraps a provider so its observations are counted in c.
func Counting(p providers.Provider, c *ImportCounter) providers.Provider {
	return countingProvider{p, c}
}

func (p countingProvider) Observe(ctx context.Context, scope string, desired *schema.Fleet) (*schema.Fleet, error) {
	f, err := p.Provider.Observe(ctx, scope, desired)
	if err != nil {
		p.c.Failed.Add(1)
	} else if f != nil {
		p.c.Accounts.Add(int64(len(f.Accounts)))
	}
	p.c.Done.Add(1)
	return f, err
}

// Import reads a live fleet starting from the parents declared (their accounts,
// resellers and clusters are ignored) through the same provider code as plan, and
// builds its fleet code. Scopes that could not be read are returned as errors beside
// what was read; counter, when given, counts the reads as they finish.
func Import(ctx context.Context, sess *session.Session, declared *schema.Fleet, parallelism int, counter *ImportCounter) (*importer.Result, []error) {
	provs := providerList(sess.Providers)
	if counter != nil {
		for i, p := range provs {
			counter.Total.Add(int64(len(p.Scopes(declared))))
			provs[i] = Counting(p, counter)
		}
	}
	observed, errs := engine.Observe(ctx, provs, declared, parallelism)
	if len(errs) > 0 && len(observed.Nodes) == 0 {
		return nil, errs
	}
	return importer.Build(declared, observed), errs
}

// WriteImport writes an import's fleet to dir as format (yaml or cue): one file, or
// one per parent when splitBy is "parent". A folder that already holds fleet files is
// refused unless force.
func WriteImport(dir string, res *importer.Result, format, splitBy string, force bool) ([]string, error) {
	parts := map[string]*schema.Fleet{"fleet": res.Fleet}
	if splitBy == "parent" {
		parts = fleetcode.SplitByParent(res.Fleet)
	}
	// The files of a folder are merged into one fleet: writing beside fleet files
	// already there would declare everything twice, and the duplicates would look
	// like the servers' fault. Refused unless the operator says --force.
	if !force {
		if have := fleetFiles(dir); len(have) > 0 {
			return nil, fmt.Errorf("--out %s already holds fleet files (%s), which would be merged with the import into one fleet that declares everything twice: choose an empty folder, or add --force to write there anyway", dir, strings.Join(have, ", "))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	stems := make([]string, 0, len(parts))
	for s := range parts {
		stems = append(stems, s)
	}
	sort.Strings(stems)
	var written []string
	for _, stem := range stems {
		name := filepath.Join(dir, stem+"."+format)
		if _, err := os.Stat(name); err == nil && !force {
			return written, fmt.Errorf("%s exists: choose another --out or add --force", name)
		}
		var buf bytes.Buffer
		header := "Imported by `tether import` on " + time.Now().UTC().Format("2006-01-02") + ". Review, then commit."
		var err error
		if format == "cue" {
			err = fleetcode.CUE(&buf, parts[stem], header, res.Comments)
		} else {
			err = fleetcode.YAML(&buf, parts[stem], header, res.Comments)
		}
		if err != nil {
			return written, fmt.Errorf("write %s: %w", name, err)
		}
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			return written, err
		}
		written = append(written, name)
	}
	return written, nil
}

// fleetFiles lists the files of dir that schema.Load would read as fleet files.
func fleetFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".cue":
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}
