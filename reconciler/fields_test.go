package reconciler

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tether-dev/tether/schema"
)

// observedOnly are fields of the model a fleet cannot declare: the servers' side only.
var observedOnly = map[string]string{
	"member.disabled": "observed: WHM or Tether disabled the member",
	"member.zones":    "observed: an rfc2136 member's zones",
}

// modelFields lists the JSON names of a struct's fields as "prefix.name", embedded
// structs flattened, fields without a JSON name skipped.
func modelFields(prefix string, t reflect.Type, out map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			continue // Reseller embeds Account: walked under "account."
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[prefix+"."+name] = true
	}
}

// Every field an operator can declare is either compared with the servers
// (managed, checked), used once at creation and named when it cannot change, named in
// the plan as checked in the files only, or Tether's own: Fields says which, and this
// walk of the model fails on a field it does not cover, or on an entry for a field
// that no longer exists.
func TestEveryFieldIsComparedOrNamed(t *testing.T) {
	got := map[string]bool{}
	modelFields("policy", reflect.TypeOf(schema.Policy{}), got)
	modelFields("node", reflect.TypeOf(schema.Node{}), got)
	modelFields("account", reflect.TypeOf(schema.Account{}), got)
	modelFields("reseller", reflect.TypeOf(schema.Reseller{}), got)
	modelFields("dnsCluster", reflect.TypeOf(schema.DNSCluster{}), got)
	modelFields("member", reflect.TypeOf(schema.Member{}), got)
	var names []string
	for f := range got {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if _, ok := observedOnly[f]; ok {
			continue
		}
		h, ok := Fields[f]
		if !ok {
			t.Errorf("%s: neither compared nor named: add it to reconciler.Fields, and make the diff compare it or the plan name it", f)
			continue
		}
		switch h.Kind {
		case KindManaged, KindChecked, KindCreation, KindFiles, KindTether:
		default:
			t.Errorf("%s: unknown kind %q", f, h.Kind)
		}
		if h.How == "" {
			t.Errorf("%s: no words on how it is handled", f)
		}
	}
	for f := range Fields {
		if !got[f] {
			t.Errorf("Fields names %s, which the model does not have", f)
		}
	}
}

// The account fields checked in the files only, and reseller ACLs, are named in the
// plan whenever the fleet declares them: never silently ignored.
func TestFilesOnlyFieldsAreNamedInThePlan(t *testing.T) {
	desired := newFleet().parent("web1").account("alice", "web1", "").f
	observed := newFleet().parent("web1").account("alice", "web1", "").f
	a := desired.Accounts["alice"]
	a.AutoSSL = &schema.AutoSSL{DCV: []string{"dns"}}
	a.Forwarders = []schema.Forwarder{{From: "sales", To: "alice@example.org"}}
	a.DNSSEC = true
	desired.Resellers = map[string]*schema.Reseller{"bob": {Account: schema.Account{Parent: "web1", Domain: "bob.example"}, ACLs: []string{"list-accts"}}}
	p := Diff(desired, observed, DiffOptions{})
	all := strings.Join(p.Warnings, "\n")
	for _, f := range filesOnlyAccountFields {
		if Fields["account."+f].Kind != KindFiles {
			t.Errorf("account.%s is %s, not %s", f, Fields["account."+f].Kind, KindFiles)
		}
		if !strings.Contains(all, f+": declared on 1 account(s)") {
			t.Errorf("the plan does not name %s:\n%s", f, all)
		}
	}
	if !strings.Contains(all, "acls: declared on 1 reseller(s)") {
		t.Errorf("the plan does not name reseller acls:\n%s", all)
	}
	for f, h := range Fields {
		if h.Kind == KindFiles && strings.HasPrefix(f, "account.") {
			found := false
			for _, x := range filesOnlyAccountFields {
				found = found || "account."+x == f
			}
			if !found {
				t.Errorf("%s is %s but the plan does not name it", f, KindFiles)
			}
		}
	}
}
