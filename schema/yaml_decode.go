package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree into the fleet model by hand. Walking lets it
// record the position of every field, report every problem at once (unknown fields,
// wrong types, duplicate keys) and stay linear; a node visit is charged against a budget
// so aliases cannot expand a small file into a huge tree (the "billion laughs" bomb).

// Known field names, in the order the documentation shows them, from the field
// table (fields.go); used for unknown-field suggestions and required fields.
var (
	sectionFields     = fieldNames("Fleet", "")
	policyFields      = fieldNames("Policy", "")
	nodeFields        = fieldNames("Node", "")
	tlsFields         = fieldNames("TLS", "")
	credentialFields  = fieldNames("Credentials", "")
	accountFields     = fieldNames("Account", "")
	resellerFields    = fieldNames("Reseller", "")
	mailFields        = fieldNames("Account", "mail")
	autosslFields     = fieldNames("Account", "autossl")
	forwarderFields   = fieldNames("Forwarder", "")
	limitFields       = fieldNames("Reseller", "limits")
	clusterFields     = fieldNames("DNSCluster", "")
	memberFields      = fieldNames("Member", "")
	tsigFields        = fieldNames("TSIG", "")
	nodeRequired      = requiredNames("Node")
	accountRequired   = requiredNames("Account")
	forwarderRequired = requiredNames("Forwarder")
	memberRequired    = requiredNames("Member")
	tsigRequired      = requiredNames("TSIG")
	passwordKinds     = []string{"default", "createacct", "passwd", "ftp", "list", "mysql", "postgres", "sshkey", "virtual"}
	roleValues        = []string{RoleParent, RoleChild, RoleDNSOnly}
	profileValues     = []string{ProfileStandard, ProfileMailNode, ProfileDNSNode, ProfileDatabase}
	serviceValues     = []string{ServiceMail}
	softwareValues    = []string{"bind", "knot", "powerdns"}
	dnsRoleValues     = []string{DNSRoleStandalone, DNSRoleSync, DNSRoleWriteOnly}
	driftValues       = []string{"warn", "correct"}
	dcvValues         = []string{"dns", "http"}
	tsigAlgorithms    = []string{"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
	inlineSecretValue = "(inline)" // stands for a secret whose value is not a non-empty string
)

// entry is one named object of a section, in file order.
type entry[T any] struct {
	name string
	pos  Pos
	v    T
}

// part is what one chunk of a file declares.
type part struct {
	file      string
	sections  []entry[struct{}] // top-level keys, except a continued chunk's header
	policy    *Policy
	nodes     []entry[*Node]
	resellers []entry[*Reseller]
	accounts  []entry[*Account]
	clusters  []entry[*DNSCluster]
	ds        Diagnostics
	// parseFailed means the chunk did not parse on its own (ds holds the error).
	parseFailed bool
}

type decoder struct {
	file    string
	kind    string // the type (fields.go) of the object being decoded
	c       *chunk
	ds      Diagnostics
	budget  int  // node visits left
	stopped bool // the budget ran out: stop walking
	// site is the alias or merge key being expanded, where a bomb is reported: the
	// operator's line that asked for the expansion, not the anchor deep inside it.
	site *yaml.Node
	// slab is where the objects' lists of field positions are carved from (withRoom);
	// an account's or a node's list is first filled in scratch (begin, end).
	slab      []fieldPos
	scratch   []fieldPos
	inScratch bool
	// joined and indexed hold the field paths made in this chunk, one string each:
	// "features.apitokens" or "forwarders[0].to" come back in thousands of objects.
	joined  map[[2]string]string
	indexed map[indexedPath]string
	// names holds the objects' names for messages ("account u1"), carved from one
	// buffer: 100k accounts' names were 100k allocations, read only for a problem.
	names strings.Builder
}

// named returns kind+" "+name.
func (d *decoder) named(kind, name string) string {
	n := len(kind) + 1 + len(name)
	if d.names.Cap()-d.names.Len() < n {
		// The strings already returned keep the old buffer; a Builder never
		// changes what String returned.
		d.names = strings.Builder{}
		d.names.Grow(max(16<<10, n))
	}
	start := d.names.Len()
	d.names.WriteString(kind)
	d.names.WriteByte(' ')
	d.names.WriteString(name)
	return d.names.String()[start:]
}

type indexedPath struct {
	field string
	i     int
}

// maxPaths bounds each of a decoder's path tables (feature names are the operator's
// to choose; past the bound a path is made again each time).
const maxPaths = 1024

// join returns the path prefix.key.
func (d *decoder) join(prefix, key string) string {
	k := [2]string{prefix, key}
	if s, ok := d.joined[k]; ok {
		return s
	}
	s := prefix + "." + key
	if d.joined == nil {
		d.joined = make(map[[2]string]string)
	}
	if len(d.joined) < maxPaths {
		d.joined[k] = s
	}
	return s
}

// index returns the path field[i].
func (d *decoder) index(field string, i int) string {
	k := indexedPath{field, i}
	if s, ok := d.indexed[k]; ok {
		return s
	}
	s := field + "[" + strconv.Itoa(i) + "]"
	if d.indexed == nil {
		d.indexed = make(map[indexedPath]string)
	}
	if len(d.indexed) < maxPaths {
		d.indexed[k] = s
	}
	return s
}

// begin returns the Source of an account or node at kp, its positions recorded in
// the decoder's scratch list until end moves them to the slab: one object at a time,
// and counting its fields first (source) cost a second walk of 100k accounts' nodes.
func (d *decoder) begin(kp Pos) Source {
	if d.inScratch {
		panic("schema: decoder.begin inside another object") // nested objects use source
	}
	d.inScratch = true
	if d.scratch == nil {
		d.scratch = make([]fieldPos, 0, maxListed) // Set moves a longer list to a map
	}
	return Source{Key: kp, fields: d.scratch[:0]}
}

// end moves the positions of the Source begin returned from the scratch list to
// room of their size in the slab.
func (d *decoder) end(s *Source) {
	d.inScratch = false
	if cap(s.fields) > cap(d.scratch) {
		d.scratch = s.fields[:0] // an object that grew it: keep the larger
	}
	if len(s.fields) == 0 {
		s.fields = nil
		return
	}
	moved, rest := withRoom(s.Key, len(s.fields), d.slab)
	d.slab = rest
	s.fields = append(moved.fields, s.fields...)
}

// source returns the Source of an object whose key is at kp and whose mapping is n,
// with room for the positions its fields will record (fieldCount, depth levels down).
func (d *decoder) source(kp Pos, n *yaml.Node, depth int) Source {
	src, rest := withRoom(kp, fieldCount(n, depth), d.slab)
	d.slab = rest
	return src
}

// fieldCount is how many field positions decoding mapping n records when it is what
// the fleet format expects: one per key and per entry of what a key holds, depth
// levels down (an account's three: "forwarders", "forwarders[0]",
// "forwarders[0].to"). Aliases and merge keys are not followed; their fields make
// the list grow.
func fieldCount(n *yaml.Node, depth int) int {
	if n.Kind != yaml.MappingNode {
		return 0
	}
	return nestedCount(n, depth)
}

func nestedCount(v *yaml.Node, depth int) int {
	if depth == 0 {
		return 0
	}
	start, step := 0, 1
	switch v.Kind {
	case yaml.MappingNode:
		start, step = 1, 2
	case yaml.SequenceNode:
	default:
		return 0
	}
	c := 0
	for i := start; i < len(v.Content); i += step {
		c += 1 + nestedCount(v.Content[i], depth-1)
	}
	return c
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: d.c.fileLine(n.Line), Col: n.Column}
}

