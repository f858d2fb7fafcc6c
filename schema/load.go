package schema

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tether-dev/tether/schema/fastyaml"
)

// Load reads a fleet from path: one file, or a folder whose *.yaml, *.yml and *.cue
// files (not sub-folders, not dot-files) are merged into one fleet; an object declared
// in two files is an error at the second naming the first. Every problem is returned
// as a diagnostic, sorted, with positions in the files as path names them (relative
// stays relative); the cross-object rules (Check) run only when every file could be
// read and parsed. The fleet holds what could be decoded and is trustworthy only when
// there are no diagnostics; it is nil when no file could be listed at all. The error
// is for failures that are not the fleet's fault (none today): a missing path, an
// empty folder or a broken file is a TETHER-LOAD diagnostic.
//
// YAML fleets are one document per file, UTF-8, at most MaxFileSize; anchors, aliases
// and merge keys ("<<: *defaults") work, and top-level keys starting with "x-" are
// ignored so they can hold anchored templates.
func Load(path string) (*Fleet, Diagnostics, error) {
	return LoadWith(path, nil)
}

// LoadWith is Load with more checks: also runs on the merged fleet beside the rules
// (Check), on another core, and its diagnostics are the result only when the load
// and the rules found none, as if it ran after them on a valid fleet (its
// diagnostics are dropped otherwise). It must only read the fleet, and must not
// assume the rules hold. Tether passes the providers' capability check
// (providers.Check, a layer above this one): on a large fleet it was a step of its
// own on one core between the load and the first server call.
func LoadWith(path string, also func(*Fleet) Diagnostics) (*Fleet, Diagnostics, error) {
	f, ds, _ := loadWith(path, true, also)
	return f, ds, nil
}

// load is Load; lean lets a CUE fleet try the lean schema first (cue_lean.go), and
// byLean reports that its result is the lean one (tests hold both ways equal).
func load(path string, lean bool) (f *Fleet, ds Diagnostics, byLean bool) {
	return loadWith(path, lean, nil)
}

func loadWith(path string, lean bool, also func(*Fleet) Diagnostics) (f *Fleet, ds Diagnostics, byLean bool) {
	yamlFiles, cueFiles, ds := fleetFiles(path)
	if len(ds) > 0 {
		return nil, ds.Sort(), false
	}
	var sources []yamlSource
	var size int64
	for _, file := range yamlFiles {
		data, d := readFleetFile(file)
		if d != nil {
			ds = append(ds, *d)
			continue
		}
		sources = append(sources, yamlSource{file, data})
		size += int64(len(data))
	}
	for _, file := range cueFiles {
		// Evaluating CUE allocates far more per byte of source than decoding YAML (a
		// 0.5 MB fleet of 10k accounts written as a comprehension peaks near 400 MB),
		// so its files weigh more in the collector's tuning. The file is read (and
		// checked) later; a failed Stat only leaves the tuning as it would be.
		if st, err := os.Stat(file); err == nil {
			size += st.Size() * cueAllocWeight
		}
	}
	defer tuneGCForLoad(size)()
	return buildFleet(sources, cueFiles, ds, defaultChunking, lean, also)
}

// build decodes and merges the fleet's files; pre holds problems already found while
// reading them. Check runs only when every file was read and parsed and the CUE part,
// if any, evaluated: rules over a fleet with missing pieces would report noise.
func build(sources []yamlSource, cueFiles []string, pre Diagnostics, ch chunking) (*Fleet, Diagnostics) {
	f, ds, _ := buildFleet(sources, cueFiles, pre, ch, true, nil)
	return f, ds
}

