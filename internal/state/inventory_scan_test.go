package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// A snapshot and log lines as the folder writes them, and shapes around them: each
// the scanner must read as encoding/json does or decline.
var scanCases = []string{
	``,
	` `,
	`{}`,
	`null`,
	`[]`,
	`"x"`,
	`{"version":1}`,
	`{"version":1,"objects":{}}`,
	`{"version":1,"objects":null}`,
	`{"objects":{"a":{}}}`,
	`{"objects":{"a":{},"a":{}}}`,
	`{"objects":{"a":{}},"objects":{"b":{}}}`,
	`{"Objects":{"a":{}}}`,
	`{"OBJECTS":{"a":{}}}`,
	`{"objects":{"a":null}}`,
	`{"objects":{"a":1}}`,
	`{"objects":{"a":"x"}}`,
	`{"objects":{"a":[]}}`,
	`{"objects":{"a":{"x":{}}}}`,
	`{"objects":{"a":{"x":[1]}}}`,
	`{"objects":{"a":{"x":-0.5e+3,"y":true,"z":false,"w":"q"}}}`,
	`{"objects":{"a":{"x":01}}}`,
	`{"objects":{"a":{"x":1.}}}`,
	`{"objects":{"a":{"x":-}}}`,
	`{"objects":{"a":{"x":1e}}}`,
	`{"objects":{"a":{"x":tru}}}`,
	`{"objects":{"a":{"x":nul}}}`,
	`{"objects":{"a":{"x":null}}}`,
	`{"objects":{"a\u0062":{}}}`,
	`{"objects":{"a\"b":{}}}`,
	`{"objects":{"é":{}}}`,
	"{\"objects\":{\"a\xff\":{}}}",
	"{\"objects\":{\"a\tb\":{}}}",
	`{"objects":{"a":{}},}`,
	`{"objects":{"a":{},}}`,
	`{"objects":{"a":{}}}x`,
	`{"objects":{"a":{}}} `,
	`{"objects":{"a":{}}}{}`,
	`{"objects":{"a":{}`,
	`{"objects" {"a":{}}}`,
	`{"version":"1","objects":{"a":{}}}`,
	`{"version":1.5,"objects":{"a":{}}}`,
	`{"version":-1,"objects":{"a":{}}}`,
	`{"version":1e3,"objects":{"a":{}}}`,
	`{"version":01,"objects":{"a":{}}}`,
	`{"version":99999999999999999999,"objects":{"a":{}}}`,
	`{"version":1,"version":2}`,
	`{"other":1,"objects":{"a":{}}}`,
	"\n\t{\r\n \"objects\" : { \"a\" : { } } }\n",
	`{"add":[{"address":"a","target":"w","created":"2026-12-03T09:21:51.250451789Z"}],"remove":["b"]}`,
	`{"add":[{"address":"a"},{"address":"b"}]}`,
	`{"remove":["a","b"]}`,
	`{"add":[],"remove":[]}`,
	`{"add":null}`,
	`{"remove":null}`,
	`{"add":[null]}`,
	`{"remove":[null]}`,
	`{"remove":[1]}`,
	`{"add":[{"address":1}]}`,
	`{"add":[{"address":null}]}`,
	`{"add":[{}]}`,
	`{"add":[{"target":"w"}]}`,
	`{"add":[{"Address":"a"}]}`,
	`{"add":[{"ADDRESS":"a","address":"b"}]}`,
	`{"add":[{"address":"a","address":"b"}]}`,
	`{"Add":[{"address":"a"}]}`,
	`{"REMOVE":["a"]}`,
	`{"add":[{"address":"a"}],"add":[{"address":"b"}]}`,
	`{"remove":["a"],"remove":["b"]}`,
	`{"add":[{"address":"a"},]}`,
	`{"add":[{"address":"a"}`,
	`{"add":[{"address":"a\u0041"}]}`,
	`{"remove":["a\nb"]}`,
	`{"add":[{"address":"a","created":{"x":1}}]}`,
	`{"add":[{"address":""}]}`,
	`{"remove":[""]}`,
	`{"add":[{"address":"a"}]} x`,
}