func (d *decoder) add(n *yaml.Node, rule, msg, fix string) {
	d.ds = append(d.ds, Diagnostic{Pos: d.pos(n), Rule: rule, Message: msg, Fix: fix})
}

// charge spends the visit budget; false means stop.
func (d *decoder) charge(n *yaml.Node, visits int) bool {
	if d.stopped {
		return false
	}
	d.budget -= visits
	if d.budget < 0 {
		d.stopped = true
		if d.site != nil {
			n = d.site
		}
		d.add(n, RuleLoad, "YAML aliases expand this file far beyond its size, as an alias bomb does",
			"write the values out instead of repeating aliases")
		return false
	}
	return true
}

// resolve follows aliases to the node they name.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if !d.charge(n, 1) || i > 64 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// decodeDoc decodes one parsed chunk.
func decodeDoc(c chunk, doc *yaml.Node) *part {
	p := &part{file: c.file}
	d := &decoder{file: c.file, c: &c, budget: 2*len(c.text) + 10000}
	if doc == nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return p
	}
	root := d.resolve(doc.Content[0])
	if root == nil {
		p.ds = d.ds
		return p
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p // an empty file, or one holding only comments
	}
	if root.Kind != yaml.MappingNode {
		d.add(root, RuleSchema, "the fleet file must be a mapping of sections ("+strings.Join(sectionFields, ", ")+"), found "+kindName(root),
			"start the file with a section such as \"nodes:\"")
		p.ds = d.ds
		return p
	}
	headerSeen := false
	for i := 0; i+1 < len(root.Content) && !d.stopped; i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key, ok := d.key(k, "the fleet")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(key, "x-"):
			// An extension key, not a section (and a prelude copy in every chunk).
		case c.cont && !headerSeen:
			headerSeen = true // the copy of the section's header line
		default:
			p.sections = append(p.sections, entry[struct{}]{name: key, pos: d.pos(k)})
		}
		v = d.resolve(v)
		if v == nil {
			continue
		}
		switch key {
		case "policy":
			if isNull(v) {
				continue
			}
			p.policy = d.policy(v, d.pos(k))
		case "nodes":
			d.section(v, "nodes", func(name string, kp Pos, v *yaml.Node) {
				p.nodes = append(p.nodes, entry[*Node]{name, kp, d.node(name, kp, v)})
			})
		case "resellers":
			d.section(v, "resellers", func(name string, kp Pos, v *yaml.Node) {
				p.resellers = append(p.resellers, entry[*Reseller]{name, kp, d.reseller(name, kp, v)})
			})
		case "accounts":
			// The section's accounts in one allocation (and the list of them sized
			// once), not 100k; an entry past the count (merged in) gets its own.
			var slab []Account
			if v.Kind == yaml.MappingNode {
				slab = make([]Account, 0, len(v.Content)/2)
				p.accounts = slices.Grow(p.accounts, len(v.Content)/2)
			}
			d.section(v, "accounts", func(name string, kp Pos, v *yaml.Node) {
				var a *Account
				if len(slab) < cap(slab) {
					slab = slab[:len(slab)+1]
					a = &slab[len(slab)-1]
				} else {
					a = &Account{}
				}
				d.account(name, kp, v, a, d.named("account", name), nil)
				p.accounts = append(p.accounts, entry[*Account]{name, kp, a})
			})
		case "dnsClusters":
			d.section(v, "dnsClusters", func(name string, kp Pos, v *yaml.Node) {
				p.clusters = append(p.clusters, entry[*DNSCluster]{name, kp, d.cluster(name, kp, v)})
			})
		default:
			if strings.HasPrefix(key, "x-") {
				continue // an extension key, free for YAML anchors: "x-defaults: &defaults"
			}
			d.unknown(k, key, "the fleet", "section", sectionFields)
		}
	}
	p.ds = d.ds
	return p
}

