package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"slices"
	"testing"
)

// envelopeAsMap is the envelope as maps, as the sandbox built it before answer.
func envelopeAsMap(c *call, data any, err error) map[string]any {
	meta := map[string]any{"command": c.fn, "version": 1, "result": 1, "reason": "OK"}
	for k, v := range c.meta {
		meta[k] = v
	}
	env := map[string]any{"metadata": meta}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{reason: "API failure: " + err.Error()}
		}
		meta["result"] = 0
		meta["reason"] = ae.reason
		if ae.data != nil {
			env["data"] = ae.data
		}
	} else {
		if c.reason != "" {
			meta["reason"] = c.reason
		}
		if data != nil {
			env["data"] = data
		}
	}
	if c.raw != "" || len(c.messages) > 0 || len(c.warnings) > 0 {
		out := map[string]any{}
		if c.raw != "" {
			out["raw"] = c.raw
		}
		if len(c.messages) > 0 {
			out["messages"] = c.messages
		}
		if len(c.warnings) > 0 {
			out["warnings"] = c.warnings
		}
		meta["output"] = out
	}
	return env
}

func encodeLikeWHM(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAnswerBytesAsMaps: the typed envelope and list_forwarders' typed rows encode
// to the bytes of the maps they replaced, and so does a proxied UAPI result passed
// on as the child wrote it rather than decoded and encoded again.
func TestAnswerBytesAsMaps(t *testing.T) {
	var nilPtr *uapiResult
	for _, tc := range []struct {
		name string
		c    call
		data any
		err  error
	}{
		{name: "ok, no data", c: call{fn: "version"}},
		{name: "ok, data", c: call{fn: "version"}, data: map[string]any{"version": "11.118.0.1", "<&>": 1}},
		{name: "ok, typed nil data", c: call{fn: "x"}, data: nilPtr},
		{name: "reason and output", c: call{fn: "createacct", reason: "Account Creation Ok", raw: "raw <b>", messages: []string{"m"}, warnings: []string{"w1", "w2"}}, data: []any{1}},
		{name: "warnings only", c: call{fn: "f", warnings: []string{"w"}}},
		{name: "extra metadata", c: call{fn: "dumpzone", meta: map[string]any{"warnings": []string{"mail"}}, messages: []string{"m"}}, data: map[string]any{"zone": []any{}}},
		{name: "failure", c: call{fn: "f"}, err: fail("No accounts found.")},
		{name: "typed failure", c: call{fn: "f"}, err: typedErr("Send it to the parent.", "SendToParent", nil)},
		{name: "plain error", c: call{fn: "f"}, err: errors.New("disk full")},
		{name: "failure ignores data", c: call{fn: "f", reason: "ignored"}, data: 1, err: fail("no")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeLikeWHM(t, tc.c.envelope(tc.data, tc.err))
			want := encodeLikeWHM(t, envelopeAsMap(&tc.c, tc.data, tc.err))
			if !bytes.Equal(got, want) {
				t.Errorf("typed: %s\nmaps:  %s", got, want)
			}
		})
	}

	fwds := []forwarder{{Dest: "a&b@x.example", Forward: "<x>@y.example"}, {Dest: "c@x.example", Forward: "|/bin/prog \"q\""}}
	var rows []forwarderRow
	var maps []map[string]any
	for _, f := range fwds {
		rows = append(rows, forwarderRow{Dest: f.Dest, Forward: f.Forward, HTMLDest: html.EscapeString(f.Dest), HTMLForward: html.EscapeString(f.Forward), URIDest: url.QueryEscape(f.Dest), URIForward: url.QueryEscape(f.Forward)})
		maps = append(maps, map[string]any{"dest": f.Dest, "forward": f.Forward,
			"html_dest": html.EscapeString(f.Dest), "html_forward": html.EscapeString(f.Forward),
			"uri_dest": url.QueryEscape(f.Dest), "uri_forward": url.QueryEscape(f.Forward)})
	}
	typedRows := encodeLikeWHM(t, uapiOK(rows))
	if got, want := typedRows, encodeLikeWHM(t, uapiOK(maps)); !bytes.Equal(got, want) {
		t.Errorf("forwarder rows typed: %s\nmaps: %s", got, want)
	}

	// A child's result passed on raw, and decoded then encoded again.
	raw := json.RawMessage(bytes.TrimSpace(typedRows))
	var decoded uapiResult
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	var rawData struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &rawData); err != nil {
		t.Fatal(err)
	}
	passed := decoded
	passed.Data = rawData.Data
	if got, want := encodeLikeWHM(t, &passed), encodeLikeWHM(t, &decoded); !bytes.Equal(got, want) {
		t.Errorf("passed on raw: %s\ndecoded again: %s", got, want)
	}
}

