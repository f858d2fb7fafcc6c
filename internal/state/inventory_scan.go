package state

// A plan reads only the inventory's addresses (InventoryAddresses). encoding/json
// read them from the 100k fleet's 11 MB of inventory in two passes over every byte
// (validating, then decoding each entry into an empty struct), most of a plan's
// state read. The scanner here reads the addresses in one pass, and only from the
// shape the folder writes: it declines anything else (escapes or non-ASCII bytes in
// a string, nesting inside an entry, unknown or repeated keys, keys that match only
// by case, nulls, trailing data, invalid JSON), and what it declines is read by
// encoding/json as before, errors included. TestScanAddressesMatchesJSON and
// FuzzScanAddresses hold it to encoding/json.

// addrScan reads one JSON text from b.
type addrScan struct {
	b []byte
	i int
}

func (s *addrScan) ws() {
	for s.i < len(s.b) && isSpace[s.b[s.i]] {
		s.i++
	}
}

// isSpace and isPlain classify bytes by table: white space between tokens, and
// what str reads inside a string (printable ASCII but '"' and '\\').
var isSpace, isPlain = func() (sp, pl [256]bool) {
	sp[' '], sp['\t'], sp['\n'], sp['\r'] = true, true, true, true
	for c := 0x20; c < 0x80; c++ {
		pl[c] = c != '"' && c != '\\'
	}
	return sp, pl
}()

// next skips white space and reports whether the next byte is c, consuming it.
func (s *addrScan) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (s *addrScan) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) && isPlain[s.b[s.i]] {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '"' {
		s.i++
		return s.b[start : s.i-1], true
	}
	return nil, false // an escape, a control or non-ASCII byte, or the end
}

// scalar skips a string (as str reads them), a number, true or false.
func (s *addrScan) scalar() bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func (s *addrScan) lit(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// number skips a number of JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *addrScan) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *addrScan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// members reads an object's members, calling member after each key (the scanner
// then at its value, which member must read). It is at the object's '{'.
func (s *addrScan) members(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.next(':') || !member(k) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// entry reads an inventory entry: an object of scalars, returning its "address"
// ("" without one, as encoding/json leaves it).
func (s *addrScan) entry() (addr []byte, ok bool) {
	seen := false
	ok = s.members(func(k []byte) bool {
		if string(k) == "address" {
			if seen {
				return false
			}
			seen = true
			a, ok := s.str()
			addr = a
			return ok
		}
		// encoding/json matches a field's name case-insensitively.
		if len(k) == len("address") && equalFoldASCII(k, "address") {
			return false
		}
		return s.scalar()
	})
	return addr, ok
}

// end reports whether only white space is left.
func (s *addrScan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// scanSnapshotAddresses reads inventory.json's addresses (the keys of "objects")
// into owned. It reports false when it declines; owned may then hold some.
func scanSnapshotAddresses(b []byte, owned map[string]bool) bool {
	s := &addrScan{b: b}
	var version, objects bool
	return s.members(func(k []byte) bool {
		switch string(k) {
		case "version":
			// An int: digits only, few enough not to overflow.
			if version {
				return false
			}
			version = true
			// An int: at most nine digits, no sign, fraction, exponent or leading zero
			// (what follows must be ',' or '}', so "1.5" or "1e3" is declined there).
			s.ws()
			start := s.i
			n := s.digits()
			return n > 0 && n <= 9 && (n == 1 || s.b[start] != '0')
		case "objects":
			if objects {
				return false
			}
			objects = true
			return s.members(func(addr []byte) bool {
				owned[string(addr)] = true
				_, ok := s.entry()
				return ok
			})
		}
		return false
	}) && s.end()
}

// scanLogAddresses reads one inventory.log line's removed and added addresses,
// appending them to remove and add. It reports false when it declines.
func scanLogAddresses(line []byte, remove, add []string) ([]string, []string, bool) {
	s := &addrScan{b: line}
	var seenAdd, seenRemove bool
	ok := s.members(func(k []byte) bool {
		switch string(k) {
		case "add":
			if seenAdd {
				return false
			}
			seenAdd = true
			return s.list(func() bool {
				a, ok := s.entry()
				add = append(add, string(a))
				return ok
			})
		case "remove":
			if seenRemove {
				return false
			}
			seenRemove = true
			return s.list(func() bool {
				a, ok := s.str()
				remove = append(remove, string(a))
				return ok
			})
		}
		return false
	}) && s.end()
	return remove, add, ok
}

// list reads an array, calling elem at each element.
func (s *addrScan) list(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

func equalFoldASCII(b []byte, lower string) bool {
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