// section walks the entries of a top-level section. Duplicate names are found when
// the parts are merged, so they are reported the same within a file and across files.
func (d *decoder) section(n *yaml.Node, name string, fn func(name string, kp Pos, v *yaml.Node)) {
	if isNull(n) {
		return // "accounts:" with nothing under it yet
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, RuleSchema, fmt.Sprintf("section %s must be a mapping of names to objects, found %s", name, kindName(n)),
			fmt.Sprintf("write each entry as \"NAME:\" under %s:", name))
		return
	}
	d.charge(n, len(n.Content)/2)
	in := "section " + name
	for i := 0; i+1 < len(n.Content) && !d.stopped; i += 2 {
		k := n.Content[i]
		key, ok := d.key(k, in)
		if !ok {
			continue
		}
		v := d.resolve(n.Content[i+1])
		if v == nil {
			continue
		}
		fn(key, d.pos(k), v)
	}
}

// key returns a mapping key's text; keys must be scalars.
func (d *decoder) key(k *yaml.Node, in string) (string, bool) {
	k = d.resolve(k)
	if k == nil {
		return "", false
	}
	if k.Kind != yaml.ScalarNode {
		d.add(k, RuleSchema, fmt.Sprintf("a key in %s is %s; keys are names", in, kindName(k)), "write a plain name before the colon")
		return "", false
	}
	return k.Value, true
}

// fields calls fn for each key/value pair of mapping n, with merge keys ("<<: *base")
// expanded, duplicate keys reported at the second one and aliases resolved. It reports
// a non-mapping and returns false.
func (d *decoder) fields(n *yaml.Node, obj, field string, fn func(key string, k, v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		what := obj
		if field != "" {
			what = obj + ": " + field
		}
		d.add(n, RuleSchema, fmt.Sprintf("%s must be a mapping, found %s", what, kindName(n)), "write it as \"key: value\" lines or {key: value}")
		return false
	}
	var seen map[string]*yaml.Node // only for big mappings; small ones scan back
	if len(n.Content) > 32 {
		seen = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	var merges []*yaml.Node
	if !d.charge(n, len(n.Content)/2) {
		return false
	}
	for i := 0; i+1 < len(n.Content) && !d.stopped; i += 2 {
		k := d.resolve(n.Content[i])
		if k == nil {
			return false
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		key, ok := d.key(k, obj)
		if !ok {
			continue
		}
		var first *yaml.Node
		if seen != nil {
			first = seen[key]
			if first == nil {
				seen[key] = k
			}
		} else {
			for j := 0; j < i; j += 2 {
				if pk := n.Content[j]; pk.Kind == yaml.ScalarNode && pk.Value == key && pk.Tag != "!!merge" {
					first = pk
					break
				}
			}
		}
		if first != nil {
			d.add(k, RuleSchema, fmt.Sprintf("%s: %s is set twice; first at line %d", obj, joinField(field, key), d.c.fileLine(first.Line)),
				"keep one of the two")
			continue
		}
		orig := n.Content[i+1]
		v := d.resolve(orig)
		if v == nil {
			return false
		}
		if orig.Kind == yaml.AliasNode && d.site == nil {
			d.site = orig
			fn(key, k, v)
			d.site = nil
		} else {
			fn(key, k, v)
		}
	}
	if len(merges) == 0 {
		return true
	}
	// Merged mappings supply only the keys not set before: the mapping's own, then
	// each merged mapping's in order (their own merges included).
	set := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
			set[k.Value] = true
		}
	}
	for _, m := range merges {
		if !d.merge(m, obj, set, fn, 0) {
			return false
		}
	}
	return !d.stopped
}

// merge applies the value of a merge key ("<<: *a" or "<<: [*a, *b]"): the keys of
// the named mappings not already set, recursively through their own merge keys. Every
// visit is charged, so nested merges cannot multiply a small file into a huge walk.
func (d *decoder) merge(m *yaml.Node, obj string, set map[string]bool, fn func(key string, k, v *yaml.Node), depth int) bool {
	if d.site == nil {
		d.site = m
		defer func() { d.site = nil }()
	}
	m = d.resolve(m)
	if m == nil || depth > 64 {
		return false
	}
	var srcs []*yaml.Node
	switch m.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{m}
	case yaml.SequenceNode:
		for _, s := range m.Content {
			if s = d.resolve(s); s == nil {
				return false
			}
			srcs = append(srcs, s)
		}
	default:
		srcs = []*yaml.Node{m}
	}
	for _, s := range srcs {
		if s.Kind != yaml.MappingNode {
			d.add(s, RuleSchema, fmt.Sprintf("%s: a merge (<<) must name a mapping, found %s", obj, kindName(s)), "merge an anchored mapping: <<: *name")
			continue
		}
		if !d.charge(s, len(s.Content)/2) {
			return false
		}
		var nested []*yaml.Node
		for i := 0; i+1 < len(s.Content) && !d.stopped; i += 2 {
			k := d.resolve(s.Content[i])
			if k == nil {
				return false
			}
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				nested = append(nested, s.Content[i+1])
				continue
			}
			if k.Kind != yaml.ScalarNode || set[k.Value] {
				continue
			}
			set[k.Value] = true
			v := d.resolve(s.Content[i+1])
			if v == nil {
				return false
			}
			fn(k.Value, k, v)
		}
		for _, nm := range nested {
			if !d.merge(nm, obj, set, fn, depth+1) {
				return false
			}
		}
	}
	return !d.stopped
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// unknown reports an unknown field with the nearest known name as the fix.
func (d *decoder) unknown(k *yaml.Node, key, obj, what string, known []string) {
	fix := "known " + what + "s: " + strings.Join(known, ", ")
	if s := nearest(key, known); s != "" {
		fix = fmt.Sprintf("did you mean %q?", s)
	}
	d.add(k, RuleSchema, fmt.Sprintf("unknown %s %q in %s", what, key, obj), fix)
}

