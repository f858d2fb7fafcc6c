package dnszone

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MassEditTypes are the record types mass_edit_dns_zone may add.
var MassEditTypes = []string{"A", "AAAA", "AFSDB", "CAA", "CNAME", "DNAME", "DS", "HINFO",
	"LOC", "MX", "NAPTR", "NS", "PTR", "RP", "SRV", "TLSA", "TXT"}

// StaleError is mass_edit_dns_zone's typed error "Stale": the caller's serial is not
// the zone's. The sandbox answers result 0, reason Error(), data {type, detail: null}.
type StaleError struct {
	Given   uint32
	Current uint32
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("The given serial number (%d) does not match the DNS zone’s serial number (%d). Refresh your view of the DNS zone, then resubmit.", e.Given, e.Current)
}

// LineError is one entry of InvalidZoneFile's detail.by_line: a 0-based line index and
// what is wrong there. It marshals as the two-element array cPanel uses.
type LineError struct {
	Line    int
	Message string
}

// MarshalJSON writes [line, message].
func (l LineError) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{l.Line, l.Message})
}

// UnmarshalJSON reads [line, message].
func (l *LineError) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("by_line entry: want [line, message], got %s", b)
	}
	if err := json.Unmarshal(pair[0], &l.Line); err != nil {
		return fmt.Errorf("by_line entry line: %w", err)
	}
	return json.Unmarshal(pair[1], &l.Message)
}

// InvalidZoneFileError is the typed error "InvalidZoneFile": the edited zone would not
// load. Data is {type: "InvalidZoneFile", detail: {by_line: [[line, message], …]}}.
type InvalidZoneFileError struct {
	ByLine []LineError
}

func (e *InvalidZoneFileError) Error() string {
	parts := make([]string, len(e.ByLine))
	for i, l := range e.ByLine {
		parts[i] = fmt.Sprintf("Line %d: %s", l.Line+1, l.Message)
	}
	return "The DNS zone file is invalid. (" + strings.Join(parts, "; ") + ")"
}

// InputError is a failure without a type: result 0 and the message as reason.
type InputError struct{ Reason string }

func (e *InputError) Error() string { return e.Reason }

// TypedError is the data object of a failure that has a type.
type TypedError struct {
	Type   string `json:"type"`
	Detail any    `json:"detail"`
}

// TypedErrorData returns the data object the real server sends with err, and false
// when err has no type (then only metadata.reason carries it).
func TypedErrorData(err error) (TypedError, bool) {
	switch e := err.(type) {
	case *StaleError:
		return TypedError{Type: "Stale"}, true
	case *InvalidZoneFileError:
		return TypedError{Type: "InvalidZoneFile", Detail: map[string]any{"by_line": e.ByLine}}, true
	}
	return TypedError{}, false
}

// editItem is one add or edit argument after decoding.
type editItem struct {
	lineIndex  int
	dname      string
	ttl        uint32
	recordType string
	data       []string
}

// MassEdit applies mass_edit_dns_zone to z: edits and removals address records by
// line index in the zone as it was (Text), additions go to the end, and the serial is
// bumped as cPanel does (today's YYYYMMDD00, or +1). add and edit are the JSON strings
// the API receives. Nothing changes unless everything succeeds. Errors are
// *InputError, *StaleError or *InvalidZoneFileError.
func MassEdit(z *Zone, serial uint32, add, edit []string, remove []int) (uint32, error) {
	return MassEditAt(z, serial, add, edit, remove, time.Now())
}

