package whmapi

import (
	"bytes"
	"encoding/json"
	"sync"
)

// A plan of a large fleet spends most of its decoding in three answers read through
// batch: listaccts' rows, Email::list_forwarders' rows (one result per account) and
// get_users_features_settings' entries. encoding/json reads them by reflection, after
// checking the whole body once more beforehand. decodeBatchFast reads a batch answer
// with a scanner instead, those three straight into their structs and every other
// result's data through encoding/json, and gives up (false) on anything it is not
// sure to read as encoding/json does: a key that matches a field only by case, a key
// given twice, a value of another type than the field's, escaped or non-ASCII keys,
// nulls inside arrays, a failed read, results missing or too many, invalid JSON.
// The caller then reads the answer as before (decodeBatch), so every outcome that is
// not the common one, errors included, stays encoding/json's own.
//
// Where it accepts, the result is encoding/json's: strings without escapes and
// ASCII-only are their bytes; any other string, and every lenient (Flex*) value, is
// decoded by the same code encoding/json would call; [] is an empty slice and null a
// nil one. TestFastDecodeMatchesJSON and FuzzFastDecode hold the two to each other.

// acctList is listaccts' data as ReadNode reads it.
type acctList struct {
	Acct []Acct `json:"acct"`
}

// featuresList is get_users_features_settings' data.
type featuresList struct {
	Users []UserFeature `json:"users_features_settings"`
}

// batchResults is the data of a batch answer as decodeBatch reads it.
type batchResults struct {
	Result []*batchSlot `json:"result"`
}

// decodeBatchFast is decodeBatch's common case; see above. On false the Outs may be
// partly filled (the caller zeroes them) and nothing else was changed.
func (c *Client) decodeBatchFast(function string, body []byte, bd *batchDecode) (*Envelope, bool) {
	backing := make([]batchSlot, len(bd.reads))
	w := batchResults{Result: make([]*batchSlot, len(bd.reads))}
	for i, r := range bd.reads {
		// A result without data keeps its Data, as encoding/json leaves it.
		if r.Out != nil {
			backing[i].Data = r.Out
		} else {
			backing[i].Data = &discard{}
		}
		w.Result[i] = &backing[i]
	}
	if c.opts.OnDecode != nil {
		// As decodeEnvelope tells it of the batch's data (each result's own is
		// told by ReadBatch).
		c.opts.OnDecode(function, &w)
	}
	s := scan{b: body}
	env := &Envelope{}
	var seenMeta, seenData bool
	if !s.open('{') {
		return nil, false
	}
	for n := 0; ; {
		key, end, ok := s.member(&n)
		if !ok {
			return nil, false
		}
		if end {
			break
		}
		switch string(key) {
		case "metadata":
			if seenMeta || !s.metadata(&env.Metadata) {
				return nil, false
			}
			seenMeta = true
		case "data":
			if seenData || !s.batchData(bd.reads, backing) {
				return nil, false
			}
			seenData = true
		default:
			if foldsTo(key, "metadata", "data") || !s.skip() {
				return nil, false
			}
		}
	}
	s.ws()
	if s.i != len(s.b) || !seenData || !bool(env.Metadata.Result) {
		return nil, false
	}
	for i := range backing {
		if !backing[i].Metadata.Result {
			return nil, false
		}
	}
	bd.slots = w.Result
	return env, true
}

// batchData reads a batch's data: {"result": [slot, …]} with exactly one slot per
// read.
func (s *scan) batchData(reads []BatchRead, slots []batchSlot) bool {
	if !s.open('{') {
		return false
	}
	seen := false
	for n := 0; ; {
		key, end, ok := s.member(&n)
		if !ok {
			return false
		}
		if end {
			return seen
		}
		if string(key) != "result" {
			if foldsTo(key, "result") || !s.skip() {
				return false
			}
			continue
		}
		if seen || !s.open('[') {
			return false
		}
		seen = true
		for i := 0; ; i++ {
			end, ok := s.element(i)
			if !ok {
				return false
			}
			if end {
				if i != len(reads) {
					return false
				}
				break
			}
			if i >= len(reads) || !s.slot(reads[i].Out, &slots[i]) {
				return false
			}
		}
	}
}