// nearest returns the known name closest to s (case-insensitive edit distance), or ""
// when none is close enough to be a likely typo.
func nearest(s string, known []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, k := range known {
		dist := editDistance(ls, strings.ToLower(k))
		if dist < bestD {
			best, bestD = k, dist
		}
	}
	limit := 2
	if l := len(s) / 3; l > limit {
		limit = l
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// editDistance is the optimal-string-alignment distance: a swap of two neighbours
// ("emial") counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // keys this long are not typos of a field name
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "the number " + short(n.Value)
		case "!!bool":
			return "the boolean " + short(n.Value)
		case "!!null":
			return "no value"
		case "!!binary":
			return "binary data"
		case "!!timestamp":
			return "the date " + short(n.Value)
		}
		return "a value tagged " + short(n.Tag)
	}
	return "an alias"
}

func short(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// Typed scalar readers. Each reports a type error naming the object and field and
// returns ok=false, leaving the destination unset.

func (d *decoder) str(n *yaml.Node, obj, field string) (string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if n.Value == "" {
			// Refused where the CUE schema refuses it, so a YAML fleet gets the verdict a
			// CUE fleet gets: `mail: {node: ""}` is not mail on the parent.
			if f := fieldFor(d.kind, field); f != nil && f.NonEmpty {
				rule := f.Rule
				if rule == "" {
					rule = RuleSchema
				}
				d.add(n, rule, fmt.Sprintf("%s: %s is empty", obj, field), "write a value, or remove the line")
				return "", false
			}
		}
		return n.Value, true
	}
	fix := "write text, in quotes if it looks like a number or a boolean"
	if isNull(n) {
		fix = "give a value or remove the line"
	}
	d.add(n, RuleSchema, fmt.Sprintf("%s: %s must be a string, found %s", obj, field, kindName(n)), fix)
	return "", false
}

func (d *decoder) boolean(n *yaml.Node, obj, field string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b, true
		}
	}
	d.add(n, RuleSchema, fmt.Sprintf("%s: %s must be true or false, found %s", obj, field, kindName(n)), "write true or false")
	return false, false
}

func (d *decoder) integer(n *yaml.Node, obj, field string, lo, hi int) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if err == nil && v >= int64(lo) && v <= int64(hi) {
			return int(v), true
		}
		if err == nil {
			d.add(n, RuleSchema, fmt.Sprintf("%s: %s is %d, out of range", obj, field, v), fmt.Sprintf("use a whole number from %d to %d", lo, hi))
			return 0, false
		}
	}
	d.add(n, RuleSchema, fmt.Sprintf("%s: %s must be a whole number, found %s", obj, field, kindName(n)), fmt.Sprintf("use a whole number from %d to %d", lo, hi))
	return 0, false
}

func (d *decoder) enum(n *yaml.Node, obj, field string, values []string) (string, bool) {
	s, ok := d.str(n, obj, field)
	if !ok {
		return "", false
	}
	for _, v := range values {
		if s == v {
			return s, true
		}
	}
	fix := "use one of: " + strings.Join(values, ", ")
	if near := nearest(s, values); near != "" {
		fix = fmt.Sprintf("did you mean %q? one of: %s", near, strings.Join(values, ", "))
	}
	d.add(n, RuleSchema, fmt.Sprintf("%s: %s %q is not a known value", obj, field, short(s)), fix)
	return "", false
}

// strList reads a list of strings; values, when given, restricts them.
func (d *decoder) strList(n *yaml.Node, obj, field string, values []string, src *Source) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		d.add(n, RuleSchema, fmt.Sprintf("%s: %s must be a list, found %s", obj, field, kindName(n)), "write [a, b] or one \"- item\" per line")
		return nil, false
	}
	if !d.charge(n, len(n.Content)) {
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		e = d.resolve(e)
		if e == nil {
			return nil, false
		}
		f := d.index(field, i)
		var s string
		var ok bool
		if values != nil {
			s, ok = d.enum(e, obj, f, values)
		} else {
			s, ok = d.str(e, obj, f)
		}
		if ok {
			out = append(out, s)
			if src != nil {
				src.Set(f, d.pos(e))
			}
		}
	}
	return out, true
}

// fieldMask records which of an object's known fields were written, by their index
// in the known-field list: no map per object, which matters at 100k accounts.
type fieldMask uint64

func (m *fieldMask) add(known []string, key string) {
	if i := slices.Index(known, key); i >= 0 && i < 64 {
		*m |= 1 << i
	}
}

func (m fieldMask) has(known []string, key string) bool {
	i := slices.Index(known, key)
	return i >= 0 && i < 64 && m&(1<<i) != 0
}

// fieldKey returns the key node of a field of mapping n, or n itself.
func fieldKey(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k
		}
	}
	return n
}

// required reports each missing field at p, the key of the object that lacks it:
// obj, or its part sub when there is one ("account u1 forwarders[0]").
func (d *decoder) required(p Pos, obj, sub string, known []string, have fieldMask, fields []string) {
	for _, f := range fields {
		if !have.has(known, f) {
			if sub != "" {
				obj += " " + sub
			}
			d.ds.Add(p, RuleSchema, fmt.Sprintf("%s has no %s", obj, f), fmt.Sprintf("add %s:", f))
		}
	}
}

