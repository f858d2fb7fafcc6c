package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/tether-dev/tether/internal/atomicfile"
)

// DefaultDir is where the folder backend keeps state, relative to the fleet.
const DefaultDir = ".tether/state"

// Folder keeps the state in a folder on a local disk:
//
//	.lock                 flock'd around every read-modify-write, so processes take turns
//	inventory.json        objects Tether created (a snapshot) ...
//	inventory.log         ... and the updates since, one JSON line each, appended;
//	                      folded into the snapshot when it outgrows it
//	protected.json        addresses last applied with protect: true
//	kv/NS.json            one namespace of the providers' key-value space (NS escaped):
//	                      rfc2136/health, rfc2136/pushed/PARENT/MEMBER
//	journals/ID.json      the header of an apply's journal
//	journals/ID.steps     one JSON line per finished change, appended
//	locks/PARENT.lock     flock'd while an apply writes to PARENT; holds who has it
//
// Whole files are written to a temporary file and renamed over the old one, so a
// reader never sees half a file. Journal steps are appended one line per write; a torn
// last line (the process killed mid-write) is ignored when read back.
type Folder struct {
	dir string
	// mu orders this process's goroutines; the flock on .lock orders processes (flock
	// belongs to an open file, so it alone would not exclude two goroutines that share
	// one).
	mu sync.Mutex
	// steps keeps each open journal's append handle, so a step costs one write.
	steps map[string]*os.File
	// snapshot is inventory.json as this process last found it readable.
	snapshot os.FileInfo
}

var _ Store = (*Folder)(nil)

// Open opens (creating) the state folder dir.
func Open(dir string) (*Folder, error) {
	for _, d := range []string{dir, filepath.Join(dir, "journals"), filepath.Join(dir, "locks"), filepath.Join(dir, "kv")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("state: create %s: %w", d, err)
		}
	}
	f := &Folder{dir: dir, steps: map[string]*os.File{}}
	if err := f.migrate(); err != nil {
		return nil, fmt.Errorf("state: move health and pushed digests into the key-value space: %w", err)
	}
	return f, nil
}

// Dir returns the folder, for messages.
func (f *Folder) Dir() string { return f.dir }

// Close closes the journals' append handles.
func (f *Folder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for id, h := range f.steps {
		errs = append(errs, h.Close())
		delete(f.steps, id)
	}
	return errors.Join(errs...)
}

// exclusive runs fn holding the process mutex and the folder's flock.
func (f *Folder) exclusive(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// gofrs/flock: flock(2) on Unix, LockFileEx on Windows (syscall.Flock does not
	// exist there). The folder lock is only held for a file's read-modify-write
	// (milliseconds), so a blocking lock is fine; the per-parent locks are the long ones.
	lf := flock.New(filepath.Join(f.dir, ".lock"), flock.SetPermissions(0o600))
	if err := lf.Lock(); err != nil {
		return fmt.Errorf("state: lock folder %s: %w", f.dir, err)
	}
	defer lf.Unlock() //nolint:errcheck // Unlock also closes the file, which releases it anyway
	return fn()
}

// readJSON decodes path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is damaged: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600) // as before: private to the owner
}

type inventoryFile struct {
	Version int              `json:"version"`
	Objects map[string]Entry `json:"objects"`
}

// Inventory implements Store.
func (f *Folder) Inventory(ctx context.Context) (map[string]Entry, error) {
	var objects map[string]Entry
	err := f.exclusive(ctx, func() (err error) { objects, _, err = f.readInventory(); return err })
	if err != nil {
		return nil, fmt.Errorf("state: read inventory: %w", err)
	}
	return objects, nil
}