// slot reads one batch result, its data into out (nil: skipped).
func (s *scan) slot(out any, sl *batchSlot) bool {
	if !s.open('{') {
		return false
	}
	var seenMeta, seenData bool
	for n := 0; ; {
		key, end, ok := s.member(&n)
		if !ok {
			return false
		}
		if end {
			return seenMeta
		}
		switch string(key) {
		case "metadata":
			if seenMeta || !s.metadata(&sl.Metadata) {
				return false
			}
			seenMeta = true
		case "data":
			if seenData {
				return false
			}
			seenData = true
			if s.null() {
				sl.Data = nil
				continue
			}
			if out == nil {
				if !s.skip() {
					return false
				}
				continue
			}
			if !s.data(out) {
				return false
			}
		default:
			if foldsTo(key, "metadata", "data") || !s.skip() {
				return false
			}
		}
	}
}

// data reads a result's data (not null) into out.
func (s *scan) data(out any) bool {
	switch o := out.(type) {
	case *acctList:
		return s.object(func(s *scan, key []byte) (bool, int) {
			if string(key) == "acct" {
				return arrayExact(s, &o.Acct, (*scan).acct, &acctRows), 1
			}
			return s.unknown(key, "acct"), 0
		})
	case *featuresList:
		return s.object(func(s *scan, key []byte) (bool, int) {
			if string(key) == "users_features_settings" {
				return arrayExact(s, &o.Users, (*scan).userFeature, &featureRows), 1
			}
			return s.unknown(key, "users_features_settings"), 0
		})
	case *forwardersResult:
		return s.object(func(s *scan, key []byte) (bool, int) {
			if string(key) == "uapi" {
				return s.forwardersUAPI(o), 1
			}
			return s.unknown(key, "uapi"), 0
		})
	}
	raw, ok := s.value()
	return ok && json.Unmarshal(raw, out) == nil
}

func (s *scan) forwardersUAPI(o *forwardersResult) bool {
	u := &o.UAPI
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "errors":
			return array(s, &u.Errors, (*scan).stringElem), 1
		case "status":
			return s.flex(&u.Status), 2
		case "data":
			return array(s, &u.Data, (*scan).forwarder), 3
		}
		return s.unknown(key, "errors", "status", "data"), 0
	})
}

func (s *scan) forwarder(f *Forwarder) bool {
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "dest":
			return s.str(&f.Dest), 1
		case "forward":
			return s.str(&f.Forward), 2
		}
		return s.unknown(key, "dest", "forward"), 0
	})
}

func (s *scan) userFeature(f *UserFeature) bool {
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "user":
			return s.str(&f.User), 1
		case "feature_list_setting":
			return s.flexString(&f.FeatureListSetting), 2
		case "cpuser_setting":
			return s.flexString(&f.CPUserSetting), 3
		}
		return s.unknown(key, "user", "feature_list_setting", "cpuser_setting"), 0
	})
}

func (s *scan) acct(a *Acct) bool {
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "user":
			return s.str(&a.User), 1
		case "domain":
			return s.str(&a.Domain), 2
		case "owner":
			return s.flexStringShared(&a.Owner), 3
		case "plan":
			return s.flexStringShared(&a.Plan), 4
		case "email":
			return s.flexString(&a.Email), 5
		case "suspended":
			return s.flex(&a.Suspended), 6
		case "ipv6":
			// json.RawMessage keeps a copy of the value's bytes, null included.
			raw, ok := s.value()
			a.IPv6 = bytes.Clone(raw)
			return ok, 7
		case "child_nodes":
			return array(s, &a.ChildNodes, (*scan).childNode), 8
		}
		return s.unknown(key, "user", "domain", "owner", "plan", "email", "suspended", "ipv6", "child_nodes"), 0
	})
}

func (s *scan) childNode(cn *ChildNode) bool {
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "workload":
			return s.strShared(&cn.Workload), 1
		case "alias":
			return s.strShared(&cn.Alias), 2
		}
		return s.unknown(key, "workload", "alias"), 0
	})
}

// metadata reads an envelope's metadata.
func (s *scan) metadata(m *Metadata) bool {
	return s.object(func(s *scan, key []byte) (bool, int) {
		switch string(key) {
		case "command":
			return s.strShared(&m.Command), 1
		case "version":
			return s.flex(&m.Version), 2
		case "result":
			return s.flex(&m.Result), 3
		case "reason":
			return s.flexStringShared(&m.Reason), 4
		}
		return s.unknown(key, "command", "version", "result", "reason"), 0
	})
}

