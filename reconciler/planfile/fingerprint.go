package planfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5"

	"github.com/tether-dev/tether/reconciler/plan"
	"github.com/tether-dev/tether/schema"
)

// FleetSource identifies the desired state at path: its absolute path, a sha256 over
// its files (names and contents, in sorted order) and, when it is in a git work tree,
// the commit checked out. The files are those schema.Load reads: the file itself, or a
// folder's *.yaml, *.yml and *.cue files that are not dot-files.
func FleetSource(path string) (plan.Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return plan.Source{}, fmt.Errorf("fleet %s: %w", path, err)
	}
	files, err := fleetFiles(abs)
	if err != nil {
		return plan.Source{}, fmt.Errorf("fleet %s: %w", path, err)
	}
	h := sha256.New()
	for _, f := range files {
		rel, _ := filepath.Rel(abs, f)
		// The name and the length frame each file, so moving bytes from one file to
		// the next changes the fingerprint.
		fi, err := os.Stat(f)
		if err != nil {
			return plan.Source{}, fmt.Errorf("fleet %s: %w", path, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), fi.Size())
		if err := hashFile(h, f); err != nil {
			return plan.Source{}, fmt.Errorf("fleet %s: %w", path, err)
		}
	}
	commit, err := gitCommit(abs)
	if err != nil {
		return plan.Source{}, fmt.Errorf("fleet %s: read git HEAD: %w", path, err)
	}
	return plan.Source{Path: abs, Fingerprint: "sha256:" + hex.EncodeToString(h.Sum(nil)), Commit: commit}, nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func fleetFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		switch ext := filepath.Ext(name); {
		case strings.HasPrefix(name, "."):
		case ext != ".yaml" && ext != ".yml" && ext != ".cue":
		default:
			full := filepath.Join(path, name)
			if st, err := os.Stat(full); err == nil && !st.IsDir() {
				out = append(out, full)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// gitCommit returns the commit HEAD points at in the work tree holding path, or ""
// when path is not in one (or the repository has no commit yet).
func gitCommit(path string) (string, error) {
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	head, err := r.Head()
	if err != nil {
		// A repository without commits has no HEAD to record; the fingerprint still
		// identifies the content.
		return "", nil
	}
	return head.Hash().String(), nil
}

// Observed fingerprints what was observed, object by object, so a refusal can say
// which objects changed since the plan was made.
type Observed struct {
	// Fingerprint covers every object: sha256 over the sorted "address hash" lines.
	Fingerprint string `json:"fingerprint"`
	// Objects maps an address (node.NAME, account.USER, reseller.USER,
	// dns.PARENT.cluster, dns.PARENT.member.NAME) to the sha256 of its canonical JSON.
	Objects map[string]string `json:"objects"`
}

// Fingerprint computes the observed fingerprint of a fleet. encoding/json writes
// struct fields in declaration order and map keys sorted, so the JSON of an object is
// canonical; positions (Src) are not part of it.
func Fingerprint(f *schema.Fleet) (Observed, error) {
	type object struct {
		addr string
		v    any
	}
	var objs []object
	if f != nil {
		objs = make([]object, 0, len(f.Nodes)+len(f.Accounts)+len(f.Resellers))
		for n, v := range f.Nodes {
			objs = append(objs, object{plan.NodeAddress(n), v})
		}
		for n, v := range f.Accounts {
			objs = append(objs, object{plan.AccountAddress(n), v})
		}
		for n, v := range f.Resellers {
			objs = append(objs, object{plan.ResellerAddress(n), v})
		}
		for p, c := range f.DNSClusters {
			if c == nil {
				continue
			}
			for m, v := range c.Members {
				objs = append(objs, object{plan.MemberAddress(p, m), v})
			}
			// The cluster's own settings, without the members counted above.
			shallow := *c
			shallow.Members = nil
			objs = append(objs, object{plan.ClusterAddress(p), shallow})
		}
	}
	// The objects are digested by one worker per CPU, taking stretches of 512 in turn
	// (equal halves finished unevenly: nodes go through reflection, accounts not): a
	// plan's observe has ended, so the fingerprint (101k objects for the 100k fleet)
	// runs beside the diff only, and it only reads the fleet. Each worker keeps one
	// encoder and buffer: json.Marshal copied each object's JSON out into a new slice.
	// Encode writes the same bytes as Marshal and a newline, cut before hashing.
	// Accounts, all but 1% of the objects, are written without reflection
	// (appendAccountJSON), the same bytes.
	const stretch = 512
	sums := make([]string, len(objs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(objs)/1024))
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			var ab []byte
			for {
				lo := int(next.Add(stretch)) - stretch
				if lo >= len(objs) {
					return
				}
				for i := lo; i < min(lo+stretch, len(objs)); i++ {
					var js []byte
					if a, ok := objs[i].v.(*schema.Account); ok {
						ab = appendAccountJSON(ab[:0], a)
						js = ab
					} else {
						buf.Reset()
						if err := enc.Encode(objs[i].v); err != nil {
							errs[w] = fmt.Errorf("fingerprint %s: %w", objs[i].addr, err)
							return
						}
						js = bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
					}
					sum := sha256.Sum256(js)
					sums[i] = hex.EncodeToString(sum[:])
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Observed{}, err
	}
	// The map and the fleet's digest are built side by side (they were the last
	// tenth of a second of a 100k plan, alone on one core). Addresses are unique by
	// construction (each kind has its own prefix, names are keys of the fleet's maps),
	// so sorting the objects by address orders the map's keys too.
	obs := Observed{Objects: make(map[string]string, len(objs))}
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for i, o := range objs {
			obs.Objects[o.addr] = sums[i]
		}
	}()
	order := make([]int32, len(objs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(objs[a].addr, objs[b].addr) })
	h := sha256.New()
	line := make([]byte, 0, 128)
	for _, i := range order {
		line = append(append(append(append(line[:0], objs[i].addr...), ' '), sums[i]...), '\n')
		h.Write(line)
	}
	obs.Fingerprint = "sha256:" + hex.EncodeToString(h.Sum(nil))
	<-filled
	if len(obs.Objects) != len(objs) {
		// Two objects under one address, which the fleet's shape rules out: digest
		// the map, one line an address, as a fingerprint always has.
		obs.Fingerprint = digestObjects(obs.Objects)
	}
	return obs, nil
}

// digestObjects is the fingerprint of an object map: sha256 over its "address hash"
// lines in address order.
func digestObjects(objects map[string]string) string {
	h := sha256.New()
	for _, a := range slices.Sorted(maps.Keys(objects)) {
		fmt.Fprintf(h, "%s %s\n", a, objects[a])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ObjectChange is one object that differs between two observations.
type ObjectChange struct {
	Address string `json:"address"`
	// How is "changed", "appeared" (observed now, not then) or "disappeared".
	How string `json:"how"`
}

// Diff lists the objects that differ from old to now, sorted by address.
func (old Observed) Diff(now Observed) []ObjectChange {
	var out []ObjectChange
	for a, h := range old.Objects {
		switch n, ok := now.Objects[a]; {
		case !ok:
			out = append(out, ObjectChange{a, "disappeared"})
		case n != h:
			out = append(out, ObjectChange{a, "changed"})
		}
	}
	for a := range now.Objects {
		if _, ok := old.Objects[a]; !ok {
			out = append(out, ObjectChange{a, "appeared"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}
