package etcdtest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Start survives a port taken between finding it free and etcd binding it: by a
// plain listener (etcd exits: address already in use), or by another etcd, which
// answers on the port and must not be taken for ours. Either way the next attempt
// gets new ports and the server returned is the one Start started.
func TestStartRetriesATakenPort(t *testing.T) {
	Require(t)
	other := Start(t)
	for _, tc := range []struct {
		name  string
		taken func(t *testing.T) int
	}{
		{"listener", func(t *testing.T) int {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l.Addr().(*net.TCPAddr).Port
		}},
		{"another etcd", func(t *testing.T) int {
			_, p, _ := net.SplitHostPort(other.Endpoint)
			port, _ := strconv.Atoi(p)
			return port
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := tc.taken(t)
			calls := 0
			pickPorts = func(n int) ([]int, error) {
				calls++
				ports, err := freePorts(n)
				if calls == 1 && err == nil {
					ports[0] = taken
				}
				return ports, err
			}
			t.Cleanup(func() { pickPorts = freePorts })
			srv := Start(t)
			if calls < 2 || srv.Endpoint == net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)) {
				t.Fatalf("started on %s after %d attempt(s); port %d was taken", srv.Endpoint, calls, taken)
			}
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if ours, err := srv.answers(ctx, c); err != nil || !ours {
				t.Fatalf("the etcd on %s is not the one started: %v", srv.Endpoint, err)
			}
		})
	}
}
