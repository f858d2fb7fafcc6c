package sandbox

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"testing"
	"time"
)

// FuzzDispatch sends arbitrary arguments to every function: whatever comes in, the
// answer is a well-formed envelope and nothing panics.
func FuzzDispatch(f *testing.F) {
	names := make([]string, 0, len(functions))
	for name := range functions {
		names = append(names, name)
	}
	sort.Strings(names)
	for i := range names {
		f.Add(uint8(i), "user=alice&domain=alice.example&username=alice")
	}
	f.Add(uint8(0), "command=listaccts%3Fsearch%3D(&command=version")
	f.Add(uint8(1), "features={\"a\":[1]}&optional=null&add={}&edit=[]&remove=-1&serial=99999999999")
	f.Add(uint8(3), "api.columns.enable=1&api.columns.a=user&api.columns.b=nosuch&api.columns.c.d=x")
	f.Add(uint8(0), "command=listaccts%3Fapi.columns.enable%3D1%26api.columns.a%3Duser&api.columns.enable=yes")
	f.Add(uint8(2), "acl-0=all&acl-1=&user-0=root&user-7=x&mail_node_alias=.local&owner=alice")

	sb, err := Start(context.Background(), Options{StateDir: f.TempDir(), Fleet: testFleet(), TaskDelay: time.Millisecond, RemoteTimeout: 200 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = sb.Close() })
	n := sb.nodeByName("web1")
	root := &call{n: n, ctx: context.Background(), fn: "createacct", user: "root", acls: []string{"all"},
		args: url.Values{"username": {"alice"}, "domain": {"alice.example"}}}
	if _, err := root.dispatch(); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, fi uint8, query string) {
		args, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		fn := names[int(fi)%len(names)]
		c := &call{n: n, ctx: context.Background(), fn: fn, args: args, user: "root", acls: []string{"all"}, persona: args.Get("api.persona")}
		data, err := c.run()
		env := c.envelope(data, err)
		if _, err := json.Marshal(env); err != nil {
			t.Fatalf("%s(%s): envelope does not encode: %v", fn, query, err)
		}
	})
}