// MassEditAt is MassEdit with the clock given.
func MassEditAt(z *Zone, serial uint32, add, edit []string, remove []int, now time.Time) (uint32, error) {
	if len(add) == 0 && len(edit) == 0 && len(remove) == 0 {
		return 0, &InputError{"You must provide at least one change to the DNS zone."}
	}
	adds := make([]editItem, 0, len(add))
	for _, s := range add {
		it, err := decodeItem(s, "add", false)
		if err != nil {
			return 0, err
		}
		if !allowedAddType(it.recordType) {
			return 0, &InputError{fmt.Sprintf("This interface cannot create “%s” records. It can only create %s records.", it.recordType, listAnd(MassEditTypes))}
		}
		adds = append(adds, it)
	}
	edits := make([]editItem, 0, len(edit))
	for _, s := range edit {
		it, err := decodeItem(s, "edit", true)
		if err != nil {
			return 0, err
		}
		edits = append(edits, it)
	}
	for _, li := range remove {
		if li < 0 {
			return 0, &InputError{"Each “remove” must be a nonnegative integer."}
		}
	}
	if serial != z.Serial {
		return 0, &StaleError{Given: serial, Current: z.Serial}
	}

	touched := map[int]bool{}
	claim := func(li int) (int, error) {
		i, err := z.RecordAt(li)
		if err != nil {
			return 0, &InputError{fmt.Sprintf("No record exists at line %d in the “%s” DNS zone.", li, strings.TrimSuffix(z.Origin, "."))}
		}
		if touched[li] {
			return 0, &InputError{fmt.Sprintf("You submitted multiple edits for line index %d. This interface forbids multiple edits per line.", li)}
		}
		touched[li] = true
		return i, nil
	}

	var lineErrs []LineError
	replaced := map[int]dns.RR{}
	newSerial := NextSerial(z.Serial, now)
	for _, it := range edits {
		i, err := claim(it.lineIndex)
		if err != nil {
			return 0, err
		}
		orig := z.Records[i]
		if _, isSOA := orig.(*dns.SOA); isSOA {
			if it.recordType != "SOA" {
				return 0, &InputError{"The SOA record’s type cannot change."}
			}
			if Fqdn(absName(it.dname, z.Origin)) != z.Origin {
				return 0, &InputError{"The SOA record’s name cannot change."}
			}
			if len(it.data) < 3 || it.data[2] != strconv.FormatUint(uint64(z.Serial), 10) {
				return 0, &InputError{fmt.Sprintf("This system forbids direct updates to the SOA record’s serial number. Provide the old serial number (%d) instead, and the system will upate the serial number for you.", z.Serial)}
			}
			it.data[2] = strconv.FormatUint(uint64(newSerial), 10)
		} else if it.recordType == "SOA" {
			return 0, &InputError{"Only one SOA record can exist in a given DNS zone."}
		}
		rr, msg := buildRecord(z.Origin, it)
		if msg != "" {
			lineErrs = append(lineErrs, LineError{Line: it.lineIndex, Message: msg})
			continue
		}
		replaced[i] = rr
	}
	removed := map[int]bool{}
	for _, li := range remove {
		i, err := claim(li)
		if err != nil {
			return 0, err
		}
		if _, isSOA := z.Records[i].(*dns.SOA); isSOA {
			return 0, &InputError{"Every DNS zone must contain an SOA record."}
		}
		removed[i] = true
	}

	out := make([]dns.RR, 0, len(z.Records)+len(adds))
	hasNS := false
	for i, rr := range z.Records {
		if removed[i] {
			continue
		}
		// As cPanel does, a kept record counts by the type it had before the edit,
		// and records added by this call do not count.
		if rr.Header().Rrtype == dns.TypeNS {
			hasNS = true
		}
		if r, ok := replaced[i]; ok {
			rr = r
		} else {
			rr = dns.Copy(rr)
		}
		out = append(out, rr)
	}
	if !hasNS {
		return 0, &InputError{"Every DNS zone must contain at least one “NS” record."}
	}
	for _, it := range adds {
		if it.recordType == "SOA" {
			return 0, &InputError{"Only one SOA record can exist in a given DNS zone."}
		}
		line := HeaderLines + len(out)
		rr, msg := buildRecord(z.Origin, it)
		if msg != "" {
			lineErrs = append(lineErrs, LineError{Line: line, Message: msg})
			out = append(out, nil) // keeps later additions on their own line numbers
			continue
		}
		out = append(out, rr)
	}
	lineErrs = append(lineErrs, checkZone(out)...)
	if len(lineErrs) > 0 {
		sort.SliceStable(lineErrs, func(i, j int) bool { return lineErrs[i].Line < lineErrs[j].Line })
		return 0, &InvalidZoneFileError{ByLine: lineErrs}
	}
	z.Records = out
	z.SetSerial(newSerial)
	return newSerial, nil
}

// checkZone finds what would stop the zone from loading: a CNAME beside other data.
func checkZone(rrs []dns.RR) []LineError {
	cname := map[string]int{}
	other := map[string]int{}
	for i, rr := range rrs {
		if rr == nil {
			continue
		}
		n := Fqdn(rr.Header().Name)
		if rr.Header().Rrtype == dns.TypeCNAME {
			if _, dup := cname[n]; dup {
				return []LineError{{Line: HeaderLines + i, Message: fmt.Sprintf("%s: multiple RRs of singleton type", strings.TrimSuffix(n, "."))}}
			}
			cname[n] = i
		} else if _, seen := other[n]; !seen {
			other[n] = i
		}
	}
	var out []LineError
	for n, i := range cname {
		if j, ok := other[n]; ok {
			if j > i {
				i = j
			}
			out = append(out, LineError{Line: HeaderLines + i, Message: fmt.Sprintf("%s: CNAME and other data", strings.TrimSuffix(n, "."))})
		}
	}
	return out
}

func allowedAddType(t string) bool {
	for _, a := range MassEditTypes {
		if a == t {
			return true
		}
	}
	return false
}

func listAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + ", and " + items[len(items)-1]
}

