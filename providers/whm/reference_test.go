package whm

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/providers/whm/whmref"
)

// noPage names the functions the provider reads that have no reference page, with
// the 11.120 source their shape rests on.
var noPage = map[string]string{
	"listresellers": "Whostmgr/API/1/Resellers.pm listresellers: {reseller: [user…]}",
}

// decodedTypes records, for every function, the Go types its data was decoded into
// by the provider while the sandbox tests ran (whmapi.Options.OnDecode).
type decodedTypes struct {
	mu sync.Mutex
	m  map[string]map[reflect.Type]bool
}

var decodes decodedTypes

func (d *decodedTypes) add(fn string, out any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]map[reflect.Type]bool{}
	}
	if d.m[fn] == nil {
		d.m[fn] = map[reflect.Type]bool{}
	}
	d.m[fn][reflect.TypeOf(out)] = true
}

func (d *decodedTypes) take() map[string]map[reflect.Type]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.m
	d.m = nil
	return m
}

// TestDecodedFieldsAreDocumented drives the provider through the sandbox (apply of
// every kind of change, observe of parents, children, DNS-only nodes and a DNS
// cluster), records every type a function's data is decoded into, and holds every
// field of those types against the reference (testdata/whm/reference): the provider
// reads nothing the reference does not document, as the type the reference gives.
// The envelope's metadata is held against every function called. Beyond the pages,
// the provider reads a failure's data {type, detail}, which cPanel's source defines
// (11.120 Cpanel/APICommon/Error.pm), not a page.
func TestDecodedFieldsAreDocumented(t *testing.T) {
	ref, err := whmref.Load(whmref.Dir)
	if err != nil {
		t.Fatal(err)
	}
	decodes.take()
	for name, run := range map[string]func(*testing.T){
		"apply":        TestSandboxApplyAndObserve,
		"dns-cluster":  TestSandboxDNSClusterConverges,
		"dns-only":     TestSandboxObserveDNSOnly,
		"cluster-self": TestSandboxClusterOnParent,
	} {
		t.Run(name, run)
	}
	got := decodes.take()
	if len(got) < 6 {
		t.Fatalf("only %d functions decoded: %v", len(got), got)
	}
	var fns []string
	for fn := range got {
		fns = append(fns, fn)
	}
	sort.Strings(fns)
	meta := reflect.TypeOf(whmapi.Metadata{})
	for _, fn := range fns {
		if src, ok := noPage[fn]; ok {
			// Only a list of names is read: data.reseller, strings.
			want := reflect.TypeOf(&struct {
				Reseller []string `json:"reseller"`
			}{})
			for typ := range got[fn] {
				if typ != want {
					t.Errorf("%s has no page; its shape rests on %s; the provider decodes it as %v", fn, src, typ)
				}
			}
			continue
		}
		if !ref.Has(fn) {
			t.Errorf("the provider decodes the data of %s, which the reference has no page for", fn)
			continue
		}
		probs := ref.CheckType(fn, "metadata", meta)
		for typ := range got[fn] {
			probs = append(probs, ref.CheckType(fn, "data", typ)...)
		}
		if len(probs) > 0 {
			t.Errorf("%s:\n  %s", fn, strings.Join(probs, "\n  "))
		}
	}
	t.Logf("decoded and checked: %s", strings.Join(fns, ", "))
}