// inventoryChange is one line of inventory.log: one UpdateInventory call.
type inventoryChange struct {
	Add    []Entry  `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// compactFloor is the log size under which the log is never folded into
// inventory.json: small logs are cheaper to replay than to rewrite the snapshot for.
var compactFloor int64 = 256 << 10

// readInventory reads inventory.json and replays inventory.log over it. It returns
// the objects and the snapshot's size. A torn last line of the log (the process
// killed mid-write: that call never returned) is ignored; any other bad line is
// damage.
func (f *Folder) readInventory() (map[string]Entry, int64, error) {
	var inv inventoryFile
	base := f.path("inventory.json")
	if err := readJSON(base, &inv); err != nil {
		return nil, 0, err
	}
	if inv.Objects == nil {
		inv.Objects = map[string]Entry{}
	}
	var size int64
	if fi, err := os.Stat(base); err == nil {
		size = fi.Size()
	}
	b, err := os.ReadFile(f.path("inventory.log"))
	if errors.Is(err, fs.ErrNotExist) {
		return inv.Objects, size, nil
	}
	if err != nil {
		return nil, 0, err
	}
	for n := 1; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		b = rest
		if !complete {
			break
		}
		var c inventoryChange
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, 0, fmt.Errorf("%s line %d is damaged: %w", f.path("inventory.log"), n, err)
		}
		applyInventory(inv.Objects, c)
	}
	return inv.Objects, size, nil
}

// InventoryAddresses implements AddressLister: the inventory's addresses, read as
// readInventory reads the entries but without decoding them (a plan only asks what
// Tether owns: 100k creation times parsed and addresses and targets copied were
// most of reading the inventory of the 100k fleet).
func (f *Folder) InventoryAddresses(ctx context.Context) (map[string]bool, error) {
	// The files are read under the folder's lock, as one snapshot, and decoded after
	// it: a plan reads them while its providers read the servers, and a provider
	// that reads the state meanwhile (rfc2136 lists its members) waited the whole
	// decode (≈0.3 s for the 100k fleet) before the first server was called.
	var snapshot, log []byte
	err := f.exclusive(ctx, func() error {
		var err error
		if snapshot, err = readIfExists(f.path("inventory.json")); err != nil {
			return err
		}
		log, err = readIfExists(f.path("inventory.log"))
		return err
	})
	var owned map[string]bool
	if err == nil {
		owned, err = f.inventoryAddresses(snapshot, log)
	}
	if err != nil {
		return nil, fmt.Errorf("state: read inventory: %w", err)
	}
	return owned, nil
}

// readIfExists is the file's content, or nil when there is no file.
func readIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// inventoryAddresses decodes the inventory's snapshot and log (either nil when
// missing) into its addresses.
func (f *Folder) inventoryAddresses(snapshot, b []byte) (map[string]bool, error) {
	owned := map[string]bool{}
	if snapshot != nil {
		var err error
		if owned, err = snapshotAddresses(snapshot); err != nil {
			return nil, fmt.Errorf("%s is damaged: %w", f.path("inventory.json"), err)
		}
	}
	var remove, add []string
	for n := 1; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		b = rest
		if !complete {
			break
		}
		var err error
		if remove, add, err = logAddresses(line, remove[:0], add[:0]); err != nil {
			return nil, fmt.Errorf("%s line %d is damaged: %w", f.path("inventory.log"), n, err)
		}
		for _, a := range remove {
			delete(owned, a)
		}
		for _, a := range add {
			owned[a] = true
		}
	}
	return owned, nil
}

// snapshotAddresses reads inventory.json's addresses: by scanSnapshotAddresses,
// or by encoding/json when it declines.
func snapshotAddresses(b []byte) (map[string]bool, error) {
	owned := make(map[string]bool, len(b)/96) // about 96 bytes an entry as writeJSON indents them
	if scanSnapshotAddresses(b, owned) {
		return owned, nil
	}
	return snapshotAddressesJSON(b)
}

// snapshotAddressesJSON is snapshotAddresses by encoding/json alone.
func snapshotAddressesJSON(b []byte) (map[string]bool, error) {
	var inv struct {
		Objects map[string]struct{} `json:"objects"`
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		return nil, err
	}
	// The snapshot is keyed by address (writeInventory writes the objects map).
	owned := make(map[string]bool, len(inv.Objects))
	for a := range inv.Objects {
		owned[a] = true
	}
	return owned, nil
}

// logAddresses reads one inventory.log line's removed and added addresses
// (appended to remove and add): by scanLogAddresses, or by encoding/json when it
// declines.
func logAddresses(line []byte, remove, add []string) ([]string, []string, error) {
	r, a, ok := scanLogAddresses(line, remove, add)
	if ok {
		return r, a, nil
	}
	return logAddressesJSON(line, remove, add)
}

// logAddressesJSON is logAddresses by encoding/json alone.
func logAddressesJSON(line []byte, remove, add []string) ([]string, []string, error) {
	var c struct {
		Add []struct {
			Address string `json:"address"`
		} `json:"add"`
		Remove []string `json:"remove"`
	}
	if err := json.Unmarshal(line, &c); err != nil {
		return remove, add, err
	}
	remove = append(remove, c.Remove...)
	for _, e := range c.Add {
		add = append(add, e.Address)
	}
	return remove, add, nil
}

func applyInventory(objects map[string]Entry, c inventoryChange) {
	for _, a := range c.Remove {
		delete(objects, a)
	}
	for _, e := range c.Add {
		objects[e.Address] = e
	}
}

// UpdateInventory implements Store. It appends one line to inventory.log (fsync'd),
// so an update costs the size of its change, not of the inventory; when the log
// outgrows the snapshot it is folded into inventory.json, so the bytes written over
// a whole apply stay proportional to its changes (rewriting inventory.json on every
// update made a 100k apply quadratic).
func (f *Folder) UpdateInventory(ctx context.Context, add []Entry, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	line, err := json.Marshal(inventoryChange{Add: add, Remove: remove})
	if err != nil {
		return fmt.Errorf("state: update inventory: %w", err)
	}
	line = append(line, '\n')
	err = f.exclusive(ctx, func() error {
		baseSize, err := f.checkSnapshot()
		if err != nil {
			return err
		}
		logSize, err := f.appendInventory(line)
		if err != nil {
			return err
		}
		if logSize < max(compactFloor, baseSize) {
			return nil
		}
		return f.compactInventory()
	})
	if err != nil {
		return fmt.Errorf("state: update inventory: %w", err)
	}
	return nil
}

// checkSnapshot refuses to add to an inventory whose snapshot cannot be read (the
// operator repairs it first) and returns its size. The snapshot is parsed only when it
// changed since this process last read it, which within an apply is at a compaction.
func (f *Folder) checkSnapshot() (int64, error) {
	fi, err := os.Stat(f.path("inventory.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if f.snapshot != nil && os.SameFile(f.snapshot, fi) && f.snapshot.Size() == fi.Size() && f.snapshot.ModTime().Equal(fi.ModTime()) {
		return fi.Size(), nil
	}
	var inv inventoryFile
	if err := readJSON(f.path("inventory.json"), &inv); err != nil {
		return 0, err
	}
	f.snapshot = fi
	return fi.Size(), nil
}

// appendInventory appends line to inventory.log and returns the log's new size. A
// torn last line left by a killed process is cut off first, so the new line does not
// join it.
func (f *Folder) appendInventory(line []byte) (int64, error) {
	lf, err := os.OpenFile(f.path("inventory.log"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	fi, err := lf.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size > 0 {
		last := make([]byte, 1)
		if _, err := lf.ReadAt(last, size-1); err != nil {
			return 0, err
		}
		if last[0] != '\n' {
			b, err := os.ReadFile(lf.Name())
			if err != nil {
				return 0, err
			}
			size = int64(bytes.LastIndexByte(b, '\n') + 1)
			if err := lf.Truncate(size); err != nil {
				return 0, err
			}
		}
	}
	if _, err := lf.WriteAt(line, size); err != nil {
		return 0, err
	}
	if err := lf.Sync(); err != nil {
		return 0, err
	}
	return size + int64(len(line)), nil
}

// compactInventory folds inventory.log into inventory.json. The snapshot is written
// (atomically) before the log is removed; a crash between the two replays the log
// over a snapshot that already holds it, which changes nothing: each line only sets
// or deletes addresses, and the last line naming an address decides it either way.
func (f *Folder) compactInventory() error {
	objects, _, err := f.readInventory()
	if err != nil {
		return err
	}
	if err := writeJSON(f.path("inventory.json"), inventoryFile{Version: 1, Objects: objects}); err != nil {
		return err
	}
	if err := os.Remove(f.path("inventory.log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

type protectedFile struct {
	Version   int             `json:"version"`
	Addresses map[string]bool `json:"addresses"`
}

// Protected implements Store.
func (f *Folder) Protected(ctx context.Context) (map[string]bool, error) {
	var pf protectedFile
	if err := f.exclusive(ctx, func() error { return readJSON(f.path("protected.json"), &pf) }); err != nil {
		return nil, fmt.Errorf("state: read protected: %w", err)
	}
	if pf.Addresses == nil {
		pf.Addresses = map[string]bool{}
	}
	return pf.Addresses, nil
}

// UpdateProtected implements Store.
func (f *Folder) UpdateProtected(ctx context.Context, add, remove []string) error {
	err := f.exclusive(ctx, func() error {
		var pf protectedFile
		if err := readJSON(f.path("protected.json"), &pf); err != nil {
			return err
		}
		if pf.Addresses == nil {
			pf.Addresses = map[string]bool{}
		}
		changed := false
		for _, a := range remove {
			if pf.Addresses[a] {
				delete(pf.Addresses, a)
				changed = true
			}
		}
		for _, a := range add {
			if !pf.Addresses[a] {
				pf.Addresses[a] = true
				changed = true
			}
		}
		if !changed {
			return nil
		}
		pf.Version = 1
		return writeJSON(f.path("protected.json"), pf)
	})
	if err != nil {
		return fmt.Errorf("state: update protected: %w", err)
	}
	return nil
}

var journalID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func checkID(id string) error {
	if !journalID.MatchString(id) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("state: journal id %q: want letters, digits, '-', '_', '.'", id)
	}
	return nil
}

// BeginJournal implements Store.
func (f *Folder) BeginJournal(ctx context.Context, h JournalHeader) error {
	if err := checkID(h.ID); err != nil {
		return err
	}
	err := f.exclusive(ctx, func() error {
		// Steps first: a header without steps is a journal with nothing done, while
		// old steps under a new header would claim work that was not done.
		sp := f.path("journals", h.ID+".steps")
		if old := f.steps[h.ID]; old != nil {
			old.Close()
			delete(f.steps, h.ID)
		}
		if err := os.WriteFile(sp, nil, 0o600); err != nil {
			return err
		}
		return writeJSON(f.path("journals", h.ID+".json"), h)
	})
	if err != nil {
		return fmt.Errorf("state: begin journal %s: %w", h.ID, err)
	}
	return nil
}

// RecordStep implements Store.
func (f *Folder) RecordStep(ctx context.Context, id string, s Step) error {
	return f.RecordSteps(ctx, id, []Step{s})
}

// RecordSteps implements StepsRecorder: the steps' lines go in one append.
func (f *Folder) RecordSteps(ctx context.Context, id string, steps []Step) error {
	if err := checkID(id); err != nil {
		return err
	}
	var lines []byte
	for _, s := range steps {
		line, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("state: journal %s: %w", id, err)
		}
		lines = append(append(lines, line...), '\n')
	}
	// Appending does not need the folder flock: only the apply that owns a journal
	// writes to it (it holds its parents' locks), and one O_APPEND write of whole lines
	// is not interleaved with another. No fsync per step: it would serialise an apply
	// behind the disk; a crash of the machine loses at most the last steps, which the
	// next plan finds again by observing.
	f.mu.Lock()
	defer f.mu.Unlock()
	// The header is checked every time: another process may have ended the journal.
	if _, err := os.Stat(f.path("journals", id+".json")); err != nil {
		if h := f.steps[id]; h != nil {
			h.Close()
			delete(f.steps, id)
		}
		return fmt.Errorf("state: journal %s is not open: %w", id, err)
	}
	h := f.steps[id]
	if h == nil {
		var err error
		h, err = os.OpenFile(f.path("journals", id+".steps"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("state: journal %s: %w", id, err)
		}
		f.steps[id] = h
	}
	if _, err := h.Write(lines); err != nil {
		return fmt.Errorf("state: journal %s: record %d step(s): %w", id, len(steps), err)
	}
	return nil
}

// Journals implements Store.
func (f *Folder) Journals(ctx context.Context) ([]*Journal, error) {
	var out []*Journal
	err := f.exclusive(ctx, func() error {
		names, err := filepath.Glob(f.path("journals", "*.json"))
		if err != nil {
			return err
		}
		for _, n := range names {
			j := &Journal{Steps: map[string]Step{}}
			if err := readJSON(n, &j.JournalHeader); err != nil {
				return err
			}
			if j.ID == "" {
				continue // removed between the glob and the read
			}
			if err := readSteps(strings.TrimSuffix(n, ".json")+".steps", j.Steps); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: read journals: %w", err)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Started.Equal(out[b].Started) {
			return out[a].Started.Before(out[b].Started)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

func readSteps(path string, into map[string]Step) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var s Step
		// A line that does not decode is the torn tail of a killed process: the
		// change it was recording is simply not known to be done.
		if json.Unmarshal(sc.Bytes(), &s) != nil || s.ID == "" {
			continue
		}
		into[s.ID] = s
	}
	return sc.Err()
}

// EndJournal implements Store.
func (f *Folder) EndJournal(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	err := f.exclusive(ctx, func() error {
		if h := f.steps[id]; h != nil {
			h.Close()
			delete(f.steps, id)
		}
		// The header goes first: without it the steps file is ignored.
		for _, p := range []string{f.path("journals", id+".json"), f.path("journals", id+".steps")} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: end journal %s: %w", id, err)
	}
	return nil
}

// ReleaseJournal implements Store, under the folder's lock: the header is rewritten
// without the released parents, or the journal ends.
func (f *Folder) ReleaseJournal(ctx context.Context, id string, parents []string) (bool, error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	ended := false
	err := f.exclusive(ctx, func() error {
		hp := f.path("journals", id+".json")
		var h JournalHeader
		if err := readJSON(hp, &h); err != nil {
			return err
		}
		if h.ID == "" {
			ended = true // not open
			return nil
		}
		left := remainingParents(h, parents)
		if len(left) > 0 {
			h.Parents = left
			return writeJSON(hp, h)
		}
		ended = true
		if st := f.steps[id]; st != nil {
			st.Close()
			delete(f.steps, id)
		}
		for _, p := range []string{hp, f.path("journals", id+".steps")} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("state: release journal %s: %w", id, err)
	}
	return ended, nil
}

// kvFile is one namespace of the providers' key-value space.
type kvFile struct {
	Version int               `json:"version"`
	NS      string            `json:"ns"`
	Values  map[string]string `json:"values"`
}

// kvPath keeps one file per namespace, so a push to one member of a thousand zones
// rewrites that member's namespace only. Namespaces hold '/': escaped.
func (f *Folder) kvPath(ns string) string {
	return f.path("kv", url.PathEscape(ns)+".json")
}

func checkNS(ns string) error {
	if ns == "" {
		return errors.New("state: empty namespace")
	}
	return nil
}

func (f *Folder) readKV(ns string) (kvFile, error) {
	var kf kvFile
	if err := readJSON(f.kvPath(ns), &kf); err != nil {
		return kf, err
	}
	if kf.Values == nil {
		kf.Values = map[string]string{}
	}
	kf.Version, kf.NS = 1, ns
	return kf, nil
}

// Get implements providers.State.
func (f *Folder) Get(ctx context.Context, ns, key string) (string, bool, error) {
	all, err := f.List(ctx, ns)
	if err != nil {
		return "", false, err
	}
	v, ok := all[key]
	return v, ok, nil
}

// List implements providers.State.
func (f *Folder) List(ctx context.Context, ns string) (map[string]string, error) {
	if err := checkNS(ns); err != nil {
		return nil, err
	}
	var kf kvFile
	err := f.exclusive(ctx, func() (err error) {
		kf, err = f.readKV(ns)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: read %s: %w", ns, err)
	}
	return kf.Values, nil
}

// Update implements providers.State.
func (f *Folder) Update(ctx context.Context, ns, key string, fn func(old string, ok bool) (string, bool)) (string, error) {
	if err := checkNS(ns); err != nil {
		return "", err
	}
	var out string
	err := f.exclusive(ctx, func() error {
		kf, err := f.readKV(ns)
		if err != nil {
			return err
		}
		old, had := kf.Values[key]
		v, del := fn(old, had)
		switch {
		case del && !had, !del && had && v == old:
			// Most commands succeed on a healthy member: nothing to write, and no
			// fsync per command.
			out = v
			return nil
		case del:
			delete(kf.Values, key)
		default:
			kf.Values[key] = v
			out = v
		}
		return writeJSON(f.kvPath(ns), kf)
	})
	if err != nil {
		return "", fmt.Errorf("state: update %s %s: %w", ns, key, err)
	}
	return out, nil
}

// Put implements providers.State.
func (f *Folder) Put(ctx context.Context, ns string, values map[string]string) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	err := f.exclusive(ctx, func() error {
		kf, err := f.readKV(ns)
		if err != nil {
			return err
		}
		for k, v := range values {
			kf.Values[k] = v
		}
		return writeJSON(f.kvPath(ns), kf)
	})
	if err != nil {
		return fmt.Errorf("state: write %s: %w", ns, err)
	}
	return nil
}

// Drop implements providers.State.
func (f *Folder) Drop(ctx context.Context, ns string) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	err := f.exclusive(ctx, func() error {
		if err := os.Remove(f.kvPath(ns)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: drop %s: %w", ns, err)
	}
	return nil
}

// migrate moves what an older Tether kept outside the key-value space into it, in
// the namespaces the rfc2136 provider (their only writer) now reads: health.json
// (DNS members' health) into rfc2136/health, pushed/MEMBER.json into
// rfc2136/pushed/MEMBER. A disabled member stays disabled across the upgrade.
func (f *Folder) migrate() error {
	_, health := os.Stat(f.path("health.json"))
	old, _ := filepath.Glob(f.path("pushed", "*.json"))
	if health != nil && len(old) == 0 {
		return nil // the common case: nothing to move, and no lock taken
	}
	return f.exclusive(context.Background(), func() error {
		var hf struct {
			Members map[string]json.RawMessage `json:"members"`
		}
		if err := readJSON(f.path("health.json"), &hf); err != nil {
			return err
		}
		if len(hf.Members) > 0 {
			kf, err := f.readKV("rfc2136/health")
			if err != nil {
				return err
			}
			for m, h := range hf.Members {
				if _, ok := kf.Values[m]; !ok {
					kf.Values[m] = string(h)
				}
			}
			if err := writeJSON(f.kvPath("rfc2136/health"), kf); err != nil {
				return err
			}
		}
		if err := os.Remove(f.path("health.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, p := range old {
			var pf struct {
				Member string            `json:"member"`
				Zones  map[string]string `json:"zones"`
			}
			if err := readJSON(p, &pf); err != nil {
				return err
			}
			if pf.Member != "" && len(pf.Zones) > 0 {
				ns := "rfc2136/pushed/" + pf.Member
				kf, err := f.readKV(ns)
				if err != nil {
					return err
				}
				for z, v := range pf.Zones {
					if _, ok := kf.Values[z]; !ok {
						kf.Values[z] = v
					}
				}
				if err := writeJSON(f.kvPath(ns), kf); err != nil {
					return err
				}
			}
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockRetry is how often a waiting Lock tries again.
const lockRetry = 50 * time.Millisecond

// Lock implements Store. The lock is an flock on locks/PARENT.lock: the kernel drops
// it when the holder's process ends however it ends, so a lock never outlives its
// holder and there is nothing stale to clean up. The file is never removed (a writer
// could be holding a lock on an unlinked file while another locks a new one); what it
// says about the holder is only for messages.
func (f *Folder) Lock(ctx context.Context, parent string) (Unlocker, error) {
	if err := checkID(parent); err != nil {
		return nil, fmt.Errorf("state: lock parent %q: not a valid node name", parent)
	}
	path := f.path("locks", parent+".lock")
	for {
		lf := flock.New(path, flock.SetPermissions(0o600))
		ok, err := lf.TryLock()
		if err != nil {
			return nil, fmt.Errorf("state: lock parent %s: %w", parent, err)
		}
		if ok {
			b, _ := json.Marshal(holderFor(ctx))
			// Best effort: the lock is the flock, the content only informs (on Windows
			// the locked range refuses a second handle, so it may stay unwritten).
			if w, err := os.OpenFile(path, os.O_WRONLY, 0o600); err == nil {
				if w.Truncate(0) == nil {
					w.WriteAt(append(b, '\n'), 0) //nolint:errcheck
				}
				w.Close()
			}
			return &folderLock{f: lf}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("parent %s: %w (%s)", parent, ErrLocked, describeHolder(path))
		case <-time.After(lockRetry):
		}
	}
}

func describeHolder(path string) string { return describe(os.ReadFile(path)) }

type folderLock struct {
	mu sync.Mutex
	f  *flock.Flock
}

// Lost implements Unlocker: the kernel keeps a flock until its holder closes it or
// ends, so it is never lost while held.
func (l *folderLock) Lost() <-chan struct{} { return nil }

func (l *folderLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Unlock() // closes the file too
	l.f = nil
	return err
}

func (f *Folder) path(parts ...string) string {
	return filepath.Join(append([]string{f.dir}, parts...)...)
}
