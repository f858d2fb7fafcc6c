package watch

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/gitsource"
)

// replicaShare stands for a replica's share of the parents (internal/shard.Replica).
type replicaShare struct {
	mu    sync.Mutex
	owned []string
	live  bool
}

func (r *replicaShare) ID() string { return "r1" }
func (r *replicaShare) Owned() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owned
}
func (r *replicaShare) Units() int { return 5 }
func (r *replicaShare) Live() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}
func (r *replicaShare) Handovers() int { return 3 }

// A replica says on /readyz and /metrics what it owns; one that lost its etcd lease
// is not ready, so a load balancer or Kubernetes stops counting on it.
func TestReplicaReportsItsShareAndIsNotReadyWithoutItsLease(t *testing.T) {
	g := newRepo(t)
	g.commit("accounts: {}\n", nil)
	src, err := gitsource.Open(context.Background(), gitsource.Options{Repo: g.dir})
	if err != nil {
		t.Fatal(err)
	}
	share := &replicaShare{owned: []string{"web1", "web4"}, live: true}
	d, err := New(Config{Source: src, LocalDir: g.dir, Branch: "master", Interval: time.Hour, Poll: time.Hour,
		StateDir: t.TempDir(), Listen: "127.0.0.1:0", HookToken: testHookToken, Runner: &fakeRunner{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ownership: share})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the daemon listening", func() bool { return d.Addr() != "" })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + d.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, "ready after the first commit", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	tests := []struct {
		name    string
		live    bool
		code    int
		readyz  string
		metrics []string
	}{
		{name: "holding its lease", live: true, code: http.StatusOK, readyz: "replica r1 owns 2 of 5 parents; 3 handovers",
			metrics: []string{`tether_owned_parents{replica="r1"} 2`, `tether_fleet_parents{replica="r1"} 5`, `tether_parent_handovers_total{replica="r1"} 3`}},
		{name: "lease lost", live: false, code: http.StatusServiceUnavailable, readyz: "replica r1 lost its etcd lease",
			metrics: []string{`tether_owned_parents{replica="r1"} 0`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			share.mu.Lock()
			share.live = tc.live
			if !tc.live {
				share.owned = nil
			}
			share.mu.Unlock()
			code, body := get("/readyz")
			if code != tc.code || !strings.Contains(body, tc.readyz) {
				t.Errorf("/readyz = %d %q, want %d with %q", code, body, tc.code, tc.readyz)
			}
			_, m := get("/metrics")
			for _, want := range tc.metrics {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}
