package schema

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// MaxFileSize is the largest fleet file Tether reads (40 MiB, about 250k accounts).
// A bigger file is refused rather than risk memory on a shared CI runner; a fleet that
// large belongs in a folder, one file per parent.
const MaxFileSize = 40 << 20

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
	yamlFiles, cueFiles, ds := fleetFiles(path)
	if len(ds) > 0 {
		return nil, ds.Sort(), nil
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
	defer tuneGCForLoad(size)()
	f, more := build(sources, cueFiles, ds, defaultChunking)
	return f, more, nil
}

// build decodes and merges the fleet's files; pre holds problems already found while
// reading them. Check runs only when every file was read and parsed and the CUE part,
// if any, evaluated: rules over a fleet with missing pieces would report noise.
func build(sources []yamlSource, cueFiles []string, pre Diagnostics, ch chunking) (*Fleet, Diagnostics) {
	ds := pre
	parts, yds := decodeYAML(sources, ch)
	ds = append(ds, yds...)
	f := newFleet()
	m := merger{fleet: f, seen: map[string]Pos{}}
	for _, p := range parts {
		m.addPart(p)
	}
	loadFailed := false
	if len(cueFiles) > 0 {
		cf, cds := loadCUE(cueFiles)
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
	if !loadFailed {
		ds = append(ds, Check(f)...)
	}
	return f, ds.Sort()
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
		st, err := os.Stat(full) // follows symlinks: a linked file counts, a folder does not
		if err != nil || st.IsDir() {
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
		file, data := src.file, src.data
		if cd := checkText(file, data); len(cd) > 0 {
			ds = append(ds, cd...)
			continue
		}
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
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(all) {
					return
				}
				parts[i] = parseAndDecode(all[i])
			}
		}()
	}
	wg.Wait()

	var out []*part
	for _, j := range jobs {
		ps := parts[j.first : j.first+len(j.chunks)]
		failed := false
		for _, p := range ps {
			failed = failed || p.parseFailed
		}
		if failed && len(ps) > 1 {
			// A chunk that does not parse alone: parse the file whole, so the error
			// is the one the operator's file really has.
			ps = []*part{parseAndDecode(chunk{file: j.file, text: j.data})}
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

func parseAndDecode(c chunk) *part {
	doc, ds := parseYAML(c)
	if len(ds) > 0 {
		return &part{file: c.file, ds: ds, parseFailed: true}
	}
	return decodeDoc(c, doc)
}

// readFleetFile reads a regular file within the size limit. It reads at most one byte
// past the limit whatever Stat said, so a device or a growing file cannot make it
// read forever.
func readFleetFile(file string) ([]byte, *Diagnostic) {
	tooBig := func(size string) *Diagnostic {
		return &Diagnostic{Pos: Pos{File: file}, Rule: RuleLoad,
			Message: fmt.Sprintf("file is %s, over the %d MiB limit for one fleet file", size, MaxFileSize>>20),
			Fix:     "split the fleet into a folder with one file per parent"}
	}
	cannot := func(err error) *Diagnostic {
		return &Diagnostic{Pos: Pos{File: file}, Rule: RuleLoad, Message: fmt.Sprintf("cannot read %s: %v", file, unwrapPathErr(err)),
			Fix: "check the file exists and is readable"}
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, cannot(err)
	}
	if !st.Mode().IsRegular() {
		return nil, &Diagnostic{Pos: Pos{File: file}, Rule: RuleLoad, Message: fmt.Sprintf("%s is not a regular file", file),
			Fix: "point Tether at the fleet's YAML or CUE files, or at their folder"}
	}
	if st.Size() > MaxFileSize {
		return nil, tooBig(fmt.Sprintf("%.1f MiB", float64(st.Size())/(1<<20)))
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, cannot(err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, cannot(err)
	}
	if len(data) > MaxFileSize { // grew between Stat and reading
		return nil, tooBig("more than that")
	}
	return data, nil
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
		if f.Src.Fields == nil || f.Src.Fields[s.name].File == "" {
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
	for _, name := range sortedKeys(c.Nodes) {
		p.nodes = append(p.nodes, entry[*Node]{name, c.Nodes[name].Src.Key, c.Nodes[name]})
	}
	for _, name := range sortedKeys(c.Resellers) {
		p.resellers = append(p.resellers, entry[*Reseller]{name, c.Resellers[name].Src.Key, c.Resellers[name]})
	}
	for _, name := range sortedKeys(c.Accounts) {
		p.accounts = append(p.accounts, entry[*Account]{name, c.Accounts[name].Src.Key, c.Accounts[name]})
	}
	for _, name := range sortedKeys(c.DNSClusters) {
		p.clusters = append(p.clusters, entry[*DNSCluster]{name, c.DNSClusters[name].Src.Key, c.DNSClusters[name]})
	}
	if !m.fleet.Src.Key.IsValid() {
		m.fleet.Src = c.Src
	}
	m.addPart(p)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
