package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The inventory survives compactions and a torn last log line, and every update
// lands: many small updates (past compactFloor, so the log is folded several times)
// leave exactly the objects their adds and removes say.
func TestInventoryLogCompactsAndSurvivesTornLine(t *testing.T) {
	ctx := context.Background()
	defer func(was int64) { compactFloor = was }(compactFloor)
	compactFloor = 4 << 10 // fold every few dozen updates
	f := open(t)
	want := map[string]bool{}
	for i := range 600 {
		add := []Entry{{Address: fmt.Sprintf("account.u%05d", i), Target: "web1"}}
		var remove []string
		if i%3 == 2 {
			remove = []string{fmt.Sprintf("account.u%05d", i-1)}
			delete(want, remove[0])
		}
		if err := f.UpdateInventory(ctx, add, remove); err != nil {
			t.Fatal(err)
		}
		want[add[0].Address] = true
		if i == 300 {
			// A process killed mid-write leaves half a line; it is ignored on read and
			// cut off before the next append.
			lf, err := os.OpenFile(filepath.Join(f.Dir(), "inventory.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			lf.WriteString(`{"add":[{"address":"account.torn"`)
			lf.Close()
			if inv, err := f.Inventory(ctx); err != nil || len(inv) != len(want) {
				t.Fatalf("with a torn line: %d objects, want %d (%v)", len(inv), len(want), err)
			}
		}
	}
	for _, g := range []*Folder{f, open2(t, f.Dir())} {
		inv, err := g.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv) != len(want) {
			t.Errorf("%d objects, want %d", len(inv), len(want))
		}
		for a := range want {
			if _, ok := inv[a]; !ok {
				t.Errorf("%s missing", a)
			}
		}
	}
	st, err := os.Stat(filepath.Join(f.Dir(), "inventory.json"))
	if err != nil || st.Size() == 0 {
		t.Errorf("the log was never folded into inventory.json: %v", err)
	}
}

func open2(t *testing.T, dir string) *Folder {
	t.Helper()
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// BenchmarkUpdateInventory adds 512 entries (one engine flush) to an inventory that
// already holds 1,000 (the anchor) or 100,000 objects: an update must cost the size of
// its change, so the two should be within noise of each other (rewriting the whole
// inventory.json made the second ~100× the first).
func BenchmarkUpdateInventory(b *testing.B) {
	for _, size := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("held=%d", size), func(b *testing.B) {
			ctx := context.Background()
			f, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			seed := make([]Entry, size)
			for i := range seed {
				seed[i] = Entry{Address: fmt.Sprintf("account.s%06d", i), Target: "web1"}
			}
			if err := f.UpdateInventory(ctx, seed, nil); err != nil {
				b.Fatal(err)
			}
			if err := f.compactInventoryLocked(ctx); err != nil {
				b.Fatal(err)
			}
			batch := make([]Entry, 512)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; b.Loop(); n++ {
				for i := range batch {
					batch[i] = Entry{Address: fmt.Sprintf("account.b%d-%d", n, i), Target: "web1"}
				}
				if err := f.UpdateInventory(ctx, batch, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// compactInventoryLocked folds the log now, so a benchmark starts from a snapshot.
func (f *Folder) compactInventoryLocked(ctx context.Context) error {
	return f.exclusive(ctx, f.compactInventory)
}

// inventoryOnly is a Core that is not an AddressLister: InventoryAddresses reads
// its Inventory.
type inventoryOnly struct{ Core }

// TestInventoryAddresses: the addresses Folder lists without decoding entries are
// the keys of its Inventory, over a snapshot, a log of adds and removes (an address
// removed and added again, one refreshed) and a torn last line; a store that cannot
// list them gives the same through its Inventory.
func TestInventoryAddresses(t *testing.T) {
	ctx := context.Background()
	defer func(was int64) { compactFloor = was }(compactFloor)
	compactFloor = 2 << 10
	f := open(t)
	for i := range 120 {
		add := []Entry{{Address: fmt.Sprintf("account.u%03d", i), Target: "web1"}, {Address: "node.web1"}}
		var remove []string
		switch {
		case i%4 == 3:
			remove = []string{fmt.Sprintf("account.u%03d", i-2)}
		case i == 50:
			remove = []string{"account.u001", "account.absent"}
			add = append(add, Entry{Address: "account.u001"})
		}
		if err := f.UpdateInventory(ctx, add, remove); err != nil {
			t.Fatal(err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(f.Dir(), "inventory.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	lf.WriteString(`{"add":[{"address":"account.torn"`)
	lf.Close()
	inv, err := f.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]Core{"folder": f, "inventory only": inventoryOnly{f}} {
		got, err := InventoryAddresses(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(inv) {
			t.Errorf("%s: %d addresses, the inventory has %d", name, len(got), len(inv))
		}
		for a := range inv {
			if !got[a] {
				t.Errorf("%s: %s missing", name, a)
			}
		}
	}
}