// in sets the type of the object being decoded and returns the enclosing one, for
// restore: "defer d.restore(d.in(kind))" (a returned closure cost an allocation per
// object).
func (d *decoder) in(kind string) (outer string) {
	outer, d.kind = d.kind, kind
	return outer
}

func (d *decoder) restore(kind string) { d.kind = kind }

func (d *decoder) policy(n *yaml.Node, kp Pos) *Policy {
	defer d.restore(d.in("Policy"))
	p := &Policy{Src: d.source(kp, n, 1)}
	const obj = "policy"
	d.fields(n, obj, "", func(key string, k, v *yaml.Node) {
		ok := false
		switch key {
		case "prune":
			p.Prune, ok = d.boolean(v, obj, key)
		case "maxRemovePercent":
			var x int
			if x, ok = d.integer(v, obj, key, 0, 100); ok {
				p.MaxRemovePercent = &x
			}
		case "drift":
			p.Drift, ok = d.enum(v, obj, key, driftValues)
		case "notifyWebhook":
			p.NotifyWebhook, ok = d.str(v, obj, key)
			if ok && !strings.HasPrefix(p.NotifyWebhook, "https://") && !strings.HasPrefix(p.NotifyWebhook, "http://") {
				d.add(v, RuleSchema, "policy: notifyWebhook must be an http:// or https:// URL", "write the webhook's full URL")
			}
		case "callTimeout", "changeTimeout":
			var s string
			if s, ok = d.str(v, obj, key); ok {
				if msg := PolicyDurationProblem(s); msg != "" {
					d.add(v, RuleSchema, fmt.Sprintf("policy: %s %s", key, msg), "write a duration such as 30s, 5m or 1h")
				} else if key == "callTimeout" {
					p.CallTimeout = s
				} else {
					p.ChangeTimeout = s
				}
			}
		case "callAttempts":
			var x int
			if x, ok = d.integer(v, obj, key, 1, 20); ok {
				p.CallAttempts = &x
			}
		default:
			d.unknown(k, key, obj, "field", policyFields)
			return
		}
		if ok {
			p.Src.Set(key, d.pos(v))
		}
	})
	return p
}

func (d *decoder) node(name string, kp Pos, n *yaml.Node) *Node {
	defer d.restore(d.in("Node"))
	nd := &Node{Src: d.begin(kp)}
	defer d.end(&nd.Src)
	obj := d.named("node", name)
	var have fieldMask
	d.fields(n, obj, "", func(key string, k, v *yaml.Node) {
		have.add(nodeFields, key)
		ok := false
		switch key {
		case "role":
			nd.Role, ok = d.enum(v, obj, key, roleValues)
		case "parent":
			nd.Parent, ok = d.str(v, obj, key)
		case "host":
			nd.Host, ok = d.str(v, obj, key)
		case "ipv4":
			if nd.IPv4, ok = d.str(v, obj, key); ok && !isIPv4(nd.IPv4) {
				d.add(v, RuleSchema, fmt.Sprintf("%s: ipv4 %q is not an IPv4 address", obj, short(nd.IPv4)), "write four numbers 0-255 separated by dots, e.g. 192.0.2.10")
			}
		case "ipv6":
			if nd.IPv6, ok = d.str(v, obj, key); ok && !isIPv6(nd.IPv6) {
				d.add(v, RuleSchema, fmt.Sprintf("%s: ipv6 %q is not an IPv6 address", obj, short(nd.IPv6)), "write an address such as 2001:db8::10")
			}
		case "version":
			nd.Version, ok = d.integer(v, obj, key, 1, 999)
		case "profile":
			nd.Profile, ok = d.enum(v, obj, key, profileValues)
		case "services":
			nd.Services, ok = d.strList(v, obj, key, serviceValues, &nd.Src)
		case "port":
			nd.Port, ok = d.integer(v, obj, key, 1, 65535)
		case "address":
			if nd.Address, ok = d.str(v, obj, key); ok && !IsHostPort(nd.Address) {
				d.add(v, RuleSchema, fmt.Sprintf("%s: address %q is not HOST:PORT", obj, short(nd.Address)), "write where to connect as HOST:PORT, e.g. 127.0.0.1:12087 for a tunnel; host stays the server's name")
			}
		case "tls":
			t := &TLS{}
			ok = d.fields(v, obj, key, func(key2 string, k2, v2 *yaml.Node) {
				ok2 := false
				switch key2 {
				case "caFile":
					t.CAFile, ok2 = d.str(v2, obj, "tls.caFile")
				case "fingerprint":
					if t.Fingerprint, ok2 = d.str(v2, obj, "tls.fingerprint"); ok2 && !IsFingerprint(t.Fingerprint) {
						d.add(v2, RuleSchema, fmt.Sprintf("%s: tls.fingerprint %q is not a SHA-256 certificate fingerprint", obj, short(t.Fingerprint)), `write "sha256:" and the certificate's 64 hex digits, e.g. from: openssl x509 -noout -fingerprint -sha256`)
					}
				case "insecure":
					t.Insecure, ok2 = d.boolean(v2, obj, "tls.insecure")
				default:
					d.unknown(k2, key2, obj+" tls", "field", tlsFields)
				}
				if ok2 {
					nd.Src.Set(d.join("tls", key2), d.pos(v2))
				}
			})
			if ok {
				nd.TLS = t
			}
		case "credentials", "linkCredentials":
			c := d.credentials(v, obj, key, &nd.Src)
			ok = c != nil
			if key == "credentials" {
				nd.Credentials = c
			} else {
				nd.LinkCredentials = c
			}
		case "optionalRoles":
			roles := map[string]bool{}
			ok = d.fields(v, obj, key, func(r string, k2, v2 *yaml.Node) {
				f := d.join("optionalRoles", r)
				if !contains(OptionalRoleNames, r) {
					d.unknown(k2, r, obj+" optionalRoles", "optional role", OptionalRoleNames)
					return
				}
				if x, ok2 := d.boolean(v2, obj, f); ok2 {
					roles[r] = x
					nd.Src.Set(f, d.pos(k2))
				}
			})
			if ok {
				nd.OptionalRoles = roles
			}
		case "passwordStrength":
			ps := map[string]int{}
			ok = d.fields(v, obj, key, func(kind string, k2, v2 *yaml.Node) {
				f := d.join("passwordStrength", kind)
				if !contains(passwordKinds, kind) {
					d.unknown(k2, kind, obj+" passwordStrength", "password-strength kind", passwordKinds)
					return
				}
				if x, ok2 := d.integer(v2, obj, f, 0, 100); ok2 {
					ps[kind] = x
					nd.Src.Set(f, d.pos(k2))
				}
			})
			if ok {
				nd.PasswordStrength = ps
			}
		case "lost":
			nd.Lost, ok = d.boolean(v, obj, key)
		default:
			d.unknown(k, key, obj, "field", nodeFields)
			return
		}
		if ok {
			nd.Src.Set(key, d.pos(v))
		}
	})
	if n.Kind == yaml.MappingNode {
		d.required(kp, obj, "", nodeFields, have, nodeRequired)
		if nd.Role == RoleChild && !have.has(nodeFields, "parent") {
			d.ds.Add(kp, RuleSchema, obj+" is a child and names no parent", "add parent: with the name of the parent node it links to")
		}
		if nd.Role != "" && nd.Role != RoleChild {
			// What only a child has, on another role, is a mistake about the role.
			for _, f := range []string{"parent", "services", "lost", "linkCredentials"} {
				if have.has(nodeFields, f) {
					d.add(fieldKey(n, f), RuleSchema, fmt.Sprintf("%s has role %s; only a child has %s", obj, nd.Role, f),
						"remove "+f+":, or set role: child")
				}
			}
		}
	}
	return nd
}