// buildFleet is build; with lean, CUE files are evaluated with the lean schema first,
// and that result stands when the whole schema would have found the CUE files clean
// too: they evaluated and merged clean, and Check reports none of the rules a
// violation of an omitted rule shows up as (leanOmittedAs, which says where Check
// reaches each omitted rule), so the diagnostics are Check's either way. It
// also stands when a bound stopped the evaluation (the whole schema is more of the
// same work). Otherwise the fleet is built again with the whole schema, for exactly
// its diagnostics; the YAML parts are decoded once for both (merging only reads them).
// also is LoadWith's.
func buildFleet(sources []yamlSource, cueFiles []string, pre Diagnostics, ch chunking, lean bool, also func(*Fleet) Diagnostics) (*Fleet, Diagnostics, bool) {
	parts, yds := decodeYAML(sources, ch)
	if len(cueFiles) == 0 {
		f, ds, _ := assemble(pre, parts, yds, nil, also)
		return f, ds, false
	}
	if lean && len(pre) == 0 && len(yds) == 0 {
		var v leanVerdict
		f, ds, merged := assemble(nil, parts, nil, func() (*Fleet, Diagnostics) {
			cf, cds, verdict := loadCUELean(cueFiles)
			v = verdict
			return cf, cds
		}, also)
		if v == leanStopped || v == leanEvaluated && merged && !ds.anyRule(leanOmittedAs) {
			return f, ds, true
		}
	}
	f, ds, _ := assemble(pre, parts, yds, func() (*Fleet, Diagnostics) { return loadCUE(cueFiles) }, also)
	return f, ds, false
}

// assemble merges the decoded YAML parts and the CUE files (evaluated by cue, when
// there are any) into one fleet and checks it. merged reports that every file was
// read, evaluated and merged without a problem: the diagnostics, if any, are Check's
// (or also's, see LoadWith).
func assemble(pre Diagnostics, parts []*part, yds Diagnostics, cue func() (*Fleet, Diagnostics), also func(*Fleet) Diagnostics) (f *Fleet, ds Diagnostics, merged bool) {
	ds = append(slices.Clip(pre), yds...)
	// The fleet's maps sized for the parts' objects once: 100k accounts inserted into
	// a map grown by doubling were most of the merge's time.
	var nodes, resellers, accounts, clusters int
	for _, p := range parts {
		nodes, resellers, accounts, clusters = nodes+len(p.nodes), resellers+len(p.resellers), accounts+len(p.accounts), clusters+len(p.clusters)
	}
	f = &Fleet{
		Nodes:       make(map[string]*Node, nodes),
		Resellers:   make(map[string]*Reseller, resellers),
		Accounts:    make(map[string]*Account, accounts),
		DNSClusters: make(map[string]*DNSCluster, clusters),
	}
	m := merger{fleet: f, seen: map[string]Pos{}}
	for _, p := range parts {
		m.addPart(p)
	}
	loadFailed := false
	if cue != nil {
		cf, cds := cue()
		ds = append(ds, cds...)
		if cf != nil {
			m.addFleet(cf)
		} else {
			// The CUE part did not evaluate: the fleet is missing its objects, and
			// rules run on the rest would report references to them as broken.
			loadFailed = true
		}
	}
	ds = append(ds, m.ds...)
	for _, d := range ds {
		loadFailed = loadFailed || d.Rule == RuleLoad
	}
	merged = !loadFailed && len(ds) == 0
	if !loadFailed {
		type alsoResult struct {
			ds       Diagnostics
			panicked bool
		}
		var alsoDone chan alsoResult
		if also != nil && merged {
			alsoDone = make(chan alsoResult, 1)
			go func() {
				r := alsoResult{panicked: true}
				// A fleet the rules reject may break what also assumes; if the
				// rules accept it, also runs again below and its panic is the
				// caller's, as it would have been.
				defer func() { _ = recover(); alsoDone <- r }()
				r.ds = also(f)
				r.panicked = false
			}()
		}
		ds = append(ds, Check(f)...)
		if alsoDone != nil {
			r := <-alsoDone
			if len(ds) == 0 {
				if r.panicked {
					r.ds = also(f)
				}
				ds = r.ds
			}
		}
	}
	return f, ds.Sort(), merged
}

func newFleet() *Fleet {
	return &Fleet{
		Nodes:       map[string]*Node{},
		Resellers:   map[string]*Reseller{},
		Accounts:    map[string]*Account{},
		DNSClusters: map[string]*DNSCluster{},
	}
}

