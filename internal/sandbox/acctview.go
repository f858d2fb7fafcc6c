package sandbox

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// acctView is one listaccts/accountsummary entry. It encodes itself field by field
// from a copy of the account taken under the lock, because building a map of ~45
// boxed values per account made listaccts of 10k accounts cost 40 MB and 170 ms.
type acctView struct {
	a      account
	fields []int // indices into acctFields; nil means all
	// summary shapes the entry as accountsummary's page documents it, where it
	// differs from listaccts' page (the source shares the code; the reference
	// documents each function on its own page, and each function follows its own).
	summary bool
}

type acctField struct {
	name string
	app  func(b []byte, a *account) []byte
}

func strField(f func(a *account) string) func([]byte, *account) []byte {
	return func(b []byte, a *account) []byte { return appendJSONString(b, f(a)) }
}

func lit(s string) func([]byte, *account) []byte {
	return func(b []byte, _ *account) []byte { return append(b, s...) }
}

func boolInt(f func(a *account) bool) func([]byte, *account) []byte {
	return func(b []byte, a *account) []byte {
		if f(a) {
			return append(b, '1')
		}
		return append(b, '0')
	}
}

// acctFields are listaccts' fields, in the order they are written.
var acctFields = []acctField{
	{"user", strField(func(a *account) string { return a.User })},
	{"domain", strField(func(a *account) string { return a.Domain })},
	{"ip", strField(func(a *account) string { return a.IP })},
	{"ipv6", func(b []byte, a *account) []byte {
		b = append(b, '[')
		for i, x := range a.IPv6 {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, x)
		}
		return append(b, ']')
	}},
	{"email", strField(func(a *account) string {
		if a.ContactEmail == "" {
			return "*unknown*"
		}
		return a.ContactEmail
	})},
	{"owner", strField(func(a *account) string { return a.Owner })},
	{"plan", strField(func(a *account) string { return a.Plan })},
	{"theme", lit(`"jupiter"`)},
	{"suspended", boolInt(func(a *account) bool { return a.Suspended })},
	{"suspendreason", strField(func(a *account) string {
		if !a.Suspended {
			return "not suspended"
		}
		return a.SuspendReason
	})},
	// listaccts: an integer, 0 when not suspended (11.120 Whostmgr/Accounts/List.pm:
	// "suspendtime => ( $rSUSTIME->{$user} || 0 )"). accountsummary: see summaryFields.
	{"suspendtime", func(b []byte, a *account) []byte {
		if !a.Suspended {
			return append(b, '0')
		}
		return strconv.AppendInt(b, a.SuspendTime, 10)
	}},
	{"is_locked", lit("0")},
	{"outgoing_mail_suspended", lit("0")},
	{"outgoing_mail_hold", lit("0")},
	{"shell", lit(`"/usr/local/cpanel/bin/noshell"`)},
	{"uid", func(b []byte, a *account) []byte { return strconv.AppendInt(b, int64(a.UID), 10) }},
	{"partition", lit(`"home"`)},
	{"disklimit", lit(`"unlimited"`)},
	{"diskused", lit(`"0M"`)},
	{"inodeslimit", lit(`"unlimited"`)},
	{"inodesused", lit("0")},
	{"backup", lit("0")},
	{"legacy_backup", lit("0")},
	{"has_backup", lit("0")},
	{"startdate", strField(func(a *account) string { return time.Unix(a.StartDate, 0).UTC().Format("06 Jan 02 15:04") })},
	{"unix_startdate", func(b []byte, a *account) []byte { return strconv.AppendInt(b, a.StartDate, 10) }},
	{"mailbox_format", lit(`"maildir"`)},
	{"maxaddons", lit(`"unlimited"`)},
	{"maxftp", lit(`"unlimited"`)},
	{"maxlst", lit(`"unlimited"`)},
	{"maxparked", lit(`"unlimited"`)},
	{"maxpop", lit(`"unlimited"`)},
	{"maxsql", lit(`"unlimited"`)},
	{"maxsub", lit(`"unlimited"`)},
	{"max_emailacct_quota", lit(`"unlimited"`)},
	{"max_email_per_hour", lit(`"unlimited"`)},
	{"max_defer_fail_percentage", lit(`"unlimited"`)},
	{"min_defer_fail_to_trigger_protection", lit("5")},
	{"temporary", lit("0")},
	{"is_temporary_domain", boolInt(func(a *account) bool { return a.TemporaryDomain })},
	{"child_nodes", func(b []byte, a *account) []byte {
		if a.MailNode == "" {
			return append(b, "[]"...)
		}
		b = append(b, `[{"workload":"Mail","alias":`...)
		b = appendJSONString(b, a.MailNode)
		return append(b, "}]"...)
	}},
}

