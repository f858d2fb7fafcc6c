package whmapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
)

// outKinds are the Outs a batch read may have: the three the fast path reads itself,
// the others ReadNode asks for (read through encoding/json inside the fast path),
// and none.
var outKinds = []string{"accts", "features", "forwarders", "version", "profile", "passwords", "linked", "resellers", "none"}

func newOut(kind string) any {
	switch kind {
	case "accts":
		return &acctList{}
	case "features":
		return &featuresList{}
	case "forwarders":
		return &forwardersResult{}
	case "version":
		return &struct {
			Version FlexString `json:"version"`
		}{}
	case "profile":
		return &Profile{}
	case "passwords":
		return &map[string]FlexInt{}
	case "linked":
		return &struct {
			Payload []LinkedNode `json:"payload"`
		}{}
	case "resellers":
		return &struct {
			Reseller []string `json:"reseller"`
		}{}
	}
	return nil
}

func readsOf(kinds []string) []BatchRead {
	reads := make([]BatchRead, len(kinds))
	for i, k := range kinds {
		reads[i] = BatchRead{Function: "f" + k, Out: newOut(k)}
	}
	return reads
}

func decodeClient(t testing.TB) *Client {
	c, err := New("web1", providers.Endpoint{URL: "https://web1.test:2087", User: "root", Token: token}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// batchOutcome is everything decodeBatch leaves: the envelope, the error, each
// slot or envelope, and each Out.
func batchOutcome(env *Envelope, err error, bd *batchDecode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "env %+v | err %s\n", env, errText(err))
	for i, s := range bd.slots {
		if s == nil {
			fmt.Fprintf(&b, "slot %d nil\n", i)
			continue
		}
		fmt.Fprintf(&b, "slot %d %+v data-nil=%v\n", i, s.Metadata, s.Data == nil)
	}
	for i, e := range bd.envs {
		fmt.Fprintf(&b, "env %d %+v\n", i, e)
	}
	for i, r := range bd.reads {
		fmt.Fprintf(&b, "out %d %#v\n", i, r.Out)
	}
	return b.String()
}

// compareDecoders decodes body as a batch answer to reads of kinds, through
// decodeBatch (the fast path first) and through encoding/json alone, and fails on
// any difference: the envelope, the error, each result, each Out (reflect.DeepEqual
// too, which tells nil from empty slices). It returns whether the fast path took
// the answer.
func compareDecoders(t testing.TB, c *Client, body []byte, kinds []string) (fast bool) {
	t.Helper()
	jr := &batchDecode{reads: readsOf(kinds)}
	jenv, jerr := c.decodeBatchJSON("batch", body, jr)
	fr := &batchDecode{reads: readsOf(kinds)}
	_, fast = c.decodeBatchFast("batch", bytes.Clone(body), fr)
	br := &batchDecode{reads: readsOf(kinds)}
	benv, berr := c.decodeBatch("batch", body, br)
	if g, w := batchOutcome(benv, berr, br), batchOutcome(jenv, jerr, jr); g != w {
		t.Fatalf("decodeBatch (fast path %v) differs from encoding/json on\n%s\ngot\n%s\nwant\n%s", fast, body, g, w)
	}
	for i := range jr.reads {
		if !reflect.DeepEqual(br.reads[i].Out, jr.reads[i].Out) {
			t.Fatalf("read %d (%s): Out %#v, encoding/json's %#v, on\n%s", i, kinds[i], br.reads[i].Out, jr.reads[i].Out, body)
		}
	}
	return fast
}

func okJSON(fn, data string) string {
	return okResult(fn, data)
}

// TestFastDecodeMatchesJSON holds decodeBatch to encoding/json on every recorded
// response (each as the one result of a batch, read into every kind of Out), on the
// benchmarks' answers, and on the shapes WHM's lenient typing and JSON's corners
// give; the common answers must take the fast path.
func TestFastDecodeMatchesJSON(t *testing.T) {
	c := decodeClient(t)
	dir := filepath.Join("..", "..", "..", "testdata", "whm")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	more, _ := filepath.Glob(filepath.Join(dir, "observe", "*", "*.json"))
	files = append(files, more...)
	if len(files) < 30 {
		t.Fatalf("only %d recorded responses under %s", len(files), dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(dir, f)
		t.Run(name, func(t *testing.T) {
			if bytes.Contains(b, []byte(`"result":[`)) || bytes.Contains(b, []byte(`"result": [`)) {
				// A batch answer itself: read with as many Outs of each kind as it has
				// results.
				var probe struct {
					Data struct {
						Result []json.RawMessage `json:"result"`
					} `json:"data"`
				}
				if json.Unmarshal(b, &probe) == nil {
					for _, k := range outKinds {
						kinds := make([]string, len(probe.Data.Result))
						for i := range kinds {
							kinds[i] = k
						}
						compareDecoders(t, c, b, kinds)
					}
				}
			}
			for _, k := range outKinds {
				compareDecoders(t, c, []byte(batchAnswer(string(b))), []string{k})
			}
		})
	}
	mustFast := map[string]string{
		"listaccts":        "listaccts.json",
		"features":         "get_users_features_settings.json",
		"forwarders batch": "observe/web1/batch.uapi_cpanel.json",
	}
	for what, f := range mustFast {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string][]string{"listaccts": {"accts"}, "features": {"features"}}[what]
		body := []byte(batchAnswer(string(b)))
		if what == "forwarders batch" {
			var probe struct {
				Data struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &probe); err != nil {
				t.Fatal(err)
			}
			kinds = make([]string, len(probe.Data.Result))
			for i := range kinds {
				kinds[i] = "forwarders"
			}
			body = b
		}
		if !compareDecoders(t, c, body, kinds) {
			t.Errorf("%s (%s): the fast path declined it", what, f)
		}
	}
	if !compareDecoders(t, c, []byte(parentAnswer(50)), []string{"version", "profile", "passwords", "linked", "accts", "resellers"}) {
		t.Error("a parent's ReadNode answer: the fast path declined it")
	}
	fw := make([]string, 20)
	for i := range fw {
		fw[i] = "forwarders"
	}
	if !compareDecoders(t, c, []byte(forwardersAnswer(20)), fw) {
		t.Error("a Forwarders answer: the fast path declined it")
	}

	acct := func(fields string) string { return okJSON("listaccts", `{"acct":[{`+fields+`}]}`) }
	feat := func(fields string) string {
		return okJSON("get_users_features_settings", `{"users_features_settings":[{`+fields+`}]}`)
	}
	fwd := func(uapi string) string { return okJSON("uapi_cpanel", `{"uapi":`+uapi+`}`) }
	for _, tc := range []struct {
		name, result, kind string
		fast               bool // the fast path must take it
	}{
		{"numbers as strings and strings as numbers", acct(`"user":"bob","owner":5,"plan":"5","email":null,"suspended":"1","ipv6":0`), "accts", true},
		{"suspended as a number", acct(`"user":"bob","suspended":1,"ipv6":["2001:db8::1"]`), "accts", true},
		{"suspended as a word", acct(`"user":"bob","suspended":"yes"`), "accts", true},
		{"suspended unreadable", acct(`"user":"bob","suspended":"maybe"`), "accts", false},
		{"ipv6 shapes", acct(`"user":"bob","ipv6":  [ ] `), "accts", true},
		{"ipv6 null", acct(`"user":"bob","ipv6":null`), "accts", true},
		{"child nodes empty", acct(`"user":"bob","child_nodes":[]`), "accts", true},
		{"child nodes null", acct(`"user":"bob","child_nodes":null`), "accts", true},
		{"child nodes", acct(`"user":"bob","child_nodes":[{"workload":"Mail","alias":"m1"},{"alias":"m2","workload":"Web","extra":[1,{"a":null}]}]`), "accts", true},
		{"a null child node", acct(`"user":"bob","child_nodes":[null]`), "accts", false},
		{"child nodes a string", acct(`"user":"bob","child_nodes":"m1"`), "accts", false},
		{"user a number", acct(`"user":5`), "accts", false},
		{"user null", acct(`"user":null,"domain":"x.test"`), "accts", true},
		{"a key by another case", acct(`"User":"bob"`), "accts", false},
		{"a key twice", acct(`"user":"bob","user":"eve"`), "accts", false},
		{"unknown keys", acct(`"user":"bob","uid":1000,"diskused":"10M","is_locked":0,"mailbox_format":"maildir","backup":true,"x":{"y":[1.5e3,-0,true,false,null]}`), "accts", true},
		{"escapes", acct(`"user":"b\u006fb","domain":"x\/y.test","owner":"r\"oot","plan":"a\\b","email":"\ud83d\ude00@x.test"`), "accts", true},
		{"non-ASCII", acct(`"user":"bób","domain":"例え.test","owner":"ø","plan":"ü"`), "accts", true},
		{"invalid UTF-8", acct("\"user\":\"b\xffb\",\"owner\":\"\xfe\",\"plan\":\"\xc3\""), "accts", true},
		{"a lone surrogate", acct(`"user":"\ud800","owner":"\udc00"`), "accts", true},
		{"an escaped key", acct(`"us\u0065r":"bob"`), "accts", false},
		{"a non-ASCII key", acct(`"user":"bob","ſuspended":1`), "accts", false},
		{"acct null", okJSON("listaccts", `{"acct":null}`), "accts", true},
		{"acct empty", okJSON("listaccts", `{"acct":[]}`), "accts", true},
		{"acct an object", okJSON("listaccts", `{"acct":{}}`), "accts", false},
		{"data an array", okJSON("listaccts", `[]`), "accts", false},
		{"data a string", okJSON("listaccts", `"x"`), "accts", false},
		{"data null", okJSON("listaccts", `null`), "accts", true},
		{"no data", `{"metadata":{"command":"listaccts","result":1,"reason":"OK","version":1}}`, "accts", true},
		{"metadata first", `{"metadata":{"command":"listaccts","result":"1","reason":"OK","version":"1"},"data":{"acct":[{"user":"bob"}]}}`, "accts", true},
		{"metadata unknown keys", `{"metadata":{"command":"listaccts","result":1,"reason":"OK","version":1,"output":{"warnings":["w"]}},"data":{"acct":[]}}`, "accts", true},
		{"a failed read", `{"metadata":{"command":"listaccts","result":0,"reason":"No accounts found."},"data":{"acct":[{"user":"bob"}]}}`, "accts", false},
		{"result a word", `{"metadata":{"command":"listaccts","result":"maybe"},"data":{}}`, "accts", false},
		{"a null result", `null`, "accts", false},
		{"features", feat(`"user":"bob","feature":"x","feature_list":"default","feature_list_setting":"1","cpuser_setting":null`), "features", true},
		{"features as numbers", feat(`"user":"bob","feature_list_setting":1,"cpuser_setting":0`), "features", true},
		{"features as booleans", feat(`"user":"bob","feature_list_setting":true,"cpuser_setting":false`), "features", true},
		{"feature setting an object", feat(`"user":"bob","cpuser_setting":{}`), "features", false},
		{"forwarders", fwd(`{"status":1,"errors":null,"messages":null,"data":[{"dest":"a@x.test","forward":"b@y.test","html_dest":"a@x.test"}]}`), "forwarders", true},
		{"forwarders status a string", fwd(`{"status":"1","errors":[],"data":[]}`), "forwarders", true},
		{"forwarders failed", fwd(`{"status":0,"errors":["no such domain","again"],"data":null}`), "forwarders", true},
		{"forwarders an error not a string", fwd(`{"status":0,"errors":[5]}`), "forwarders", false},
		{"forwarders an error null", fwd(`{"status":0,"errors":[null]}`), "forwarders", false},
		{"forwarders data an object", fwd(`{"status":1,"data":{"dest":"a"}}`), "forwarders", false},
		{"forwarders uapi twice", `{"data":{"uapi":{"status":1},"uapi":{"data":[]}},"metadata":{"command":"uapi_cpanel","result":1}}`, "forwarders", false},
		{"numbers", okJSON("version", `{"version":-0.5e+10}`), "version", true},
		{"a bad number", okJSON("version", `{"version":01}`), "version", false},
		{"a bad number 2", okJSON("version", `{"version":1.}`), "version", false},
		{"a bad escape", okJSON("version", `{"version":"\x"}`), "version", false},
		{"a control character", okJSON("version", "{\"version\":\"a\tb\"}"), "version", false},
		{"a bad literal", okJSON("version", `{"version":tru}`), "version", false},
		{"none", okJSON("listaccts", `{"acct":[{"user":"bob"}],"x":"\u00e9"}`), "none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fast := compareDecoders(t, c, []byte(batchAnswer(tc.result)), []string{tc.kind}); fast != tc.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
			}
		})
	}
	for _, tc := range []struct {
		name, body string
		fast       bool
	}{
		{"white space everywhere", " \r\n\t{ \"data\" : { \"result\" : [ " + okJSON("version", `{ "version" : "11" }`) + " ] } , \"metadata\" : { \"command\" : \"batch\" , \"result\" : 1 } } \n", true},
		{"trailing data", batchAnswer(okJSON("version", `{}`)) + "x", false},
		{"trailing object", batchAnswer(okJSON("version", `{}`)) + "{}", false},
		{"truncated", strings.TrimSuffix(batchAnswer(okJSON("version", `{}`)), "}"), false},
		{"a byte-order mark", "\ufeff" + batchAnswer(okJSON("version", `{}`)), false},
		{"too few results", batchAnswer(), false},
		{"too many results", batchAnswer(okJSON("version", `{}`), okJSON("version", `{}`)), false},
		{"the batch failed", `{"data":{"result":[]},"metadata":{"command":"batch","result":0,"reason":"no"}}`, false},
		{"no metadata", `{"data":{"result":[` + okJSON("version", `{}`) + `]}}`, false},
		{"data twice", `{"data":{"result":[]},"data":{"result":[` + okJSON("version", `{}`) + `]},"metadata":{"command":"batch","result":1}}`, false},
		{"Data by case", `{"Data":{"result":[` + okJSON("version", `{}`) + `]},"metadata":{"command":"batch","result":1}}`, false},
		{"not JSON", `<html>` + token + `</html>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fast := compareDecoders(t, c, []byte(tc.body), []string{"version"}); fast != tc.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
			}
		})
	}
}

// FuzzFastDecode holds decodeBatch to encoding/json on any answer: a whole batch
// body read into Outs of every kind, and data as the one result of a batch, read
// into the Out kind picks.
func FuzzFastDecode(f *testing.F) {
	dir := filepath.Join("..", "..", "..", "testdata", "whm")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	more, _ := filepath.Glob(filepath.Join(dir, "observe", "*", "*.json"))
	for i, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(i))
		}
	}
	f.Add([]byte(parentAnswer(3)), uint8(0))
	f.Add([]byte(forwardersAnswer(3)), uint8(2))
	f.Add([]byte(`{"acct":[{"user":"b\u00f6b","suspended":"1","ipv6":[],"child_nodes":[{"workload":"Mail","alias":"m"}]}]}`), uint8(0))
	f.Add([]byte(`{"uapi":{"status":1,"errors":null,"data":[{"dest":"a","forward":"b"}]}}`), uint8(2))
	f.Add([]byte(`{"users_features_settings":[{"user":"bob","feature_list_setting":1,"cpuser_setting":null}]}`), uint8(1))
	c := decodeClient(f)
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		kind := outKinds[int(pick)%len(outKinds)]
		// As a whole answer, with one to six results.
		kinds := make([]string, 1+int(pick/16)%6)
		for i := range kinds {
			kinds[i] = outKinds[(int(pick)+i)%len(outKinds)]
		}
		compareDecoders(t, c, data, kinds)
		// As one result's data, and as one result.
		compareDecoders(t, c, []byte(batchAnswer(okJSON("f", string(data)))), []string{kind})
		compareDecoders(t, c, []byte(batchAnswer(string(data))), []string{kind})
	})
}

// BenchmarkDecodeBatch is the decode alone of a parent's first batch (500
// accounts) and of a Forwarders batch of 200 accounts, by the fast path and by
// encoding/json.
func BenchmarkDecodeBatch(b *testing.B) {
	fw := make([]string, 200)
	for i := range fw {
		fw[i] = "forwarders"
	}
	feats := make([]string, 8)
	var fr []string
	for i := range feats {
		feats[i] = "features"
		var users []string
		for u := range 100 {
			users = append(users, fmt.Sprintf(`{"user":"u%05d","feature":"autossl","feature_list":"default","feature_list_setting":"1","cpuser_setting":null}`, i*100+u))
		}
		fr = append(fr, okResult("get_users_features_settings", `{"users_features_settings":[`+strings.Join(users, ",")+`]}`))
	}
	c := decodeClient(b)
	for _, tc := range []struct {
		name  string
		body  string
		kinds []string
	}{
		{"parent500", parentAnswer(500), []string{"version", "profile", "passwords", "linked", "accts", "resellers"}},
		{"forwarders200", forwardersAnswer(200), fw},
		{"features8x100", batchAnswer(fr...), feats},
	} {
		body := []byte(tc.body)
		for _, way := range []string{"fast", "json"} {
			b.Run(tc.name+"/"+way, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					bd := &batchDecode{reads: readsOf(tc.kinds)}
					var err error
					if way == "fast" {
						if _, ok := c.decodeBatchFast("batch", body, bd); !ok {
							b.Fatal("declined")
						}
					} else if _, err = c.decodeBatchJSON("batch", body, bd); err != nil || bd.slots == nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
