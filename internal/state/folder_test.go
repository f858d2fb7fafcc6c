package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helper process: when TETHER_STATE_HELPER is set, the test binary acts as a
// second Tether process on the same state folder.
func TestMain(m *testing.M) {
	switch os.Getenv("TETHER_STATE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "lock":
		helperLock()
	case "inventory":
		helperInventory()
	}
}

// helperLock takes a parent's lock, says so, and holds it until killed.
func helperLock() {
	f, err := Open(os.Getenv("TETHER_STATE_DIR"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := f.Lock(context.Background(), "web1"); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// helperInventory adds N entries one update at a time, racing the test process.
func helperInventory() {
	f, err := Open(os.Getenv("TETHER_STATE_DIR"))
	if err != nil {
		os.Exit(1)
	}
	for i := range 40 {
		if err := f.UpdateInventory(context.Background(), []Entry{{Address: fmt.Sprintf("account.p%d", i)}}, nil); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

func helper(t *testing.T, dir, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TETHER_STATE_HELPER="+mode, "TETHER_STATE_DIR="+dir)
	return cmd
}

func open(t *testing.T) *Folder {
	t.Helper()
	f, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestInventoryAddRemove(t *testing.T) {
	ctx := context.Background()
	f := open(t)
	inv, err := f.Inventory(ctx)
	if err != nil || len(inv) != 0 {
		t.Fatalf("empty state: inventory %v, %v", inv, err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		add    []string
		remove []string
		want   []string
	}{
		{add: []string{"account.alice", "node.mail1"}, want: []string{"account.alice", "node.mail1"}},
		{add: []string{"account.bob"}, remove: []string{"node.mail1"}, want: []string{"account.alice", "account.bob"}},
		{remove: []string{"account.nobody"}, want: []string{"account.alice", "account.bob"}},
		{add: []string{"account.alice"}, remove: []string{"account.alice"}, want: []string{"account.alice", "account.bob"}},
	}
	for i, s := range steps {
		var add []Entry
		for _, a := range s.add {
			add = append(add, Entry{Address: a, Target: "web1", Created: now})
		}
		if err := f.UpdateInventory(ctx, add, s.remove); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		inv, err := f.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv) != len(s.want) {
			t.Fatalf("step %d: inventory %v, want %v", i, inv, s.want)
		}
		for _, a := range s.want {
			if e, ok := inv[a]; !ok || e.Target != "web1" || !e.Created.Equal(now) {
				t.Fatalf("step %d: %s = %+v (present %v)", i, a, e, ok)
			}
		}
	}
	// A reopened store sees the same inventory: it is on disk, not in memory.
	g, err := Open(f.Dir())
	if err != nil {
		t.Fatal(err)
	}
	inv, err = g.Inventory(ctx)
	if err != nil || len(inv) != 2 {
		t.Fatalf("reopened: %v, %v", inv, err)
	}
}

func TestWritesLeaveNoTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	f := open(t)
	for i := range 20 {
		if err := f.UpdateInventory(ctx, []Entry{{Address: fmt.Sprintf("account.a%d", i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Update(ctx, "test/health", "web1/ns1", func(string, bool) (string, bool) { return "1", false }); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(f.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestDamagedFileIsReportedNotIgnored(t *testing.T) {
	f := open(t)
	if err := os.WriteFile(filepath.Join(f.Dir(), "inventory.json"), []byte(`{"objects": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.Inventory(context.Background())
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged inventory: err = %v", err)
	}
	// An update must not overwrite what it cannot read: the operator repairs it.
	if err := f.UpdateInventory(context.Background(), []Entry{{Address: "account.x"}}, nil); err == nil {
		t.Fatal("update over a damaged inventory succeeded")
	}
}

// Concurrent read-modify-writes from goroutines and another process lose nothing.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	f := open(t)
	proc := helper(t, f.Dir(), "inventory")
	out := &strings.Builder{}
	proc.Stdout = out
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := f.UpdateInventory(ctx, []Entry{{Address: fmt.Sprintf("account.g%dn%d", g, i)}}, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := proc.Wait(); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	inv, err := f.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 80 {
		t.Fatalf("inventory has %d entries, want 80 (40 from each process)", len(inv))
	}
}

func TestJournalLifecycle(t *testing.T) {
	ctx := context.Background()
	f := open(t)
	if js, err := f.Journals(ctx); err != nil || len(js) != 0 {
		t.Fatalf("no journal yet: %v, %v", js, err)
	}
	h := JournalHeader{
		ID: "20260102T030405-1", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Fleet: "/fleet", Commit: "0123456789abcdef0123", Parents: []string{"web1"},
		Changes: []PlannedChange{
			{ID: "account.a/create", Address: "account.a", Action: "create", Target: "web1"},
			{ID: "account.b/create", Address: "account.b", Action: "create", Target: "web1"},
			{ID: "account.b/distribute", Address: "account.b", Action: "distribute", Target: "web1"},
		},
	}
	if err := f.BeginJournal(ctx, h); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Step{
		{ID: "account.a/create", Status: StepDone},
		{ID: "account.b/create", Status: StepFailed, Error: "boom"},
	} {
		if err := f.RecordStep(ctx, h.ID, s); err != nil {
			t.Fatal(err)
		}
	}
	// The process is killed in the middle of a line.
	sp := filepath.Join(f.Dir(), "journals", h.ID+".steps")
	af, err := os.OpenFile(sp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.WriteString(`{"id":"account.b/distribute","sta`)
	af.Close()

	// Another process (a fresh store) reads it back.
	g, err := Open(f.Dir())
	if err != nil {
		t.Fatal(err)
	}
	js, err := g.Journals(ctx)
	if err != nil || len(js) != 1 {
		t.Fatalf("journals = %v, %v", js, err)
	}
	j := js[0]
	if j.Steps["account.b/create"].Error != "boom" || len(j.Steps) != 2 {
		t.Fatalf("steps = %+v", j.Steps)
	}
	rem := j.Remaining()
	if len(rem) != 2 || rem[0].ID != "account.b/create" || rem[1].ID != "account.b/distribute" {
		t.Fatalf("remaining = %+v", rem)
	}
	want := "an apply of /fleet at commit 0123456789ab started 2026-01-02T03:04:05Z did not finish: 1 of 3 changes done, 2 remain"
	if got := j.Summary(); got != want {
		t.Fatalf("summary:\n got %s\nwant %s", got, want)
	}
	if err := g.EndJournal(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if err := g.EndJournal(ctx, h.ID); err != nil {
		t.Fatalf("ending twice: %v", err)
	}
	if js, err := f.Journals(ctx); err != nil || len(js) != 0 {
		t.Fatalf("after end: %v, %v", js, err)
	}
	if err := f.RecordStep(ctx, h.ID, Step{ID: "x", Status: StepDone}); err == nil {
		t.Fatal("recording into an ended journal succeeded")
	}
}

func TestJournalIDIsChecked(t *testing.T) {
	f := open(t)
	for _, id := range []string{"", "../x", "a/b", ".hidden"} {
		if err := f.BeginJournal(context.Background(), JournalHeader{ID: id}); err == nil {
			t.Errorf("journal id %q accepted", id)
		}
	}
}

func TestProtected(t *testing.T) {
	ctx := context.Background()
	f := open(t)
	if err := f.UpdateProtected(ctx, []string{"account.alice", "account.bob"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.UpdateProtected(ctx, []string{"reseller.r"}, []string{"account.bob", "account.none"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.Protected(ctx)
	if err != nil || len(got) != 2 || !got["account.alice"] || !got["reseller.r"] {
		t.Fatalf("protected %v, %v", got, err)
	}
}

// A state folder written by an older Tether (health.json, pushed/MEMBER.json) is
// moved into the providers' key-value space on open: a member disabled before the
// upgrade stays disabled, and what was pushed is not pushed again.
func TestOpenMovesOldHealthAndPushedIntoKV(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for path, body := range map[string]string{
		"health.json":              `{"version":1,"members":{"web1/bind1":{"consecutiveFailures":11,"disabled":true}}}`,
		"pushed/web1%2Fbind1.json": `{"version":1,"member":"web1/bind1","zones":{"alice.example":"v1 d"}}`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second open has nothing left to move
		f, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		h, ok, err := f.Get(ctx, "rfc2136/health", "web1/bind1")
		if err != nil || !ok || !strings.Contains(h, `"disabled":true`) || !strings.Contains(h, `"consecutiveFailures":11`) {
			t.Fatalf("health after the move: %q %v %v", h, ok, err)
		}
		if z, err := f.List(ctx, "rfc2136/pushed/web1/bind1"); err != nil || z["alice.example"] != "v1 d" {
			t.Fatalf("pushed after the move: %v %v", z, err)
		}
		f.Close()
	}
	for _, old := range []string{"health.json", "pushed/web1%2Fbind1.json"} {
		if _, err := os.Stat(filepath.Join(dir, old)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", old, err)
		}
	}
}

func TestLockBetweenGoroutines(t *testing.T) {
	f := open(t)
	l, err := f.Lock(context.Background(), "web1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	_, err = f.Lock(ctx, "web1")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	// Another parent is independent.
	l2, err := f.Lock(context.Background(), "web2")
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock()
	// A waiter gets the lock once it is released.
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l3, err := f.Lock(ctx, "web1")
		if err == nil {
			err = l3.Unlock()
		}
		got <- err
	}()
	time.Sleep(2 * lockRetry)
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("unlocking twice: %v", err)
	}
}

// A lock held by another process refuses us with its pid, and is freed when that
// process dies without unlocking: nothing stale remains.
func TestLockBetweenProcessesAndStaleHolder(t *testing.T) {
	f := open(t)
	proc := helper(t, f.Dir(), "lock")
	stdout, err := proc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer proc.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	_, err = f.Lock(ctx, "web1")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(proc.Process.Pid)) {
		t.Fatalf("lock held by another process: %v", err)
	}
	proc.Process.Kill()
	proc.Wait()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	l, err := f.Lock(ctx2, "web1")
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Unlock()
}
