package sandbox

import (
	"net/url"
	"reflect"
	"testing"
)

// TestParseCommandQueryAsParseQuery holds a batch command's reading of its
// arguments to url.ParseQuery's: the same values, and an error exactly when it
// gives one (fnBatch refuses the command on any).
func TestParseCommandQueryAsParseQuery(t *testing.T) {
	for _, q := range []string{
		"",
		"&",
		"&&a=1&&",
		"cpanel.user=u0000001&cpanel.module=Email&cpanel.function=list_forwarders&domain=u0000001.example",
		"user-0=a&user-1=b&user-2=c&feature=x",
		"a=1&a=2&b=3&a=4",
		"a&b=&=c",
		"email=info%40example.org&fwdemail=a+b%2Bc",
		"a=%zz&b=2",
		"%zz=1&b=2",
		"a=1;b=2&c=3",
		"a=1&b=2;c",
		"k=%E2%80%9C&k=%ff",
		"=&=&=",
	} {
		t.Run(q, func(t *testing.T) {
			want, wantErr := url.ParseQuery(q)
			got, err := parseCommandQuery(q)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, url.ParseQuery's %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("values %q, url.ParseQuery's %q", got, want)
			}
			// The keys share one list of first values: appending to one key's
			// values leaves the others' as they were.
			for k := range got {
				got[k] = append(got[k], "added")
				for o, vs := range got {
					if o != k && !reflect.DeepEqual(vs, want[o]) {
						t.Fatalf("%s = %q after appending to %s, want %q", o, vs, k, want[o])
					}
				}
				got[k] = want[k]
			}
		})
	}
}

// FuzzParseCommandQuery compares the two readings on any query.
func FuzzParseCommandQuery(f *testing.F) {
	f.Add("a=1&a=2&b=%41;c")
	f.Fuzz(func(t *testing.T, q string) {
		want, wantErr := url.ParseQuery(q)
		got, err := parseCommandQuery(q)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %q, %v; url.ParseQuery %q, %v", q, got, err, want, wantErr)
		}
	})
}
