package whmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// createAndReadApart is CreateAcctAndRead as the whm provider made it before the
// answer went through decodeBatch: the batch read by encoding/json as envelopes,
// then the listaccts data unmarshalled again. TestCreateAcctAndReadOutcomes holds
// the two to the same outcome on every shape of answer.
func createAndReadApart(c *Client, ctx context.Context, user string, q url.Values) (createErr error, cur *Acct, readErr error) {
	readQ := AcctParams()
	readQ["searchtype"], readQ["search"], readQ["searchmethod"] = []string{"user"}, []string{user}, []string{"exact"}
	bq := url.Values{}
	for _, bc := range []BatchCommand{{Function: "createacct", Params: q}, {Function: "listaccts", Params: readQ}} {
		bq.Add("command", bc.Function+"?"+bc.Params.Encode())
	}
	var data struct {
		Result []Envelope `json:"result"`
	}
	if _, err := c.Call(ctx, Once, "batch", bq, &data); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Function == "batch" {
			if _, err := c.Call(ctx, Once, "createacct", q, nil); err != nil {
				createErr = err
			}
			cur, readErr = c.FindAcct(ctx, user)
			return createErr, cur, readErr
		}
		return err, nil, err
	}
	if len(data.Result) == 0 {
		err := fmt.Errorf("batch of createacct and its read back: no results")
		return err, nil, err
	}
	if md := data.Result[0].Metadata; !bool(md.Result) {
		createErr = &APIError{Node: c.Node(), Function: "createacct", Reason: c.Redact(string(md.Reason))}
	}
	if len(data.Result) < 2 {
		return createErr, nil, fmt.Errorf("batch of createacct and its read back: the read back did not run")
	}
	read := &data.Result[1]
	if !bool(read.Metadata.Result) {
		rerr := &APIError{Node: c.Node(), Function: "listaccts", Reason: c.Redact(string(read.Metadata.Reason))}
		if IsNotFound(rerr) {
			return createErr, nil, nil
		}
		return createErr, nil, rerr
	}
	var d struct {
		Acct []Acct `json:"acct"`
	}
	if err := c.Decode(read, "listaccts", &d); err != nil {
		return createErr, nil, err
	}
	for i := range d.Acct {
		if d.Acct[i].User == user {
			return createErr, &d.Acct[i], nil
		}
	}
	return createErr, nil, nil
}

// TestCreateAcctAndReadOutcomes holds CreateAcctAndRead to the way the provider read
// the same batch before (createAndReadApart) on each shape of answer: createacct's
// refusal, the account read back, the read's failure, and the requests made. The
// common answer (both succeeded) must be read in the batch's one pass, by the fast
// path; a refused batch makes the two calls apart.
func TestCreateAcctAndReadOutcomes(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "testdata", "whm")
	created, err := os.ReadFile(filepath.Join(dir, "createacct.json"))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := os.ReadFile(filepath.Join(dir, "listaccts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		Data struct {
			Acct []struct {
				User string `json:"user"`
			} `json:"acct"`
		} `json:"data"`
	}
	if err := json.Unmarshal(listed, &probe); err != nil || len(probe.Data.Acct) == 0 {
		t.Fatalf("listaccts.json: %v", err)
	}
	user := probe.Data.Acct[0].User
	refused := `{"data":null,"metadata":{"command":"createacct","result":0,"reason":"Sorry, a user named ` + user + ` already exists (` + token + `).","version":1}}`
	notFound := `{"metadata":{"command":"listaccts","result":0,"reason":"No accounts found.","version":1}}`
	readFailed := `{"metadata":{"command":"listaccts","result":0,"reason":"Permission denied","version":1}}`
	one := okResult("listaccts", `{"acct":[{"user":"`+user+`","domain":"x.example","owner":"root","plan":"basic","suspended":0,"ipv6":[],"child_nodes":[]}]}`)
	for _, tc := range []struct {
		name string
		body string // the batch's answer; "" for a server that refuses batch
		fast bool   // read by the fast path
	}{
		{"created and read back", batchAnswer(string(created), string(listed)), true},
		{"created, read back lean", batchAnswer(string(created), one), true},
		{"created, another user read", batchAnswer(string(created), okResult("listaccts", `{"acct":[{"user":"zed"}]}`)), true},
		{"created, no data read", batchAnswer(string(created), okResult("listaccts", `null`)), true},
		{"refused, read back", batchAnswer(refused, one), false},
		{"refused, not there", batchAnswer(refused, notFound), false},
		{"created, the read failed", batchAnswer(string(created), readFailed), false},
		{"created, the read unreadable", batchAnswer(string(created), okResult("listaccts", `{"acct":{}}`)), false},
		{"created, no read", batchAnswer(string(created)), false},
		{"refused, no read", batchAnswer(refused), false},
		{"no results", batchAnswer(), false},
		{"a result too many", batchAnswer(string(created), one, one), false},
		{"a null creation", batchAnswer(`null`, one), false},
		{"a null read", batchAnswer(string(created), `null`), false},
		{"not JSON", `<html>` + token + `</html>`, false},
		{"batch refused", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				paths = append(paths, r.URL.Path)
				switch {
				case tc.body != "":
					io.WriteString(w, tc.body)
				case strings.HasSuffix(r.URL.Path, "/batch"):
					io.WriteString(w, `{"data":{"type":"x"},"metadata":{"command":"batch","result":0,"reason":"batch does not run createacct","version":1}}`)
				case strings.HasSuffix(r.URL.Path, "/createacct"):
					w.Write(created)
				default:
					w.Write(listed)
				}
			}))
			defer srv.Close()
			q := url.Values{"username": {user}, "domain": {"x.example"}}
			outcome := func(run func(*Client, context.Context, string, url.Values) (error, *Acct, error)) string {
				paths = nil
				createErr, cur, readErr := run(newClient(t, srv.URL, Options{Attempts: 1}), context.Background(), user, q)
				js, _ := json.Marshal(cur)
				return fmt.Sprintf("%s | %s | %s | %v", errText(createErr), js, errText(readErr), paths)
			}
			got := outcome((*Client).CreateAcctAndRead)
			if want := outcome(createAndReadApart); got != want {
				t.Errorf("got\n%s\nbefore\n%s", got, want)
			}
			if strings.Contains(got, token) {
				t.Errorf("the token in %s", got)
			}
			if tc.body != "" {
				bd := &batchDecode{reads: []BatchRead{{Function: "createacct"}, {Function: "listaccts", Out: &acctList{}}}}
				c := newClient(t, srv.URL, Options{})
				if _, fast := c.decodeBatchFast("batch", []byte(tc.body), bd); fast != tc.fast {
					t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
				}
			}
		})
	}
}

// The read back's command, encoded once around the user, is the one commandQuery
// makes of AcctParams and the search, for any user.
func TestAcctReadCommand(t *testing.T) {
	for _, user := range []string{"alice", "", "a b", "ü&x=1", "%00", "search=%00", "\x00"} {
		q := AcctParams()
		q["searchtype"], q["search"], q["searchmethod"] = []string{"user"}, []string{user}, []string{"exact"}
		if got, want := acctReadCommand(user), commandQuery("listaccts", q); got != want {
			t.Errorf("%q: got\n%s\nwant\n%s", user, got, want)
		}
	}
}