// TestDecodeRemoteOnePass: a proxied UAPI answer decoded with its envelope in one
// pass comes out as decoding the envelope, then its data, did: the same result, the
// same error, for answers that fit and answers that do not.
func TestDecodeRemoteOnePass(t *testing.T) {
	type proxied struct {
		UAPI *struct {
			uapiResult
			Data json.RawMessage `json:"data"`
		} `json:"uapi"`
	}
	outcome := func(res *remoteResult, err error, d proxied, decodeData bool) string {
		if err != nil {
			return "error: " + err.Error()
		}
		if decodeData {
			d = proxied{}
			if err := json.Unmarshal(res.Data, &d); err != nil {
				return "no UAPI result"
			}
		}
		if d.UAPI == nil {
			return "no UAPI result"
		}
		b, _ := json.Marshal(d.UAPI.uapiResult)
		return string(d.UAPI.Data) + " " + string(b)
	}
	for _, body := range []string{
		`{"data":{"uapi":{"data":[{"dest":"a@x.example"}],"errors":null,"messages":null,"metadata":{"transformed":1},"status":1,"warnings":null}},"metadata":{"command":"uapi_cpanel","reason":"OK","result":1,"version":1}}`,
		`{"metadata":{"command":"uapi_cpanel","reason":"Permission denied","result":0,"version":1}}`,
		`{"data":{"type":"SendToParent","detail":null},"metadata":{"reason":"Send it to the parent.","result":0}}`,
		`{"data":null,"metadata":{"result":1}}`,
		`{"data":{"uapi":null},"metadata":{"result":1}}`,
		`{"data":{"uapi":5},"metadata":{"result":1}}`,
		`{"data":{"uapi":{"status":"one"}},"metadata":{"result":1}}`,
		`{"data":[1,2],"metadata":{"result":1}}`,
		`{"data":{"uapi":{"status":1}},"metadata":{"result":"x"}}`,
		`{"data":{"uapi":{"status":1}},"metadata":{"result":1}`,
		`{"data":{"uapi":{"status":1}}}`,
		`not json`,
	} {
		var d proxied
		res, err := decodeRemote("mail1.example.net", "uapi_cpanel", []byte(body), &d)
		got := outcome(res, err, d, res != nil && res.Data != nil)
		res, err = decodeRemote("mail1.example.net", "uapi_cpanel", []byte(body), nil)
		want := outcome(res, err, proxied{}, err == nil)
		if got != want {
			t.Errorf("%s:\none pass:  %s\ntwo steps: %s", body, got, want)
		}
	}
}

// TestFeatureRowsAsMaps: get_users_features_settings' typed rows encode to the bytes
// of the maps they replaced, whole and with columns dropped (api.columns).
func TestFeatureRowsAsMaps(t *testing.T) {
	for i, cp := range []any{nil, 0, 1} {
		s := nastyStrings[(i*5)%len(nastyStrings)]
		row := featureRow{CPUserSetting: cp, Feature: "f<" + s, FeatureList: s + "&", FeatureListSetting: i % 2, User: "u\"" + s}
		m := map[string]any{"user": row.User, "feature": row.Feature, "feature_list": row.FeatureList, "feature_list_setting": row.FeatureListSetting, "cpuser_setting": row.CPUserSetting}
		if got, want := encodeLikeWHM(t, []featureRow{row}), encodeLikeWHM(t, []any{m}); !bytes.Equal(got, want) {
			t.Errorf("typed: %s\nmaps:  %s", got, want)
		}
		for _, drop := range []map[string]bool{{}, {"user": true}, {"cpuser_setting": true, "feature_list": true, "feature_list_setting": true}} {
			if got, want := encodeLikeWHM(t, row.dropColumns(drop)), encodeLikeWHM(t, dropKeys(m, drop)); !bytes.Equal(got, want) {
				t.Errorf("columns without %v: typed %s, maps %s", drop, got, want)
			}
		}
		keys := recordKeys(m)
		slices.Sort(keys)
		if got := row.columnKeys(); !slices.Equal(got, keys) {
			t.Errorf("column keys %v, the map's %v", got, keys)
		}
	}
}
