package whm

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// uapiFunctions are the UAPI functions the provider runs through uapi_cpanel, with
// their parameters (true = required) as cPanel's UAPI reference (11.138) lists them:
// "Return domain's forwarders", "Create email account forwarder", "Delete email
// account's email forwarder". uapi_cpanel's own page says the UAPI function's
// parameters go alongside cpanel.user, cpanel.module and cpanel.function.
var uapiFunctions = map[string]map[string]bool{
	"Email::list_forwarders":  {"domain": true, "regex": false},
	"Email::add_forwarder":    {"domain": true, "email": true, "fwdopt": true, "failmsgs": false, "fwdemail": false, "fwdsystem": false, "pipefwd": false},
	"Email::delete_forwarder": {"address": true, "forwarder": true},
}

// checkUAPI checks the UAPI part of a uapi_cpanel call: a known function, and its
// parameters per its page. known are uapi_cpanel's own (from the official list).
func checkUAPI(params url.Values, known map[string]bool) []string {
	name := params.Get("cpanel.module") + "::" + params.Get("cpanel.function")
	fn, ok := uapiFunctions[name]
	if !ok {
		return []string{fmt.Sprintf("uapi_cpanel: UAPI %s is not a function the provider's reference lists", name)}
	}
	var bad []string
	for k := range params {
		if strings.HasPrefix(k, "api.") {
			continue
		}
		if _, own := known[k]; own {
			continue
		}
		if _, ok := fn[k]; !ok {
			bad = append(bad, fmt.Sprintf("uapi_cpanel %s: parameter %s is not on its page", name, k))
		}
	}
	for k, req := range fn {
		if req && params.Get(k) == "" {
			bad = append(bad, fmt.Sprintf("uapi_cpanel %s: required parameter %s missing", name, k))
		}
	}
	sort.Strings(bad)
	return bad
}

// A PowerDNS parent's signed zones are read for the accounts whose dnssec the fleet
// writes; a BIND server signs none (its refusal is read as that). The domains go
// FeatureBatch to a call; several calls go in one batch request, whose refusals are
// read as the lone call's.
func TestSandboxObserveDNSSEC(t *testing.T) {
	for _, tc := range []struct {
		name      string
		batch     int    // FeatureBatch; 0 is the provider's
		dsRequest string // how the sandbox saw the DS records read
	}{
		{"one call", 0, "fetch_ds_records_for_domains:fetch_ds_records_for_domains"},
		{"two calls in a batch", 1, "batch:fetch_ds_records_for_domains+fetch_ds_records_for_domains"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fleet := sandboxFleet()
			fleet.Accounts = map[string]*schema.Account{
				"carol": {Parent: "web1", Domain: "carol.example", DNSSEC: true},
				"frank": {Parent: "web1", Domain: "frank.example", DNSSEC: true},
			}
			f := startSandbox(t, fleet)
			if tc.batch > 0 {
				f.p.opts.FeatureBatch = tc.batch
			}
			ctx := context.Background()
			for user, a := range fleet.Accounts {
				if err := f.p.Apply(ctx, &plan.Change{Address: "account." + user, Action: plan.Create, After: a, Target: "web1"}); err != nil {
					t.Fatal(err)
				}
			}
			observe := func() *schema.Fleet {
				t.Helper()
				before := f.mark()
				got := f.observe(t)
				if calls := f.callsSince(before); !slices.Contains(calls, tc.dsRequest) {
					t.Errorf("no %q among the calls %q", tc.dsRequest, calls)
				}
				return got
			}
			if got := observe(); got.Accounts["carol"].DNSSEC || got.Accounts["frank"].DNSSEC {
				t.Fatalf("a BIND server shows signed zones: %+v %+v", got.Accounts["carol"], got.Accounts["frank"])
			}
			if err := f.sb.SetNameServer("web1", "powerdns"); err != nil {
				t.Fatal(err)
			}
			if err := f.sb.SignZone("web1", "carol.example", true); err != nil {
				t.Fatal(err)
			}
			got := observe()
			if !got.Accounts["carol"].DNSSEC || got.Accounts["frank"].DNSSEC {
				t.Fatalf("carol signed, frank not: observed %+v %+v", got.Accounts["carol"], got.Accounts["frank"])
			}
		})
	}
}
