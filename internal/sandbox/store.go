package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/atomicfile"
)

// State layout in StateDir:
//
//	nodes/NAME.json   one document per node, written atomically (temp file + rename)
//	endpoints.json    the contract read by the command line and tests (mode 0600)
//	serve.pid         present while `tether sandbox serve` runs
//
// Changes mark a node dirty; a flusher writes dirty nodes every FlushInterval, and
// Close writes everything. So 10k account creations cost a few whole-file writes, not
// 10k; a kill (SIGKILL, power loss) loses at most the changes of the last interval,
// and a file is never half-written.

func nodeFile(dir, name string) string { return filepath.Join(dir, "nodes", name+".json") }

func pidFile(dir string) string { return filepath.Join(dir, "serve.pid") }

func loadStates(dir string) (map[string]*nodeState, error) {
	out := map[string]*nodeState{}
	entries, err := os.ReadDir(filepath.Join(dir, "nodes"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		return nil, fmt.Errorf("sandbox: read state: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "nodes", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sandbox: read state of %s: %w", name, err)
		}
		st := &nodeState{}
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("sandbox: state of %s is damaged (%s): %w", name, e.Name(), err)
		}
		st.normalize()
		st.Name = name
		out[name] = st
	}
	return out, nil
}

// flush writes n's state if it changed. Encoding happens under n.mu, the write after.
func (n *node) flush() error {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	n.mu.Lock()
	n.snapshotZones()
	if !n.dirty {
		n.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(n.st)
	n.dirty = false
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sandbox: encode state of %s: %w", n.name, err)
	}
	if err := atomicfile.Write(nodeFile(n.sb.opts.StateDir, n.name), b, 0o600); err != nil {
		n.mu.Lock()
		n.dirty = true
		n.mu.Unlock()
		return fmt.Errorf("sandbox: write state of %s: %w", n.name, err)
	}
	return nil
}

func (sb *Sandbox) flushAll() error {
	sb.mu.RLock()
	nodes := make([]*node, 0, len(sb.nodes))
	for _, n := range sb.nodes {
		nodes = append(nodes, n)
	}
	sb.mu.RUnlock()
	var first error
	for _, n := range nodes {
		if err := n.flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (sb *Sandbox) flusher() {
	defer sb.tasks.Done()
	t := time.NewTicker(sb.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-sb.ctx.Done():
			return
		case <-t.C:
			if err := sb.flushAll(); err != nil {
				sb.log.Error("sandbox: flush", "err", err)
			}
		}
	}
}

// EndpointsFile is where Start writes the endpoints of a state folder.
func EndpointsFile(stateDir string) string { return filepath.Join(stateDir, "endpoints.json") }

func (sb *Sandbox) writeEndpoints() error {
	b, err := json.MarshalIndent(sb.Endpoints(), "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(EndpointsFile(sb.opts.StateDir), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("sandbox: write endpoints.json: %w", err)
	}
	return nil
}

// ReadEndpoints reads stateDir/endpoints.json.
func ReadEndpoints(stateDir string) (*Endpoints, error) {
	b, err := os.ReadFile(EndpointsFile(stateDir))
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	eps := &Endpoints{}
	if err := json.Unmarshal(b, eps); err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", EndpointsFile(stateDir), err)
	}
	return eps, nil
}

// WritePID records that this process serves stateDir (for Serving). Close removes it.
func WritePID(stateDir string) error {
	return atomicfile.Write(pidFile(stateDir), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
}

// Serving reports whether a `tether sandbox serve` process is live for stateDir: its
// pid file names a running process and the endpoints answer.
func Serving(stateDir string) (*Endpoints, bool) {
	b, err := os.ReadFile(pidFile(stateDir))
	if err != nil {
		return nil, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		return nil, false
	}
	eps, err := ReadEndpoints(stateDir)
	if err != nil || len(eps.Nodes) == 0 {
		return nil, false
	}
	c := eps.HTTPClient(2 * time.Second)
	for _, ep := range eps.Nodes {
		req, err := http.NewRequest(http.MethodGet, ep.WHM+"/json-api/version?api.version=1", nil)
		if err != nil {
			return nil, false
		}
		req.Header.Set("Authorization", "whm "+ep.User+":"+ep.Token)
		resp, err := c.Do(req)
		if err != nil {
			continue // a node may be offline by fault; one answering is enough
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return eps, true
		}
	}
	return nil, false
}