func (d *decoder) credentials(n *yaml.Node, obj, field string, src *Source) *Credentials {
	c := &Credentials{Src: d.source(d.pos(n), n, 1)}
	ok := d.fields(n, obj, field, func(key string, k, v *yaml.Node) {
		f := d.join(field, key)
		ok := false
		switch key {
		case "user":
			if c.User, ok = d.str(v, obj, f); ok && c.User != "root" && userNameProblem(c.User) != "" {
				d.add(v, RuleSchema, fmt.Sprintf("%s: %s %q is neither root nor a valid user name", obj, f, short(c.User)), "use root, or the reseller the token belongs to")
			}
		case "tokenEnv":
			if c.TokenEnv, ok = d.str(v, obj, f); ok && !isEnvName(c.TokenEnv) {
				d.add(v, RuleSchema, obj+": "+f+" is not an environment variable name; its value is not shown, as it may be the token itself", "write the variable's name, e.g. WEB1_WHM_TOKEN, not its value")
			}
		case "tokenFile":
			c.TokenFile, ok = d.str(v, obj, f)
		case "token":
			// Never type-checked or echoed: whatever is here is a secret in the file,
			// reported as TETHER-S01 by Check.
			c.Token = inlineSecret(v)
			ok = true
		default:
			d.unknown(k, key, obj+" "+field, "field", credentialFields)
			return
		}
		if ok {
			c.Src.Set(key, d.pos(v))
			src.Set(f, d.pos(v))
		}
	})
	if !ok {
		return nil
	}
	return c
}

// inlineSecret keeps an inline secret's value only so Check can see one was given; a
// non-string or empty value is replaced by a marker.
func inlineSecret(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode && v.Value != "" && v.Tag != "!!null" {
		return v.Value
	}
	return inlineSecretValue
}

// account decodes the fields an account and a reseller share; extra handles the
// reseller's own fields and returns false for a key it does not know either.
func (d *decoder) account(name string, kp Pos, n *yaml.Node, a *Account, obj string, extra func(key string, k, v *yaml.Node) bool) {
	if extra == nil {
		defer d.restore(d.in("Account"))
	} else {
		defer d.restore(d.in("Reseller"))
	}
	a.Src = d.begin(kp)
	defer d.end(&a.Src)
	var have fieldMask
	known := accountFields
	if extra != nil {
		known = resellerFields
	}
	d.fields(n, obj, "", func(key string, k, v *yaml.Node) {
		have.add(known, key)
		ok := false
		switch key {
		case "parent":
			a.Parent, ok = d.str(v, obj, key)
		case "domain":
			a.Domain, ok = d.str(v, obj, key)
		case "owner":
			a.Owner, ok = d.str(v, obj, key)
		case "plan":
			a.Plan, ok = d.str(v, obj, key)
		case "contactEmail":
			if a.ContactEmail, ok = d.str(v, obj, key); ok && !plausibleEmail(a.ContactEmail) {
				d.add(v, RuleSchema, fmt.Sprintf("%s: contactEmail %q is not an email address", obj, short(a.ContactEmail)), "write an address such as name@example.org")
			}
		case "ipv6":
			a.IPv6, ok = d.boolean(v, obj, key)
		case "features":
			fs := map[string]bool{}
			ok = d.fields(v, obj, key, func(feat string, k2, v2 *yaml.Node) {
				f := d.join("features", feat)
				if b, ok2 := d.boolean(v2, obj, f); ok2 {
					fs[feat] = b
					a.Src.Set(f, d.pos(v2))
				}
			})
			if ok {
				a.Features = fs
			}
		case "mail":
			a.Mail, ok = d.mail(v, obj, &a.Src)
		case "autossl":
			s := &AutoSSL{}
			ok = d.fields(v, obj, key, func(key2 string, k2, v2 *yaml.Node) {
				if key2 != "dcv" {
					d.unknown(k2, key2, obj+" autossl", "field", autosslFields)
					return
				}
				var ok2 bool
				if s.DCV, ok2 = d.strList(v2, obj, "autossl.dcv", dcvValues, &a.Src); ok2 {
					a.Src.Set("autossl.dcv", d.pos(v2))
				}
			})
			if ok {
				a.AutoSSL = s
			}
		case "forwarders":
			a.Forwarders, ok = d.forwarders(v, obj, &a.Src)
		case "ipv6Range":
			a.IPv6Range, ok = d.str(v, obj, key)
		case "suspended":
			a.Suspended, ok = d.boolean(v, obj, key)
		case "protect":
			a.Protect, ok = d.boolean(v, obj, key)
		case "dnssec":
			a.DNSSEC, ok = d.boolean(v, obj, key)
		default:
			if extra == nil || !extra(key, k, v) {
				d.unknown(k, key, obj, "field", known)
			}
			return
		}
		if ok {
			a.Src.Set(key, d.pos(v))
		}
	})
	if n.Kind == yaml.MappingNode {
		d.required(kp, obj, "", known, have, accountRequired)
	}
}