// addressesByJSON is what encoding/json alone reads from b, as a snapshot or as a
// log line: the addresses (a log line's removes first, marked "-") or that it fails.
func addressesByJSON(b []byte, snapshot bool) ([]string, bool) {
	if snapshot {
		owned, err := snapshotAddressesJSON(b)
		return slices.Sorted(maps.Keys(owned)), err == nil
	}
	r, a, err := logAddressesJSON(b, nil, nil)
	return logList(r, a), err == nil
}

func logList(remove, add []string) []string {
	var out []string
	for _, r := range remove {
		out = append(out, "-"+r)
	}
	return append(out, add...)
}

// checkScan fails t when the scanner reads b and its reading differs from
// encoding/json's (declining is always allowed: encoding/json then reads it).
func checkScan(t *testing.T, b []byte) (accepted int) {
	t.Helper()
	for _, snapshot := range []bool{true, false} {
		var got []string
		var ok bool
		if snapshot {
			owned := map[string]bool{}
			ok = scanSnapshotAddresses(b, owned)
			got = slices.Sorted(maps.Keys(owned))
		} else {
			r, a, accepted := scanLogAddresses(b, nil, nil)
			got, ok = logList(r, a), accepted
		}
		if !ok {
			continue
		}
		accepted++
		want, wantOK := addressesByJSON(b, snapshot)
		if !wantOK {
			t.Errorf("snapshot %t: the scanner read %q, encoding/json fails on it", snapshot, b)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("snapshot %t: the scanner read %q as %q, encoding/json as %q", snapshot, b, got, want)
		}
	}
	return accepted
}

// TestScanAddressesMatchesJSON holds the scanner to encoding/json on the shapes
// above and on a snapshot and log as the folder writes them (which it must read
// itself, not decline: that is what it is for).
func TestScanAddressesMatchesJSON(t *testing.T) {
	for _, c := range scanCases {
		checkScan(t, []byte(c))
	}
	inv := inventoryFile{Version: 1, Objects: map[string]Entry{}}
	var add []Entry
	for i := range 300 {
		e := Entry{Address: fmt.Sprintf("account.u%05d", i), Target: fmt.Sprintf("web%03d", i%7), Created: time.Unix(1_700_000_000+int64(i), int64(i)*7919).UTC()}
		if i%3 == 0 {
			e.Target = "" // omitted
		}
		inv.Objects[e.Address] = e
		add = append(add, e)
	}
	snap, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(inventoryChange{Add: add, Remove: []string{"account.gone", "node.web9"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"snapshot": snap, "log line": line} {
		if n := checkScan(t, b); n == 0 {
			t.Errorf("%s as the folder writes it: declined", name)
		}
	}
	owned := map[string]bool{}
	if !scanSnapshotAddresses(snap, owned) || len(owned) != 300 {
		t.Errorf("snapshot: %d addresses, want 300", len(owned))
	}
	if r, a, ok := scanLogAddresses(line, nil, nil); !ok || len(a) != 300 || strings.Join(r, ",") != "account.gone,node.web9" {
		t.Errorf("log line: %d added, removed %q, want 300 and the two", len(a), r)
	}
}

func FuzzScanAddresses(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

// BenchmarkSnapshotAddresses100k reads the addresses of a 100k-entry snapshot as
// writeJSON writes it, by the scanner and by encoding/json alone.
func BenchmarkSnapshotAddresses100k(b *testing.B) {
	inv := inventoryFile{Version: 1, Objects: map[string]Entry{}}
	for i := range 100_000 {
		a := fmt.Sprintf("account.u%06d", i)
		inv.Objects[a] = Entry{Address: a, Target: fmt.Sprintf("web%03d", i%200), Created: time.Unix(1_700_000_000+int64(i), int64(i)*7919).UTC()}
	}
	snap, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		read func([]byte) (map[string]bool, error)
	}{{"scan", snapshotAddresses}, {"json", snapshotAddressesJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(snap)))
			b.ReportAllocs()
			for b.Loop() {
				if owned, err := c.read(snap); err != nil || len(owned) != 100_000 {
					b.Fatal(len(owned), err)
				}
			}
		})
	}
}
