package sandbox

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

// columnsOf reads metadata.columns (nil when absent) and the keys of each record in
// data.KEY (nil when the answer has no data).
func columnsOf(t *testing.T, raw string, key string) (meta map[string]any, keys [][]string) {
	t.Helper()
	var a struct {
		Metadata struct {
			Columns map[string]any `json:"columns"`
		} `json:"metadata"`
		Data map[string][]map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if a.Data != nil {
		keys = [][]string{}
		for _, r := range a.Data[key] {
			k := make([]string, 0, len(r))
			for name := range r {
				k = append(k, name)
			}
			sort.Strings(k)
			keys = append(keys, k)
		}
	}
	return a.Metadata.Columns, keys
}

// TestColumns: api.columns.* as cPanel's API layer applies them (11.120
// Data/Columns.pm, Cpanel/Args/Columns/Util.pm; UNCONFIRMED.md "Output columns"), on
// every function with records: the named keys kept in every record, names the first
// record lacks reported, not refused; off unless enable is true in Perl's sense.
func TestColumns(t *testing.T) {
	s := startTest(t, "")
	s.link("web1", "mail1", "mail1")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example", "mail_node_alias", "mail1")
	s.must("web1", "createacct", "username", "bob", "domain", "bob.example", "reseller", "1")
	s.waitIdle()
	if err := s.AddIPv6Range("web1", "Block", "2001:db8:100:6::/64"); err != nil {
		t.Fatal(err)
	}

	every := func(n int, keys ...string) [][]string {
		out := make([][]string, n)
		for i := range out {
			out[i] = keys
		}
		return out
	}
	none := map[string]any{"invalid_msg": "None"}
	for _, tc := range []struct {
		name string
		fn   string
		kv   []string
		key  string // data's record list
		meta map[string]any
		keys [][]string
	}{
		{"two columns", "listaccts", []string{"api.columns.enable", "1", "api.columns.a", "user", "api.columns.b", "domain"}, "acct",
			none, every(2, "domain", "user")},
		{"any letter, any order", "listaccts", []string{"api.columns.enable", "1", "api.columns.z", "user", "api.columns.foo", "child_nodes"}, "acct",
			none, every(2, "child_nodes", "user")},
		{"an unknown name is reported, not refused", "listaccts", []string{"api.columns.enable", "1", "api.columns.a", "user", "api.columns.b", "nosuch"}, "acct",
			map[string]any{"invalid_msg": "“nosuch” is not a valid column.", "invalid": []any{"nosuch"}}, every(2, "user")},
		{"three unknown names", "listaccts", []string{"api.columns.enable", "1", "api.columns.a", "x", "api.columns.b", "y", "api.columns.c", "z"}, "acct",
			map[string]any{"invalid_msg": "“x”, “y”, and “z” are not valid columns.", "invalid": []any{"x", "y", "z"}}, every(2)},
		{"enabled without a name: empty records", "listaccts", []string{"api.columns.enable", "1"}, "acct",
			none, every(2)},
		{"enable=0 is off", "listaccts", []string{"api.columns.enable", "0", "api.columns.a", "user", "want", "user,domain"}, "acct",
			nil, every(2, "domain", "user")},
		{"no enable is off", "listaccts", []string{"api.columns.a", "user", "want", "user,domain"}, "acct",
			nil, every(2, "domain", "user")},
		{"enable=no is on (Perl truth)", "listaccts", []string{"api.columns.enable", "no", "api.columns.a", "user"}, "acct",
			none, every(2, "user")},
		// want trims the records first; a column want left out is then invalid.
		{"after want", "listaccts", []string{"want", "user,domain", "api.columns.enable", "1", "api.columns.a", "user", "api.columns.b", "plan"}, "acct",
			map[string]any{"invalid_msg": "“plan” is not a valid column.", "invalid": []any{"plan"}}, every(2, "user")},
		// accountsummary's entry has no has_backup (its own page).
		{"accountsummary", "accountsummary", []string{"user", "alice", "api.columns.enable", "1", "api.columns.a", "suspendtime", "api.columns.b", "has_backup"}, "acct",
			map[string]any{"invalid_msg": "“has_backup” is not a valid column.", "invalid": []any{"has_backup"}}, every(1, "suspendtime")},
		{"records built as maps", "list_linked_server_nodes", []string{"api.columns.enable", "1", "api.columns.a", "alias"}, "payload",
			none, every(1, "alias")},
		{"records in another slice type", "ipv6_range_list", []string{"api.columns.enable", "1", "api.columns.a", "name", "api.columns.b", "CIDR"}, "range",
			none, every(1, "CIDR", "name")},
		// No data (no account matches): nothing to post-process, no metadata.
		{"no data", "listaccts", []string{"searchtype", "user", "search", "^nobody$", "api.columns.enable", "1", "api.columns.a", "user"}, "acct",
			nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := s.must("web1", tc.fn, tc.kv...)
			meta, keys := columnsOf(t, e.Raw, tc.key)
			if !equalJSON(meta, tc.meta) {
				t.Errorf("metadata.columns = %v, want %v", meta, tc.meta)
			}
			if tc.keys != nil && !slices.EqualFunc(keys, tc.keys, slices.Equal) {
				t.Errorf("record keys = %v, want %v\n%s", keys, tc.keys, e.Raw)
			}
			if tc.name == "no data" && e.hasData {
				t.Errorf("data in %s", e.Raw)
			}
		})
	}

	// Data that is not a list of objects makes the Perl die: result 0, no data.
	for _, fn := range []string{"version", "listresellers"} {
		e := s.refused("API failure: Not a", "web1", fn, "api.columns.enable", "1", "api.columns.a", "user")
		if e.hasData {
			t.Errorf("%s: data in a failure: %s", fn, e.Raw)
		}
	}
}

