package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-dev/tether/providers"
	"github.com/tether-dev/tether/providers/whm/whmapi"
	"github.com/tether-dev/tether/reconciler/plan"
)

// whmWriter is a provider whose change is one WHM call of a kind.
type whmWriter struct {
	applyFake
	client *whmapi.Client
	kind   whmapi.Kind
}

func (w *whmWriter) Apply(ctx context.Context, c *plan.Change) error {
	_, err := w.client.Call(ctx, w.kind, "modifyacct", url.Values{"user": {"alice"}}, nil)
	return err
}

// Retries are never nested: a server answering 503 to every request sees a call's
// attempts once, whichever layer retries (was 4 client attempts × 4 change attempts).
func TestRetriesAreNotNested(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind whmapi.Kind
		want int64
	}{
		// An idempotent call: the client retries it 4 times; the engine does not again.
		{"idempotent call", whmapi.Idempotent, 4},
		// A call that must not run twice reached the server: the client leaves it; the
		// engine's change retry (which checks first) tries it 4 times.
		{"once call that reached the server", whmapi.Once, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, "busy", http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			client, err := whmapi.New("web1", providers.Endpoint{URL: srv.URL, User: "root", Token: "t0ken"},
				whmapi.Options{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			w := &whmWriter{applyFake: *newApplyFake(), client: client, kind: tc.kind}
			res, _ := Apply(context.Background(), planOf(ch("account.alice/update")), map[string]providers.Provider{"whm": w},
				ApplyOptions{Retry: Retry{Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}})
			if res.Changes[0].Status != StatusFailed {
				t.Fatalf("status %s", res.Changes[0].Status)
			}
			if got := hits.Load(); got != tc.want {
				t.Fatalf("the server saw %d requests, want %d (retries nested?)", got, tc.want)
			}
		})
	}
}
