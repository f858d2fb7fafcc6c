package whmapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fullAcct is one listaccts entry with every field the reference documents for it
// (testdata/whm/reference/responses.tsv, listaccts data.acct.*), none of them zero.
// A field added to Acct must be here too, or TestAcctColumnsCoverAcct fails.
const fullAcct = `{"backup":1,"child_nodes":[{"workload":"Mail","alias":"mail1"}],"disklimit":"unlimited",
"diskused":"14M","domain":"example.com","email":"user@example.com","has_backup":1,"inodeslimit":"unlimited",
"inodesused":12,"ip":"192.0.2.10","ipv6":["2001:db8::1"],"is_locked":1,"is_temporary_domain":1,
"legacy_backup":1,"mailbox_format":"maildir","max_defer_fail_percentage":"unlimited",
"max_email_per_hour":"unlimited","max_emailacct_quota":"unlimited","maxaddons":"unlimited",
"maxftp":"unlimited","maxlst":"unlimited","maxparked":"unlimited","maxpop":"unlimited","maxsql":"unlimited",
"maxsub":"unlimited","min_defer_fail_to_trigger_protection":5,"outgoing_mail_hold":1,
"outgoing_mail_suspended":1,"owner":"reseller1","partition":"home","plan":"gold",
"shell":"/bin/bash","startdate":"25 Nov 20 10:00","suspended":1,"suspendreason":"nonpayment",
"suspendtime":1606298400,"temporary":1,"theme":"jupiter","uid":1001,"unix_startdate":1606298400,
"user":"user1"}`

// keepKeys is what a server applying AcctParams' columns sends of record: its keys
// named by api.columns.*.
func keepKeys(t *testing.T, record string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(record), &m); err != nil {
		t.Fatal(err)
	}
	q := AcctParams()
	out := map[string]json.RawMessage{}
	for k, v := range q {
		if strings.HasPrefix(k, "api.columns.") && k != "api.columns.enable" {
			if raw, ok := m[v[0]]; ok {
				out[v[0]] = raw
			}
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// TestAcctColumnsCoverAcct: what listaccts sends when it applies Acct's columns
// decodes to the same Acct as the whole entry, and the whole entry sets every field of
// Acct: the columns come from Acct itself, so no field it decodes is left unasked.
func TestAcctColumnsCoverAcct(t *testing.T) {
	var whole, kept Acct
	if err := json.Unmarshal([]byte(fullAcct), &whole); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(keepKeys(t, fullAcct)), &kept); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(whole, kept) {
		t.Errorf("decoded from the columns:\n %+v\nfrom the whole entry:\n %+v", kept, whole)
	}
	v := reflect.ValueOf(whole)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("Acct.%s is not set by fullAcct: add its key there", v.Type().Field(i).Name)
		}
	}
	q := AcctParams()
	if q.Get("api.columns.enable") != "1" || q.Get("api.columns.a") != "user" {
		t.Errorf("params %v", q)
	}
	var cols []string
	for k, v := range q {
		if strings.HasPrefix(k, "api.columns.") && k != "api.columns.enable" {
			cols = append(cols, v[0])
		}
	}
	slices.Sort(cols)
	want := strings.Split(q.Get("want"), ",")
	slices.Sort(want)
	if !slices.Equal(cols, want) {
		t.Errorf("columns %v, want= %v: the two lists differ", cols, want)
	}
}

func TestJSONKeys(t *testing.T) {
	type inner struct{ X int }
	type plain struct {
		A      string `json:"a"`
		B      int    `json:"b,omitempty"`
		C      bool
		Skip   int `json:"-"`
		hidden int
	}
	if got := jsonKeys(reflect.TypeFor[plain]()); !slices.Equal(got, []string{"a", "b", "C"}) {
		t.Errorf("jsonKeys = %v", got)
	}
	type embeds struct {
		inner
		A string `json:"a"`
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("an embedded struct was not refused")
			}
		}()
		jsonKeys(reflect.TypeFor[embeds]())
	}()
	_ = plain{}.hidden
	for i, want := range map[int]string{0: "a", 7: "h", 25: "z", 26: "ba", 27: "bb", 51: "bz", 52: "ca"} {
		if got := columnLetter(i); got != want {
			t.Errorf("columnLetter(%d) = %q, want %q", i, got, want)
		}
	}
}

// A server that ignores want and columns answers every field: Tether decodes the same.
func TestListAcctsServerIgnoringColumns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/json-api/listaccts" || q.Get("api.columns.enable") != "1" || q.Get("want") != AcctWant || q.Get("searchtype") != "owner" {
			t.Errorf("request %s %v", r.URL.Path, q)
		}
		io.WriteString(w, `{"data":{"acct":[`+fullAcct+`]},"metadata":{"command":"listaccts","result":1,"reason":"OK","version":1}}`)
	}))
	defer srv.Close()
	got, err := newClient(t, srv.URL, Options{}).ListAccts(context.Background(), map[string][]string{"searchtype": {"owner"}, "search": {"reseller1"}})
	if err != nil {
		t.Fatal(err)
	}
	var want Acct
	if err := json.Unmarshal([]byte(fullAcct), &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