func (d *decoder) mail(n *yaml.Node, obj string, src *Source) (*MailPlacement, bool) {
	m := &MailPlacement{}
	ok := d.fields(n, obj, "mail", func(key string, k, v *yaml.Node) {
		if key != "node" {
			d.unknown(k, key, obj+" mail", "field", mailFields)
			return
		}
		if v.Kind == yaml.SequenceNode {
			// One child per service (TETHER-L04, reported by Check); keep them all so
			// the rule can point at the second.
			names, ok := d.strList(v, obj, "mail.node", nil, src)
			if ok && len(names) > 0 {
				m.Node, m.ExtraNodes = names[0], names[1:]
				if len(m.ExtraNodes) == 0 {
					m.ExtraNodes = nil
				}
				src.Set("mail.node", d.pos(v.Content[0]))
			}
			return
		}
		if s, ok := d.str(v, obj, "mail.node"); ok {
			m.Node = s
			src.Set("mail.node", d.pos(v))
		}
	})
	return m, ok
}

func (d *decoder) forwarders(n *yaml.Node, obj string, src *Source) ([]Forwarder, bool) {
	if n.Kind != yaml.SequenceNode {
		d.add(n, RuleSchema, fmt.Sprintf("%s: forwarders must be a list, found %s", obj, kindName(n)), "write one \"- {from: NAME, to: ADDRESS}\" per forwarder")
		return nil, false
	}
	if !d.charge(n, len(n.Content)) {
		return nil, false
	}
	out := make([]Forwarder, 0, len(n.Content))
	for i, e := range n.Content {
		e = d.resolve(e)
		if e == nil {
			return nil, false
		}
		base := d.index("forwarders", i)
		var fw Forwarder
		var have fieldMask
		ok := d.fields(e, obj, base, func(key string, k, v *yaml.Node) {
			have.add(forwarderFields, key)
			f := d.join(base, key)
			var ok2 bool
			switch key {
			case "from":
				fw.From, ok2 = d.str(v, obj, f)
			case "to":
				fw.To, ok2 = d.str(v, obj, f)
			default:
				d.unknown(k, key, obj+" "+base, "field", forwarderFields)
				return
			}
			if ok2 {
				src.Set(f, d.pos(v))
			}
		})
		if ok {
			d.required(d.pos(e), obj, base, forwarderFields, have, forwarderRequired)
			src.Set(base, d.pos(e))
			out = append(out, fw)
		}
	}
	return out, true
}

func (d *decoder) reseller(name string, kp Pos, n *yaml.Node) *Reseller {
	r := &Reseller{}
	obj := d.named("reseller", name)
	d.account(name, kp, n, &r.Account, obj, func(key string, k, v *yaml.Node) bool {
		ok := false
		switch key {
		case "acls":
			r.ACLs, ok = d.strList(v, obj, key, nil, &r.Src)
		case "limits":
			l := &ResellerLimits{}
			ok = d.fields(v, obj, key, func(key2 string, k2, v2 *yaml.Node) {
				if key2 != "accounts" {
					d.unknown(k2, key2, obj+" limits", "field", limitFields)
					return
				}
				if x, ok2 := d.integer(v2, obj, "limits.accounts", 0, 1<<31-1); ok2 {
					l.Accounts = &x
					r.Src.Set("limits.accounts", d.pos(v2))
				}
			})
			if ok {
				r.Limits = l
			}
		default:
			return false
		}
		if ok {
			r.Src.Set(key, d.pos(v))
		}
		return true
	})
	return r
}

func (d *decoder) cluster(name string, kp Pos, n *yaml.Node) *DNSCluster {
	defer d.restore(d.in("DNSCluster"))
	c := &DNSCluster{Src: d.source(kp, n, 1)}
	obj := "DNS cluster " + name
	d.fields(n, obj, "", func(key string, k, v *yaml.Node) {
		ok := false
		switch key {
		case "enabled":
			c.Enabled, ok = d.boolean(v, obj, key)
		case "failureThreshold":
			c.FailureThreshold, ok = d.threshold(v, obj)
		case "notifyOnDisable":
			c.NotifyOnDisable, ok = d.boolean(v, obj, key)
		case "members":
			if isNull(v) {
				ok = true
				break
			}
			ms := map[string]*Member{}
			ok = d.fields(v, obj, key, func(mname string, k2, v2 *yaml.Node) {
				ms[mname] = d.member(name, mname, d.pos(k2), v2)
			})
			if ok {
				c.Members = ms
			}
		default:
			d.unknown(k, key, obj, "field", clusterFields)
			return
		}
		if ok {
			c.Src.Set(key, d.pos(v))
		}
	})
	return c
}