// decodeItem decodes one add/edit JSON object leniently (numbers may be strings, as
// with any Perl back end) and checks it has every piece cPanel requires.
func decodeItem(s, kind string, withLine bool) (editItem, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw == nil {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return editItem{}, &InputError{fmt.Sprintf("Each “%s” must be valid JSON.", kind)}
		}
		return editItem{}, &InputError{fmt.Sprintf("Each “%s” must be an object.", kind)}
	}
	needed := []string{"dname", "ttl", "record_type", "data"}
	if withLine {
		needed = append([]string{"line_index"}, needed...)
	}
	for _, k := range needed {
		v, ok := raw[k]
		if !ok || string(v) == `""` || string(v) == "null" {
			return editItem{}, &InputError{fmt.Sprintf("Each “%s” requires %s.", kind, quotedListAnd(needed))}
		}
	}
	var it editItem
	var err error
	if withLine {
		n, e := jsonUint(raw["line_index"])
		if e != nil {
			return editItem{}, &InputError{fmt.Sprintf("“line_index” must be a nonnegative integer: %v", e)}
		}
		it.lineIndex = int(n)
	}
	if it.dname, err = jsonString(raw["dname"]); err != nil {
		return editItem{}, &InputError{fmt.Sprintf("“dname” must be a string: %v", err)}
	}
	ttl, err := jsonUint(raw["ttl"])
	if err != nil || ttl > 1<<31-1 {
		return editItem{}, &InputError{fmt.Sprintf("“ttl” must be a nonnegative integer, not %s.", raw["ttl"])}
	}
	it.ttl = uint32(ttl)
	if it.recordType, err = jsonString(raw["record_type"]); err != nil {
		return editItem{}, &InputError{fmt.Sprintf("“record_type” must be a string: %v", err)}
	}
	it.recordType = strings.ToUpper(it.recordType)
	var data []json.RawMessage
	if err := json.Unmarshal(raw["data"], &data); err != nil {
		return editItem{}, &InputError{"“data” must be an array."}
	}
	for _, d := range data {
		v, err := jsonString(d)
		if err != nil {
			return editItem{}, &InputError{fmt.Sprintf("Each “data” item must be a string or a number: %v", err)}
		}
		it.data = append(it.data, v)
	}
	return it, nil
}

func quotedListAnd(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "“" + s + "”"
	}
	return listAnd(q)
}

func jsonString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return "", fmt.Errorf("%s is neither string nor number", v)
	}
	return n.String(), nil
}

func jsonUint(v json.RawMessage) (uint64, error) {
	s, err := jsonString(v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(s), 10, 32)
}

func absName(dname, origin string) string {
	if strings.HasSuffix(dname, ".") {
		return dname
	}
	return dname + "." + origin
}

// buildRecord turns an add/edit item into a record the way cPanel writes the line
// (name, TTL, type, values; character strings quoted) and parses it back. The second
// result is the parse error for by_line, empty on success.
func buildRecord(origin string, it editItem) (dns.RR, string) {
	name := absName(it.dname, origin)
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Sprintf("“%s” is not a valid domain name", it.dname)
	}
	if !dns.IsSubDomain(origin, Fqdn(name)) {
		return nil, fmt.Sprintf("%s: out of zone data", strings.TrimSuffix(name, "."))
	}
	if _, ok := dns.StringToType[it.recordType]; !ok {
		return nil, fmt.Sprintf("unknown RR type “%s”", it.recordType)
	}
	vals := make([]string, len(it.data))
	for i, d := range it.data {
		if quotedField(it.recordType, i) {
			vals[i] = quote(d)
		} else {
			vals[i] = d
		}
	}
	line := fmt.Sprintf("%s %d IN %s %s", name, it.ttl, it.recordType, strings.Join(vals, " "))
	rr, err := dns.NewRR(line)
	if err != nil {
		return nil, cleanParseError(err)
	}
	if rr == nil {
		return nil, "empty record"
	}
	// miekg/dns accepts missing rdata (meant for UPDATE); a zone file does not.
	if back, err := dns.NewRR(rr.String()); err != nil || back == nil || !dns.IsDuplicate(back, rr) {
		return nil, fmt.Sprintf("%s: incomplete %s record", strings.TrimSuffix(name, "."), it.recordType)
	}
	rr.Header().Name = Fqdn(rr.Header().Name)
	return rr, ""
}

// quotedField reports whether field i of type t is a character string.
func quotedField(t string, i int) bool {
	switch t {
	case "TXT", "SPF", "HINFO":
		return true
	case "CAA":
		return i == 2
	case "NAPTR":
		return i >= 2 && i <= 4
	}
	return false
}

// quote writes s as a zone-file character string: quotes and backslashes escaped,
// other unprintable octets as \DDD.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// cleanParseError keeps the useful part of a miekg/dns parse error: no "dns: " prefix,
// no position inside the one-line text we built.
func cleanParseError(err error) string {
	s := strings.TrimPrefix(err.Error(), "dns: ")
	if i := strings.Index(s, " at line: "); i >= 0 {
		s = s[:i]
	}
	return s
}
