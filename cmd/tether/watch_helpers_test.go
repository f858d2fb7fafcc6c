package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/tether-dev/tether/internal/sandbox"
)

// syncBuffer is a log a running daemon writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watchProc is `tether watch` running in this process until stop.
type watchProc struct {
	t        *testing.T
	log      *syncBuffer
	cancel   context.CancelFunc
	done     chan error
	sandbox  string
	stateDir string
	stopOnce sync.Once
}

// startWatch runs `tether watch` on the sandbox in sb with a fast drift interval and
// an HTTP listener on a free port; extra flags follow.
func startWatch(t *testing.T, sb string, extra ...string) *watchProc {
	t.Helper()
	return startWatchDirs(t, sb, filepath.Join(t.TempDir(), "watch"), extra...)
}

// startWatchDirs is startWatch with the daemon's --state-dir given.
func startWatchDirs(t *testing.T, sb, sd string, extra ...string) *watchProc {
	t.Helper()
	args := append([]string{"watch", "--sandbox", "--sandbox-state", sb, "--state-dir", sd,
		"--listen", "127.0.0.1:0", "--interval", "400ms", "--poll", "200ms"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	p := &watchProc{t: t, log: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), sandbox: sb, stateDir: sd}
	root := newRoot(testCLI())
	root.SetArgs(args)
	root.SetOut(p.log)
	root.SetErr(p.log)
	go func() { p.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(p.stop)
	return p
}

// stop cancels the daemon and waits for it to end.
func (p *watchProc) stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.t.Errorf("the daemon did not stop within 20s; log:\n%s", p.log.String())
		}
	})
}

// running fails the test if the daemon has ended.
func (p *watchProc) running() {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.t.Fatalf("the daemon ended: %v\nlog:\n%s", err, p.log.String())
	default:
	}
}

// logLine is one JSON log record of the daemon.
type logLine map[string]any

func (p *watchProc) lines() []logLine {
	var out []logLine
	for _, l := range strings.Split(p.log.String(), "\n") {
		var m logLine
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits for the n-th (1-based) log record whose msg is msg and whose
// attributes include the given key/value pairs, and returns it.
func (p *watchProc) waitFor(msg string, n int, kv ...string) logLine {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := 0
		for _, l := range p.lines() {
			if l["msg"] != msg {
				continue
			}
			ok := true
			for i := 0; i+1 < len(kv); i += 2 {
				if !strings.Contains(fmt.Sprint(l[kv[i]]), kv[i+1]) {
					ok = false
				}
			}
			if ok {
				if seen++; seen == n {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %d× %q %v in the daemon's log within 30s:\n%s", n, msg, kv, p.log.String())
		}
		select {
		case err := <-p.done:
			p.t.Fatalf("the daemon ended (%v) before logging %q:\n%s", err, msg, p.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// count is how many records have msg.
func (p *watchProc) count(msg string) int {
	n := 0
	for _, l := range p.lines() {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// addr is the daemon's HTTP address, from its "listening" record.
func (p *watchProc) addr() string {
	return fmt.Sprint(p.waitFor("listening", 1)["addr"])
}

// planSandbox plans fleetDir on the daemon's sandbox (which the daemon serves to
// other commands) and returns the result.
func planSandbox(t *testing.T, sb, fleetDir string) result {
	t.Helper()
	return tether(t, context.Background(), "", "plan", "--detailed-exitcode", "--sandbox", "--sandbox-state", sb, fleetDir)
}

// waitConverged plans until the sandbox matches fleetDir.
func waitConverged(t *testing.T, sb, fleetDir string) {
	t.Helper()
	var r result
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = planSandbox(t, sb, fleetDir); r.code == 0 {
			return
		}
	}
	t.Fatalf("the sandbox does not match %s:\n%s%s", fleetDir, r.stdout, r.stderr)
}

// whm calls a WHM API 1 function on a sandbox node behind Tether's back.
func whm(t *testing.T, sb, node, fn string, args url.Values) map[string]any {
	t.Helper()
	eps, err := sandbox.ReadEndpoints(sb)
	if err != nil {
		t.Fatal(err)
	}
	ep, ok := eps.Nodes[node]
	if !ok {
		t.Fatalf("no sandbox node %s", node)
	}
	args.Set("api.version", "1")
	req, err := http.NewRequest(http.MethodPost, ep.WHM+"/json-api/"+fn, strings.NewReader(args.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "whm "+ep.User+":"+ep.Token)
	resp, err := eps.HTTPClient(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	if md, _ := out["metadata"].(map[string]any); md == nil || fmt.Sprint(md["result"]) != "1" {
		t.Fatalf("%s %v failed: %v", fn, args, out)
	}
	return out
}

// contactEmail reads an account's contact address from the sandbox.
func contactEmail(t *testing.T, sb, user string) string {
	t.Helper()
	out := whm(t, sb, "web1", "accountsummary", url.Values{"user": {user}})
	m := regexp.MustCompile(`"email":"([^"]*)"`).FindStringSubmatch(mustJSON(out))
	if m == nil {
		t.Fatalf("accountsummary of %s has no email: %v", user, out)
	}
	return m[1]
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// e2eFleet is the end-to-end fleet with extra top-level YAML (a policy) appended.
func e2eFleet(t *testing.T, extra string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/e2e/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + extra
}

func armorEncode(w io.Writer) (io.WriteCloser, error) {
	return armor.Encode(w, openpgp.PublicKeyType, nil)
}

// interruptSelf sends this process the signal Ctrl-C sends (SIGINT on Unix), as a
// user stopping a run would.
func interruptSelf() error {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	return p.Signal(os.Interrupt)
}