// summaryFields replace or drop listaccts' fields in accountsummary's answer: its
// page documents suspendtime as a string or null and has no has_backup.
var summaryFields = map[string]func(b []byte, a *account) []byte{
	"suspendtime": func(b []byte, a *account) []byte {
		if !a.Suspended {
			return append(b, "null"...)
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, a.SuspendTime, 10)
		return append(b, '"')
	},
	"has_backup": nil,
}

var acctFieldIndex = func() map[string]int {
	m := make(map[string]int, len(acctFields))
	for i, f := range acctFields {
		m[f.name] = i
	}
	return m
}()

// wantFields turns listaccts' want list into field indices; unknown names are
// skipped. An empty list means every field.
func wantFields(want []string) []int {
	if len(want) == 0 {
		return nil
	}
	out := []int{}
	for _, w := range want {
		if i, ok := acctFieldIndex[w]; ok {
			out = append(out, i)
		}
	}
	return out
}

func (v acctView) MarshalJSON() ([]byte, error) {
	return v.appendJSON(make([]byte, 0, 1024)), nil
}

// appendJSON appends the entry's JSON to b: MarshalJSON's bytes, which encoding/json
// passes on unchanged (compact, and compacting with HTML left unescaped changes
// nothing else), so appendAnswer writes them directly. The receiver is a pointer
// and the fields are walked without eachField's closure: the entry (a copy of the
// account, ≈400 bytes) escaped to the heap once more for every entry written.
func (v *acctView) appendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, '{')
	if v.fields == nil {
		for i := range acctFields {
			b = v.appendField(b, start, i)
		}
	} else {
		for _, i := range v.fields {
			b = v.appendField(b, start, i)
		}
	}
	return append(b, '}')
}

// appendField appends field i of acctFields (a summary's own form of it, or
// nothing when a summary leaves it out), after a comma unless it is the first
// since start.
func (v *acctView) appendField(b []byte, start, i int) []byte {
	app := acctFields[i].app
	if v.summary {
		if f, ok := summaryFields[acctFields[i].name]; ok {
			if f == nil {
				return b
			}
			app = f
		}
	}
	if len(b) > start+1 {
		b = append(b, ',')
	}
	b = appendJSONString(b, acctFields[i].name)
	b = append(b, ':')
	return app(b, &v.a)
}

// appendJSONString writes s as a JSON string; UTF-8 passes through, invalid bytes
// become U+FFFD, control characters, quotes and backslashes are escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// columnKeys are the keys the entry writes (api.columns.*, columns.go).
func (v acctView) columnKeys() []string {
	var keys []string
	v.eachField(func(i int) {
		name := acctFields[i].name
		if v.summary {
			if f, ok := summaryFields[name]; ok && f == nil {
				return
			}
		}
		keys = append(keys, name)
	})
	if keys == nil {
		keys = []string{}
	}
	return keys
}

// eachField calls fn with the index in acctFields of each field the entry writes, in
// order: all of them, or those columns kept.
func (v acctView) eachField(fn func(i int)) {
	if v.fields == nil {
		for i := range acctFields {
			fn(i)
		}
		return
	}
	for _, i := range v.fields {
		fn(i)
	}
}

// dropColumns is the entry without the keys in drop.
func (v acctView) dropColumns(drop map[string]bool) any {
	v.fields = v.keptFields(drop)
	return v
}

// keptFields are the indices of the fields the entry writes that are not in drop.
func (v acctView) keptFields(drop map[string]bool) []int {
	fields := []int{}
	v.eachField(func(i int) {
		if !drop[acctFields[i].name] {
			fields = append(fields, i)
		}
	})
	return fields
}

// acctList is listaccts' entries; they share one field list (want=), so the output
// columns are worked out once and the entries filtered in place.
type acctList []acctView

func (l acctList) firstKeys() ([]string, bool) {
	if len(l) == 0 {
		return nil, false
	}
	return l[0].columnKeys(), true
}

func (l acctList) dropColumns(drop map[string]bool) any {
	type shape struct {
		fields  *int
		n       int
		all     bool
		summary bool
	}
	memo := map[shape][]int{}
	for i := range l {
		v := &l[i]
		k := shape{n: len(v.fields), all: v.fields == nil, summary: v.summary}
		if len(v.fields) > 0 {
			k.fields = &v.fields[0]
		}
		f, ok := memo[k]
		if !ok {
			f = v.keptFields(drop)
			memo[k] = f
		}
		v.fields = f
	}
	return l
}