// scan reads JSON from b at i, validating as it goes what encoding/json would
// refuse: a false return anywhere means "read it the other way".
type scan struct {
	b []byte
	i int
	// shared holds the values that repeat down a listing (an account's owner and
	// plan, its mail child's alias), so each is one string, not one per account.
	shared map[string]string
}

// maxShared bounds shared: beyond it, values are copied each.
const maxShared = 512

// share returns plain string content c as a string, one per distinct value.
func (s *scan) share(c []byte) string {
	if v, ok := s.shared[string(c)]; ok {
		return v
	}
	v := string(c)
	if s.shared == nil {
		s.shared = make(map[string]string)
	}
	if len(s.shared) < maxShared {
		s.shared[v] = v
	}
	return v
}

// strShared is str for a value that repeats.
func (s *scan) strShared(p *string) bool {
	if s.i < len(s.b) && s.b[s.i] == '"' {
		start := s.i
		if c, plain, ok := s.rawString(); ok && plain {
			*p = s.share(c)
			return true
		}
		s.i = start
	}
	return s.str(p)
}

// flexStringShared is flexString for a value that repeats.
func (s *scan) flexStringShared(p *FlexString) bool {
	if s.i < len(s.b) && s.b[s.i] == '"' {
		start := s.i
		if c, plain, ok := s.rawString(); ok && plain {
			*p = FlexString(s.share(c))
			return true
		}
		s.i = start
	}
	return s.flexString(p)
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat consumes c, after white space, if it is next.
func (s *scan) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// open consumes the opening bracket c of an object or array.
func (s *scan) open(c byte) bool { return s.eat(c) }

// null consumes a null, if it is next.
func (s *scan) null() bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// member moves to the object's next member and returns its key, or end after the
// closing brace; *n counts the members read. Keys must be plain (no escapes,
// ASCII): encoding/json matches unescaped keys and folds Unicode case.
func (s *scan) member(n *int) (key []byte, end, ok bool) {
	if s.eat('}') {
		return nil, true, true
	}
	if *n > 0 && !s.eat(',') {
		return nil, false, false
	}
	*n++
	s.ws()
	k, plain, ok := s.rawString()
	if !ok || !plain || !s.eat(':') {
		return nil, false, false
	}
	s.ws()
	return k, false, true
}

// element moves to the array's next element, or end after the closing bracket; i
// counts the elements read.
func (s *scan) element(i int) (end, ok bool) {
	if s.eat(']') {
		return true, true
	}
	if i > 0 && !s.eat(',') {
		return false, false
	}
	s.ws()
	return false, true
}

// object reads an object into a struct: field reads the value of key and returns
// the field's number (1–63; 0 for a key it skipped), so a key given twice, whose
// value encoding/json would merge or overwrite, is refused.
func (s *scan) object(field func(s *scan, key []byte) (ok bool, bit int)) bool {
	if !s.open('{') {
		return false
	}
	var seen uint64
	for n := 0; ; {
		key, end, ok := s.member(&n)
		if !ok {
			return false
		}
		if end {
			return true
		}
		ok, bit := field(s, key)
		if !ok {
			return false
		}
		if bit > 0 {
			if seen&(1<<bit) != 0 {
				return false
			}
			seen |= 1 << bit
		}
	}
}

// array reads a JSON array into a slice: null is nil, [] an empty slice, as
// encoding/json makes them; a null element is refused.
func array[T any](s *scan, out *[]T, elem func(*scan, *T) bool) bool {
	xs, null, ok := appendElems(s, nil, elem)
	switch {
	case !ok:
		return false
	case null:
		*out = nil
	case xs == nil:
		*out = []T{} // not nil, and no allocation
	default:
		*out = xs
	}
	return true
}

// Pools of rows read before they are copied out at their final length: grown by
// doubling, a parent's 500 listaccts rows allocated about twice their size on the
// way (27 MB of a 100k plan's garbage).
var (
	acctRows    = sync.Pool{New: func() any { return new([]Acct) }}
	featureRows = sync.Pool{New: func() any { return new([]UserFeature) }}
)

// maxPooledRows bounds the rows a pooled slice keeps between reads.
const maxPooledRows = 1 << 14

// arrayExact is array for long arrays: the elements are read into a slice from
// pool, and the caller's slice is allocated once, at their number.
func arrayExact[T any](s *scan, out *[]T, elem func(*scan, *T) bool, pool *sync.Pool) bool {
	sp := pool.Get().(*[]T)
	xs, null, ok := appendElems(s, (*sp)[:0], elem)
	switch {
	case !ok:
	case null:
		*out = nil
	default:
		*out = append(make([]T, 0, len(xs)), xs...) // [] too: empty, not nil
	}
	clear(xs) // the rows' strings are the caller's now, not the pool's
	if cap(xs) <= maxPooledRows {
		*sp = xs[:0]
		pool.Put(sp)
	}
	return ok
}

// appendElems appends a JSON array's elements to xs; null says the value was null.
// On failure xs is returned as far as it got.
func appendElems[T any](s *scan, xs []T, elem func(*scan, *T) bool) (_ []T, null, ok bool) {
	if s.null() {
		return xs, true, true
	}
	if !s.open('[') {
		return xs, false, false
	}
	for i := 0; ; i++ {
		end, ok := s.element(i)
		if !ok {
			return xs, false, false
		}
		if end {
			return xs, false, true
		}
		if s.i < len(s.b) && s.b[s.i] == 'n' {
			return xs, false, false
		}
		var zero T
		xs = append(xs, zero)
		if !elem(s, &xs[len(xs)-1]) {
			return xs, false, false
		}
	}
}

// stringElem reads an array's string element.
func (s *scan) stringElem(p *string) bool {
	return s.str(p)
}

// unknown skips the value of a key no field has, refusing a key that matches one
// only by case (encoding/json would fill that field).
func (s *scan) unknown(key []byte, fields ...string) bool {
	return !foldsTo(key, fields...) && s.skip()
}

// foldsTo reports whether ASCII key equals one of names but for case.
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// str reads a JSON string into a string field; null leaves it as it is.
func (s *scan) str(p *string) bool {
	if s.null() {
		return true
	}
	start := s.i
	c, plain, ok := s.rawString()
	if !ok {
		return false
	}
	if plain {
		*p = string(c)
		return true
	}
	// Escapes, and the replacement of invalid UTF-8, as encoding/json does them.
	return json.Unmarshal(s.b[start:s.i], p) == nil
}

// flexString reads a FlexString: a plain string is its bytes, anything else goes
// through its UnmarshalJSON as encoding/json would call it.
func (s *scan) flexString(p *FlexString) bool {
	if s.i < len(s.b) && s.b[s.i] == '"' {
		start := s.i
		c, plain, ok := s.rawString()
		if !ok {
			return false
		}
		if plain {
			*p = FlexString(c)
			return true
		}
		return p.UnmarshalJSON(s.b[start:s.i]) == nil
	}
	return s.flex(p)
}

// flex hands a value to u's UnmarshalJSON, as encoding/json does (null included).
func (s *scan) flex(u json.Unmarshaler) bool {
	raw, ok := s.value()
	return ok && u.UnmarshalJSON(raw) == nil
}

// value passes one value and returns its bytes.
func (s *scan) value() ([]byte, bool) {
	s.ws()
	start := s.i
	if !s.skipValue(0) {
		return nil, false
	}
	return s.b[start:s.i], true
}

func (s *scan) skip() bool {
	_, ok := s.value()
	return ok
}

// maxDepth bounds the nesting skipValue follows, well under encoding/json's limit
// (10,000 from the top of the answer): deeper is refused, and left to it.
const maxDepth = 1000

func (s *scan) skipValue(depth int) bool {
	if depth > maxDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '{':
		s.i++
		for n := 0; ; {
			if s.eat('}') {
				return true
			}
			if n > 0 && !s.eat(',') {
				return false
			}
			n++
			s.ws()
			if _, _, ok := s.rawString(); !ok || !s.eat(':') {
				return false
			}
			s.ws()
			if !s.skipValue(depth + 1) {
				return false
			}
		}
	case '[':
		s.i++
		for n := 0; ; n++ {
			if s.eat(']') {
				return true
			}
			if n > 0 && !s.eat(',') {
				return false
			}
			s.ws()
			if !s.skipValue(depth + 1) {
				return false
			}
		}
	case '"':
		_, _, ok := s.rawString()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scan) literal(l string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		s.i += len(l)
		return true
	}
	return false
}

// number passes a number as JSON writes them: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scan) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	s.i = i
	return true
}

// rawString passes a string at s.i and returns what is between its quotes, and
// whether that is its value as it stands (no escapes, printable ASCII).
func (s *scan) rawString() (content []byte, plain, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	plain = true
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], plain, true
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return nil, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		case c >= 0x80:
			plain = false
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