// fleetFiles lists the files to load, sorted, or says why there are none.
func fleetFiles(path string) (yamlFiles, cueFiles []string, ds Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		msg := fmt.Sprintf("cannot read fleet %s: %v", path, unwrapPathErr(err))
		fix := "give the path of a fleet file or of a folder of *.yaml, *.yml or *.cue files"
		ds.Add(Pos{File: path}, RuleLoad, msg, fix)
		return nil, nil, ds
	}
	if !fi.IsDir() {
		if strings.HasSuffix(path, ".cue") {
			return nil, []string{path}, nil
		}
		return []string{path}, nil, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		ds.Add(Pos{File: path}, RuleLoad, fmt.Sprintf("cannot list folder %s: %v", path, unwrapPathErr(err)), "check the folder's permissions")
		return nil, nil, ds
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		ext := filepath.Ext(name)
		if ext != ".yaml" && ext != ".yml" && ext != ".cue" {
			continue
		}
		full := filepath.Join(path, name)
		// Stat follows links: a linked folder is skipped like a folder. Anything else
		// with a fleet extension is the fleet's, and readFleetFile says why it cannot
		// be read (a dangling link, a FIFO): skipping it would drop its objects
		// from the fleet, which a plan would then remove.
		if st, err := os.Stat(full); err == nil && st.IsDir() {
			continue
		}
		if ext == ".cue" {
			cueFiles = append(cueFiles, full)
		} else {
			yamlFiles = append(yamlFiles, full)
		}
	}
	if len(yamlFiles)+len(cueFiles) == 0 {
		ds.Add(Pos{File: path}, RuleLoad, fmt.Sprintf("folder %s holds no fleet files", path),
			"add the fleet as *.yaml, *.yml or *.cue files in this folder; sub-folders are not read")
	}
	sort.Strings(yamlFiles)
	sort.Strings(cueFiles)
	return yamlFiles, cueFiles, ds
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// yamlSource is the content of one YAML file.
type yamlSource struct {
	file string
	data []byte
}

// decodeYAML parses and decodes YAML files, chunks in parallel, and returns the parts
// in file and chunk order.
func decodeYAML(sources []yamlSource, ch chunking) ([]*part, Diagnostics) {
	var ds Diagnostics
	type fileJob struct {
		file   string
		data   []byte
		chunks []chunk
		first  int // index of its first chunk in all
	}
	var jobs []*fileJob
	var all []chunk
	for _, src := range sources {
		// The text was checked by readFleetFile (tests check theirs themselves).
		file, data := src.file, src.data
		j := &fileJob{file: file, data: data, chunks: splitYAML(file, data, ch), first: len(all)}
		all = append(all, j.chunks...)
		jobs = append(jobs, j)
	}

	if len(all) == 0 {
		return nil, ds
	}
	parts := make([]*part, len(all))
	workers := min(runtime.GOMAXPROCS(0), len(all))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One fast YAML parser a worker: each chunk's tree is built in the
			// memory of the one before, dead once decoded.
			fp := new(fastyaml.Parser)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(all) {
					return
				}
				parts[i] = parseAndDecode(all[i], fp)
			}
		}()
	}
	wg.Wait()

	var out []*part
	for _, j := range jobs {
		ps := parts[j.first : j.first+len(j.chunks)]
		if k := slices.IndexFunc(ps, func(p *part) bool { return p.parseFailed }); k >= 0 && len(ps) > 1 {
			// A chunk that does not parse alone. Its error may be an artefact of the
			// cut (a flow collection running on into the next chunk): then the rest
			// of the file from its start parses as one chunk and only that is parsed
			// again. Otherwise the whole file is parsed for its exact error.
			suffix := j.chunks[k].suffix()
			rest := parseAndDecode(suffix, nil)
			switch {
			case rest.parseFailed:
				// The file really has an error. Only the whole file reports it where
				// the operator's parser would: libyaml places an error at the start
				// of the construct it is in, and drops the line of one that starts on
				// a document's first line, so a suffix can name another line (found
				// by FuzzLoadYAML). Errors are rare; the whole parse is their price.
				ps = []*part{parseAndDecode(chunk{file: j.file, text: j.data}, nil)}
			default:
				ps = append(ps[:k:k], rest)
			}
		}
		for _, p := range ps {
			if p.parseFailed {
				ds = append(ds, p.ds...)
				continue
			}
			out = append(out, p)
		}
	}
	return out, ds
}

// parseAndDecode parses and decodes one chunk; fp (nil: a parser of its own) builds
// the tree when the fast path takes the chunk. Nothing decoded keeps a node: the part
// holds positions and values, so fp may reuse the tree's memory for the next chunk.
func parseAndDecode(c chunk, fp *fastyaml.Parser) *part {
	doc, ds := parseYAML(c, fp)
	if len(ds) > 0 {
		return &part{file: c.file, ds: ds, parseFailed: true}
	}
	return decodeDoc(c, doc)
}

