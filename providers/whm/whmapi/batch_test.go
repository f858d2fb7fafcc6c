package whmapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// batchAnswer wraps results as WHM's batch answers them.
func batchAnswer(results ...string) string {
	return `{"data":{"result":[` + strings.Join(results, ",") + `]},"metadata":{"command":"batch","result":1,"reason":"OK","version":1}}`
}

func okResult(fn, data string) string {
	return `{"data":` + data + `,"metadata":{"command":"` + fn + `","result":1,"reason":"OK","version":1}}`
}

// errText names an error's type and message, "-" for none.
func errText(err error) string {
	if err == nil {
		return "-"
	}
	return fmt.Sprintf("%T %s", err, err.Error())
}

// TestReadBatchOutcomes holds what ReadBatch makes of each shape of answer: the
// request's own error, each read's error (type and message) and what each Out
// holds afterwards. Results are decoded straight into their Outs in one pass; a
// read that fails, or data an Out cannot hold, must come out as it did when each
// result was decoded on its own.
func TestReadBatchOutcomes(t *testing.T) {
	type outs struct {
		Version   struct{ Version FlexString }
		Resellers struct {
			Reseller []string `json:"reseller"`
		}
		Count struct {
			Reseller AcctCount `json:"reseller"`
		}
	}
	version := okResult("version", `{"version":"11.118.0.5"}`)
	resellers := okResult("listresellers", `{"reseller":["bob","eve"]}`)
	count := okResult("acctcounts", `{"reseller":{"user":"bob","limit":"5","active":2}}`)
	for _, tc := range []struct {
		name, body string
		skipOut    bool // the second read has no Out
		want       string
	}{
		{"all decoded", batchAnswer(version, resellers, count), false,
			`err - | - | - | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":["bob","eve"]},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"a read not decoded", batchAnswer(version, resellers, count), true,
			`err - | - | - | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"one read fails", batchAnswer(version,
			`{"data":{"type":"SendToParent","detail":{"x":1}},"metadata":{"command":"listresellers","result":0,"reason":"no: `+token+`","version":1}}`, count), false,
			`err - | - | *whmapi.APIError node web1: listresellers: no: [REDACTED] | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"a failed read's data its Out cannot hold", batchAnswer(version,
			`{"data":{"reseller":"x"},"metadata":{"command":"listresellers","result":0,"reason":"no","version":1}}`, count), false,
			`err - | - | *whmapi.APIError node web1: listresellers: no | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"a null result", batchAnswer(version, `null`, count), false,
			`err - | - | *whmapi.DecodeError node web1: listresellers: the answer is not a WHM API 1 response: no result | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"data null", batchAnswer(version, okResult("listresellers", `null`), count), false,
			`err - | - | - | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"data of the wrong type", batchAnswer(version, okResult("listresellers", `{"reseller":"bob"}`), count), false,
			`err - | - | *whmapi.DecodeError node web1: listresellers: the answer is not a WHM API 1 response: json: cannot unmarshal string into Go struct field .reseller of type []string | - | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"bob","active":{"N":2,"Valid":true},"suspended":{"N":0,"Valid":false},"limit":{"N":5,"Valid":true}}}}`},
		{"a lenient field that cannot be read", batchAnswer(version, resellers, okResult("acctcounts", `{"reseller":{"user":"bob","limit":[1]}}`)), false,
			`err - | - | - | *whmapi.DecodeError node web1: acctcounts: the answer is not a WHM API 1 response: flexible integer: cannot read [1] | {"Version":{"Version":"11.118.0.5"},"Resellers":{"reseller":["bob","eve"]},"Count":{"reseller":{"user":"bob","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
		{"too few results", batchAnswer(version, resellers), false,
			`err *whmapi.DecodeError node web1: batch: the answer is not a WHM API 1 response: 2 results for 3 commands | {"Version":{"Version":""},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
		{"too many results", batchAnswer(version, resellers, count, count), false,
			`err *whmapi.DecodeError node web1: batch: the answer is not a WHM API 1 response: 4 results for 3 commands | {"Version":{"Version":""},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
		{"a result's metadata unreadable", batchAnswer(version, `{"data":{},"metadata":{"command":"listresellers","result":"maybe"}}`, count), false,
			`err *backoff.PermanentError node web1: batch: the answer is not a WHM API 1 response: no metadata (body starts "{\"data\":{\"result\":[{\"data\":{\"version\":\"11.118.0.5\"},\"metadata\":{\"command\":\"version\",\"result\":1,\"reason\":\"OK\",\"version\":1…") | {"Version":{"Version":""},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
		{"batch refused", `{"data":{"type":"x"},"metadata":{"command":"batch","result":0,"reason":"Unknown app","version":1}}`, false,
			`err *backoff.PermanentError node web1: batch: Unknown app (x) | {"Version":{"Version":""},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
		{"not JSON", `<html>` + token + `</html>`, false,
			`err *backoff.PermanentError node web1: batch: the answer is not a WHM API 1 response: invalid character '<' looking for beginning of value (body starts "<html>[REDACTED]</html>") | {"Version":{"Version":""},"Resellers":{"reseller":null},"Count":{"reseller":{"user":"","active":{"N":0,"Valid":false},"suspended":{"N":0,"Valid":false},"limit":{"N":0,"Valid":false}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			var o outs
			reads := []BatchRead{
				{Function: "version", Out: &o.Version},
				{Function: "listresellers", Out: &o.Resellers},
				{Function: "acctcounts", Out: &o.Count},
			}
			if tc.skipOut {
				reads[1].Out = nil
			}
			errs, err := newClient(t, srv.URL, Options{Attempts: 1}).ReadBatch(context.Background(), reads)
			parts := []string{"err " + errText(err)}
			for _, e := range errs {
				parts = append(parts, errText(e))
			}
			js, _ := json.Marshal(o)
			parts = append(parts, string(js))
			if got := strings.Join(parts, " | "); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestForwardersOutcomes holds Forwarders' rows and per-request errors for each
// shape of result, its data decoded in the batch's one pass.
func TestForwardersOutcomes(t *testing.T) {
	row := func(data string) string { return okResult("uapi_cpanel", `{"uapi":`+data+`}`) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, batchAnswer(
			row(`{"status":1,"errors":null,"data":[{"dest":"a@x.test","forward":"b@y.test"}]}`),
			row(`{"status":0,"errors":["no `+token+`"],"data":null}`),
			`{"data":null,"metadata":{"command":"uapi_cpanel","result":0,"reason":"User does not exist","version":1}}`,
			row(`{"status":1,"errors":null,"data":{"dest":"a"}}`),
			row(`{"status":1,"data":[]}`),
		))
	}))
	defer srv.Close()
	reqs := []ForwardersRequest{{"u1", "x.test"}, {"u2", "y.test"}, {"u3", "z.test"}, {"u4", "w.test"}, {"u5", "v.test"}}
	rows, errs, err := newClient(t, srv.URL, Options{Attempts: 1}).Forwarders(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range reqs {
		js, _ := json.Marshal(rows[i])
		got = append(got, string(js)+" "+errText(errs[i]))
	}
	want := []string{
		`[{"dest":"a@x.test","forward":"b@y.test"}] -`,
		`null *whmapi.APIError node web1: uapi_cpanel Email::list_forwarders: no [REDACTED]`,
		`null *whmapi.APIError node web1: uapi_cpanel: User does not exist`,
		`null *whmapi.DecodeError node web1: uapi_cpanel Email::list_forwarders: the answer is not a WHM API 1 response: json: cannot unmarshal object into Go struct field .uapi.data of type []whmapi.Forwarder`,
		`[] -`,
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}