// TestColumnsInBatch: a batch command's own api.columns.* apply to that command's
// answer (UNCONFIRMED.md: batch's dispatcher is absent from the 11.120 dump; its
// parse_batch keeps them); the batch's own apply to its list of envelopes.
func TestColumnsInBatch(t *testing.T) {
	s := startTest(t, "")
	s.must("web1", "createacct", "username", "alice", "domain", "alice.example")
	e := s.must("web1", "batch",
		"command", "listaccts?api.columns.enable=1&api.columns.a=user&api.columns.b=nosuch",
		"command", "listaccts?want=user,domain")
	var d struct {
		Result []json.RawMessage `json:"result"`
	}
	e.decode(t, &d)
	if len(d.Result) != 2 {
		t.Fatalf("%d results: %s", len(d.Result), e.Raw)
	}
	for i, want := range []struct {
		meta map[string]any
		keys [][]string
	}{
		{map[string]any{"invalid_msg": "“nosuch” is not a valid column.", "invalid": []any{"nosuch"}}, [][]string{{"user"}}},
		{nil, [][]string{{"domain", "user"}}},
	} {
		meta, keys := columnsOf(t, string(d.Result[i]), "acct")
		if !equalJSON(meta, want.meta) || !slices.EqualFunc(keys, want.keys, slices.Equal) {
			t.Errorf("command %d: columns %v keys %v, want %v %v", i, meta, keys, want.meta, want.keys)
		}
	}
	if strings.Contains(strings.SplitN(e.Raw, `"data"`, 2)[0], `"columns"`) {
		t.Errorf("the batch's own metadata has columns: %s", e.Raw)
	}

	// The batch's own columns filter its list of envelopes.
	e = s.must("web1", "batch", "command", "version", "api.columns.enable", "1", "api.columns.a", "metadata")
	meta, keys := columnsOf(t, e.Raw, "result")
	if !equalJSON(meta, map[string]any{"invalid_msg": "None"}) || !slices.EqualFunc(keys, [][]string{{"metadata"}}, slices.Equal) {
		t.Errorf("batch's own columns: %v %v: %s", meta, keys, e.Raw)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestColumnsRecordTypes: records of any Go type are filtered by their JSON keys, the
// keys to drop being the first record's (Cpanel/Args/Columns/Util.pm: a key only a
// later record has stays); a record that is not an object fails the call.
func TestColumnsRecordTypes(t *testing.T) {
	type rec struct {
		A string `json:"a"`
		B int    `json:"b"`
	}
	for _, tc := range []struct {
		name    string
		data    any
		names   []string
		want    string // data as JSON, or the failure
		invalid string
	}{
		{"structs", map[string]any{"x": []rec{{"1", 2}, {"3", 4}}}, []string{"a"}, `{"x":[{"a":"1"},{"a":"3"}]}`, "None"},
		{"maps, heterogeneous", map[string]any{"x": []any{map[string]any{"a": 1, "b": 2}, map[string]any{"a": 3, "c": 4}}}, []string{"a", "z"},
			`{"x":[{"a":1},{"a":3,"c":4}]}`, "“z” is not a valid column."},
		{"raw JSON", map[string]any{"x": json.RawMessage(`[{"a":1,"b":2}]`)}, []string{"b"}, `{"x":[{"b":2}]}`, "None"},
		{"empty list", map[string]any{"x": []any{}}, []string{"a"}, `{"x":[]}`, "“a” is not a valid column."},
		{"several values: left alone", map[string]any{"x": []any{}, "y": 1}, []string{"a"}, `{"x":[],"y":1}`, ""},
		{"not a list", map[string]any{"x": map[string]any{"a": 1}}, []string{"a"}, "API failure: Not an ARRAY reference", ""},
		{"not objects", map[string]any{"x": []string{"a"}}, []string{"a"}, "API failure: Not a HASH reference", ""},
		{"data not an object", []any{1}, []string{"a"}, `[1]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &call{}
			got, err := c.applyColumns(tc.data, tc.names)
			if err != nil {
				if err.Error() != tc.want {
					t.Fatalf("error %v, want %s", err, tc.want)
				}
				return
			}
			b, _ := json.Marshal(got)
			if string(b) != tc.want {
				t.Errorf("data %s, want %s", b, tc.want)
			}
			var msg string
			if m, ok := c.meta["columns"].(map[string]any); ok {
				msg, _ = m["invalid_msg"].(string)
			}
			if msg != tc.invalid {
				t.Errorf("invalid_msg %q, want %q", msg, tc.invalid)
			}
		})
	}
}