// merger folds parts (and CUE fleets) into one fleet; a name declared twice is an
// error at the second declaration naming the first.
type merger struct {
	fleet *Fleet
	seen  map[string]Pos // "file\x00section" -> position of the section key in that file
	ds    Diagnostics
}

func (m *merger) dup(second Pos, what string, first Pos) {
	m.dupFix(second, what, first, "keep one declaration; names are unique across the whole fleet")
}

func (m *merger) dupFix(second Pos, what string, first Pos, fix string) {
	where := first.String()
	if first.File == second.File && first.Line > 0 {
		where = fmt.Sprintf("line %d", first.Line)
	}
	m.ds.Add(second, RuleSchema, fmt.Sprintf("%s is declared twice; first at %s", what, where), fix)
}

func (m *merger) addPart(p *part) {
	f := m.fleet
	m.ds = append(m.ds, p.ds...)
	for _, s := range p.sections {
		k := p.file + "\x00" + s.name
		if first, ok := m.seen[k]; ok {
			m.dupFix(s.pos, "section "+s.name, first, "move its entries under the first "+s.name+": and remove this one")
			continue
		}
		m.seen[k] = s.pos
		if p, _ := f.Src.Lookup(s.name); p.File == "" {
			f.Src.Set(s.name, s.pos)
		}
		if !f.Src.Key.IsValid() {
			f.Src.Key = Pos{File: p.file, Line: 1, Col: 1}
		}
	}
	if p.policy != nil {
		m.setPolicy(p.policy)
	}
	for _, e := range p.nodes {
		if old, ok := f.Nodes[e.name]; ok {
			m.dup(e.pos, "node "+e.name, old.Src.Key)
			continue
		}
		f.Nodes[e.name] = e.v
	}
	for _, e := range p.resellers {
		if old, ok := f.Resellers[e.name]; ok {
			m.dup(e.pos, "reseller "+e.name, old.Src.Key)
			continue
		}
		if old, ok := f.Accounts[e.name]; ok {
			m.dup(e.pos, "reseller "+e.name+" is also an account: cPanel user "+e.name, old.Src.Key)
			continue
		}
		f.Resellers[e.name] = e.v
	}
	for _, e := range p.accounts {
		if old, ok := f.Accounts[e.name]; ok {
			m.dup(e.pos, "account "+e.name, old.Src.Key)
			continue
		}
		if old, ok := f.Resellers[e.name]; ok {
			m.dup(e.pos, "account "+e.name+" is also a reseller: cPanel user "+e.name, old.Src.Key)
			continue
		}
		f.Accounts[e.name] = e.v
	}
	for _, e := range p.clusters {
		if old, ok := f.DNSClusters[e.name]; ok {
			m.dup(e.pos, "DNS cluster "+e.name, old.Src.Key)
			continue
		}
		f.DNSClusters[e.name] = e.v
	}
}

func (m *merger) setPolicy(p *Policy) {
	if m.fleet.Policy != nil {
		m.dupFix(p.Src.Key, "policy", m.fleet.Policy.Src.Key, "keep one policy: for the whole fleet")
		return
	}
	m.fleet.Policy = p
}

// addFleet merges a fleet decoded elsewhere (a CUE instance) into the YAML one.
func (m *merger) addFleet(c *Fleet) {
	p := &part{}
	p.policy = c.Policy
	for _, name := range slices.Sorted(maps.Keys(c.Nodes)) {
		p.nodes = append(p.nodes, entry[*Node]{name, c.Nodes[name].Src.Key, c.Nodes[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Resellers)) {
		p.resellers = append(p.resellers, entry[*Reseller]{name, c.Resellers[name].Src.Key, c.Resellers[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Accounts)) {
		p.accounts = append(p.accounts, entry[*Account]{name, c.Accounts[name].Src.Key, c.Accounts[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(c.DNSClusters)) {
		p.clusters = append(p.clusters, entry[*DNSCluster]{name, c.DNSClusters[name].Src.Key, c.DNSClusters[name]})
	}
	if !m.fleet.Src.Key.IsValid() {
		m.fleet.Src = c.Src
	}
	m.addPart(p)
}
