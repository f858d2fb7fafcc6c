package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// The output columns of WHM API 1 (api.columns.enable=1&api.columns.a=user&…), applied
// as cPanel's generic API layer applies them to whatever a function returns (11.120
// Whostmgr/API/1/Data/Wrapper.pm apply → Data/Columns.pm → Cpanel/Args/Columns/Util.pm;
// UNCONFIRMED.md, "Output columns"): not by the functions themselves, so every function
// that returns records gets it, inside a batch too.

// run answers the call: the function, then the API layer's post-processing of its data.
func (c *call) run() (any, error) {
	data, err := c.dispatch()
	if err != nil || data == nil {
		return data, err
	}
	names, ok := columnsArgs(c.args)
	if !ok {
		return data, nil
	}
	return c.applyColumns(data, names)
}

// columnsArgs reads api.columns.*: whether columns are enabled (Perl truth: anything
// but "" and "0") and the names to keep, the values of every other api.columns.KEY
// (Data/Columns.pm takes `values %$args` once `enable` is deleted), in key order.
func columnsArgs(args url.Values) ([]string, bool) {
	const prefix = "api.columns."
	enabled := false
	var keys []string
	for k := range args {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" || strings.Contains(rest, ".") {
			continue
		}
		if rest == "enable" {
			v := args.Get(k)
			enabled = v != "" && v != "0"
			continue
		}
		keys = append(keys, k)
	}
	if !enabled {
		return nil, false
	}
	slices.Sort(keys)
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, args.Get(k))
	}
	return names, true
}

// columnRecord is a record that drops keys itself (accountsummary's entry).
type columnRecord interface {
	columnKeys() []string
	dropColumns(drop map[string]bool) any
}

// columnList is a list of records that drops keys from its records in place, so the
// API layer need not rebuild them (listaccts of a parent with tens of thousands of
// accounts).
type columnList interface {
	// firstKeys are the first record's keys; false when the list is empty.
	firstKeys() ([]string, bool)
	dropColumns(drop map[string]bool) any
}

// applyColumns keeps the named keys of data's records. The records are data's only
// value (no sandbox function names another with metadata.payload_name); data with
// several values is left as it is (real WHM picks one by Perl's hash order).
func (c *call) applyColumns(data any, names []string) (any, error) {
	m, ok := data.(map[string]any)
	if !ok {
		// Data of another Go type is re-read as JSON; data that is not an object is
		// not post-processed (Data/Wrapper.pm execute_internal applies only to a hash).
		var err error
		if m, err = asObject(data); err != nil {
			return data, nil
		}
	}
	if len(m) != 1 {
		return data, nil
	}
	var key string
	for k := range m {
		key = k
	}
	list, isList := m[key].(columnList)
	var records []any
	if !isList {
		var err error
		if records, err = recordList(m[key]); err != nil {
			return nil, err
		}
	}
	// The first record's keys decide which names are valid and what is dropped.
	var first []string
	if isList {
		first, _ = list.firstKeys()
	} else if len(records) > 0 {
		if first = recordKeys(records[0]); first == nil {
			return nil, perlDie("Not a HASH reference")
		}
	}
	keep := make(map[string]bool, len(names))
	var invalid []string
	for _, n := range names {
		keep[n] = true
		if !slices.Contains(first, n) {
			invalid = append(invalid, n)
		}
	}
	drop := map[string]bool{}
	for _, k := range first {
		if !keep[k] {
			drop[k] = true
		}
	}
	var out any
	if isList {
		out = list.dropColumns(drop)
	} else {
		l := make([]any, len(records))
		for i, r := range records {
			if l[i] = dropKeys(r, drop); l[i] == nil {
				return nil, perlDie("Not a HASH reference")
			}
		}
		out = l
	}
	meta := map[string]any{"invalid_msg": invalidColumnsMsg(invalid)}
	if len(invalid) > 0 {
		meta["invalid"] = invalid
	}
	if c.meta == nil {
		c.meta = map[string]any{}
	}
	c.meta["columns"] = meta
	return map[string]any{key: out}, nil
}

// recordList is v as a list; anything else makes the Perl die ($records_ar->[0] on a
// non-array).
func recordList(v any) ([]any, error) {
	switch v := v.(type) {
	case []any:
		return v, nil
	case json.RawMessage:
		var l []json.RawMessage
		if err := json.Unmarshal(v, &l); err != nil || l == nil {
			return nil, perlDie("Not an ARRAY reference")
		}
		out := make([]any, len(l))
		for i := range l {
			out[i] = l[i]
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, perlDie("Not an ARRAY reference")
	}
	l := make([]any, rv.Len())
	for i := range l {
		l[i] = rv.Index(i).Interface()
	}
	return l, nil
}

// recordKeys is a record's keys, nil when it is not an object.
func recordKeys(r any) []string {
	switch r := r.(type) {
	case columnRecord:
		return r.columnKeys()
	case map[string]any:
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		return keys
	}
	m, err := asObject(r)
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if keys == nil {
		keys = []string{}
	}
	return keys
}

// dropKeys is r without the keys in drop (those of the first record not kept: a key
// only a later record has stays, as in Cpanel/Args/Columns/Util.pm); nil when r is not
// an object.
func dropKeys(r any, drop map[string]bool) any {
	switch r := r.(type) {
	case columnRecord:
		return r.dropColumns(drop)
	case map[string]any:
		out := make(map[string]any, len(r))
		for k, v := range r {
			if !drop[k] {
				out[k] = v
			}
		}
		return out
	}
	m, err := asObject(r)
	if err != nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !drop[k] {
			out[k] = v
		}
	}
	return out
}

// asObject reads v's JSON as an object (a record of a type that does not filter
// itself; no sandbox answer on a hot path).
func asObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fmt.Errorf("not an object")
	}
	out := make(map[string]any, len(m))
	for k, raw := range m {
		out[k] = raw
	}
	return out, nil
}

// invalidColumnsMsg is metadata.columns.invalid_msg: cPanel's maketext
// "[list_and_quoted,_1] [numerate,_2,is not a,are not] valid [numerate,_2,column,columns]."
// or "None".
func invalidColumnsMsg(invalid []string) string {
	if len(invalid) == 0 {
		return "None"
	}
	q := make([]string, len(invalid))
	for i, n := range invalid {
		q[i] = "“" + n + "”"
	}
	var list string
	switch len(q) {
	case 1:
		list = q[0]
	case 2:
		list = q[0] + " and " + q[1]
	default:
		list = strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
	}
	if len(q) == 1 {
		return list + " is not a valid column."
	}
	return list + " are not valid columns."
}