// threshold reads a failure threshold. Values the model cannot hold (0, negative,
// fractions, other words) are TETHER-D06 here, where the text is still at hand.
func (d *decoder) threshold(n *yaml.Node, obj string) (Threshold, bool) {
	const fix = "write a whole number of failures, 1 or more, or never"
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!str":
			if n.Value == "never" {
				return Threshold{Never: true}, true
			}
		case "!!int":
			v, err := strconv.ParseInt(n.Value, 0, 64)
			if err == nil && v >= 1 && v <= 1<<31-1 {
				return Threshold{N: int(v)}, true
			}
		}
	}
	d.add(n, RuleD06, fmt.Sprintf("%s: failureThreshold must be a whole number of at least 1 or \"never\", found %s", obj, kindName(n)), fix)
	return Threshold{}, false
}

func (d *decoder) member(cluster, name string, kp Pos, n *yaml.Node) *Member {
	defer d.restore(d.in("Member"))
	m := &Member{Src: d.source(kp, n, 2)}
	obj := "DNS cluster " + cluster + " member " + name
	var have fieldMask
	d.fields(n, obj, "", func(key string, k, v *yaml.Node) {
		have.add(memberFields, key)
		ok := false
		switch key {
		case "backend":
			m.Backend, ok = d.enum(v, obj, key, MemberBackendNames())
		case "node":
			m.Node, ok = d.str(v, obj, key)
		case "host":
			m.Host, ok = d.str(v, obj, key)
		case "address":
			if m.Address, ok = d.str(v, obj, key); ok && !validHostPort(m.Address) {
				d.add(v, RuleSchema, fmt.Sprintf("%s: address %q is not HOST:PORT", obj, short(m.Address)), "write the server's address and DNS port, e.g. 192.0.2.53:53")
			}
		case "software":
			m.Software, ok = d.enum(v, obj, key, softwareValues)
		case "role":
			m.Role, ok = d.enum(v, obj, key, dnsRoleValues)
		case "dnssec":
			m.DNSSEC, ok = d.boolean(v, obj, key)
		case "tsig":
			m.TSIG = d.tsig(v, obj, &m.Src)
			ok = m.TSIG != nil
		default:
			d.unknown(k, key, obj, "field", memberFields)
			return
		}
		if ok {
			m.Src.Set(key, d.pos(v))
		}
	})
	if n.Kind != yaml.MappingNode {
		return m
	}
	d.required(kp, obj, "", memberFields, have, memberRequired)
	b, known := LookupMemberBackend(m.BackendName())
	if !known || have.has(memberFields, "backend") && m.Backend == "" {
		// An unknown backend was reported (or none is registered as the default);
		// what else is required depends on it.
		if !have.has(memberFields, "backend") {
			d.ds.Add(kp, RuleSchema, obj+": no member backend is registered as the default", "set backend: one of "+strings.Join(MemberBackendNames(), ", "))
		}
		return m
	}
	for _, pr := range b.checkFields(obj, func(f string) bool { return have.has(memberFields, f) }) {
		if pr.Missing {
			d.ds.Add(kp, RuleSchema, pr.Problem, pr.Fix)
		} else {
			d.add(fieldKey(n, pr.Field), RuleSchema, pr.Problem, pr.Fix)
		}
	}
	return m
}

func (d *decoder) tsig(n *yaml.Node, obj string, src *Source) *TSIG {
	t := &TSIG{Src: d.source(d.pos(n), n, 1)}
	var have fieldMask
	ok := d.fields(n, obj, "tsig", func(key string, k, v *yaml.Node) {
		have.add(tsigFields, key)
		f := d.join("tsig", key)
		ok := false
		switch key {
		case "name":
			t.Name, ok = d.str(v, obj, f)
		case "algorithm":
			t.Algorithm, ok = d.enum(v, obj, f, tsigAlgorithms)
		case "secretEnv":
			if t.SecretEnv, ok = d.str(v, obj, f); ok && !isEnvName(t.SecretEnv) {
				d.add(v, RuleSchema, obj+": tsig.secretEnv is not an environment variable name; its value is not shown, as it may be the secret itself", "write the variable's name, e.g. NS2_TSIG_SECRET, not its value")
			}
		case "secretFile":
			t.SecretFile, ok = d.str(v, obj, f)
		case "secret":
			t.Secret = inlineSecret(v) // reported by Check as TETHER-S01, never echoed
			ok = true
		default:
			d.unknown(k, key, obj+" tsig", "field", tsigFields)
			return
		}
		if ok {
			t.Src.Set(key, d.pos(v))
			src.Set(f, d.pos(v))
		}
	})
	if !ok {
		return nil
	}
	d.required(d.pos(n), obj, "tsig", tsigFields, have, tsigRequired)
	return t
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var (
	reFingerprint = regexp.MustCompile(`^(sha256|SHA256):([0-9A-Fa-f]{64}|([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$`)
	reHostPort    = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$`)
)

// IsFingerprint reports whether s is a SHA-256 certificate fingerprint as the fleet
// writes it (fleet.cue #TLS.fingerprint).
func IsFingerprint(s string) bool { return reFingerprint.MatchString(s) }

// IsHostPort reports whether s has the form HOST:PORT (fleet.cue #HostPort: the
// same expression, so YAML and CUE fleets get the same verdict).
func IsHostPort(s string) bool { return reHostPort.MatchString(s) }
