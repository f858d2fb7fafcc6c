package sandbox

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Faults are injected into one node. The zero value is a healthy node.
type Faults struct {
	// Latency delays every HTTP request.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorRate is the share of requests (0..1) answered with HTTP 500.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// Timeout makes every request hang until the client gives up.
	Timeout bool `json:"timeout,omitempty"`
	// Offline closes the node's ports (WHM, DNS): connections and queries are
	// refused. The addresses stay the node's (on Linux, hold_linux.go): nothing else
	// can bind them until it is back online on the same ones.
	Offline bool `json:"offline,omitempty"`
	// FailTasks makes distribution tasks run by this node, or moving mail to it, fail
	// half-way: the child account is created and the mail copied, then the task fails.
	FailTasks bool `json:"fail_tasks,omitempty"`
	// Refuse makes a WHM API 1 function (by name, inside a batch too) or a DNS-cluster
	// screen (by path, e.g. /cgi/adjustclustering.cgi) refuse every call, changing
	// nothing: the answer a server gives when it turns a request down for a reason of
	// its own (a package that does not exist, a remote that refused a token, a TLS
	// check that failed). Tests use it for refusals the simulation does not reach by
	// itself, and for refusals quoting what a client must keep out of its errors.
	Refuse map[string]Refusal `json:"refuse,omitempty"`
}

// Refusal is how a refused call answers: metadata.result 0 with Reason, and with Type
// set the typed failure's data {type, detail} (whm-api.md: typed errors). A screen
// answers Reason in the page's error box.
type Refusal struct {
	Reason string `json:"reason"`
	Type   string `json:"type,omitempty"`
}

// refusal is the refusal fault for a function or screen path of the node, if any.
func (n *node) refusal(name string) (Refusal, bool) {
	n.faultsMu.Lock()
	defer n.faultsMu.Unlock()
	r, ok := n.faults.Refuse[name]
	return r, ok
}

// faultsJSON is the wire form of Faults for the admin endpoint (latency as text).
type faultsJSON struct {
	Latency   string             `json:"latency,omitempty"`
	ErrorRate float64            `json:"error_rate,omitempty"`
	Timeout   bool               `json:"timeout,omitempty"`
	Offline   bool               `json:"offline,omitempty"`
	FailTasks bool               `json:"fail_tasks,omitempty"`
	Refuse    map[string]Refusal `json:"refuse,omitempty"`
}

func (f Faults) wire() faultsJSON {
	w := faultsJSON{ErrorRate: f.ErrorRate, Timeout: f.Timeout, Offline: f.Offline, FailTasks: f.FailTasks, Refuse: maps.Clone(f.Refuse)}
	if f.Latency > 0 {
		w.Latency = f.Latency.String()
	}
	return w
}

func (w faultsJSON) faults() (Faults, error) {
	f := Faults{ErrorRate: w.ErrorRate, Timeout: w.Timeout, Offline: w.Offline, FailTasks: w.FailTasks, Refuse: maps.Clone(w.Refuse)}
	if w.Latency != "" {
		d, err := time.ParseDuration(w.Latency)
		if err != nil || d < 0 {
			return Faults{}, fmt.Errorf("latency %q: want a duration such as 20ms", w.Latency)
		}
		f.Latency = d
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		return Faults{}, fmt.Errorf("error_rate %v: want a share between 0 and 1", f.ErrorRate)
	}
	return f, nil
}

// ParseFault reads a command-line fault: NODE:latency=20ms,errors=0.1,timeout,offline,failtasks.
func ParseFault(spec string) (string, Faults, error) {
	name, rest, ok := strings.Cut(spec, ":")
	if !ok || name == "" {
		return "", Faults{}, fmt.Errorf("fault %q: want NODE:latency=20ms,errors=0.1,timeout,offline,failtasks", spec)
	}
	var f Faults
	for _, item := range strings.Split(rest, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, _ := strings.Cut(item, "=")
		switch k {
		case "latency":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", Faults{}, fmt.Errorf("fault %q: latency %q is not a duration", spec, v)
			}
			f.Latency = d
		case "errors":
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 1 {
				return "", Faults{}, fmt.Errorf("fault %q: errors %q is not a share between 0 and 1", spec, v)
			}
			f.ErrorRate = r
		case "timeout":
			f.Timeout = true
		case "offline":
			f.Offline = true
		case "failtasks":
			f.FailTasks = true
		default:
			return "", Faults{}, fmt.Errorf("fault %q: unknown fault %q (latency, errors, timeout, offline, failtasks)", spec, k)
		}
	}
	return name, f, nil
}

// SetFaults replaces the faults of a node at run time.
func (sb *Sandbox) SetFaults(name string, f Faults) error {
	n := sb.nodeByName(name)
	if n == nil {
		return fmt.Errorf("sandbox: no node %q", name)
	}
	f.Refuse = maps.Clone(f.Refuse)
	n.faultsMu.Lock()
	was := n.faults.Offline
	n.faults = f
	n.faultsMu.Unlock()
	if was != f.Offline {
		n.setOffline(f.Offline)
	}
	return nil
}

// Faults returns the faults of a node.
func (sb *Sandbox) Faults(name string) Faults {
	n := sb.nodeByName(name)
	if n == nil {
		return Faults{}
	}
	return n.currentFaults()
}

func (n *node) currentFaults() Faults {
	n.faultsMu.Lock()
	defer n.faultsMu.Unlock()
	return n.faults
}

// injectFaults applies latency, hangs and random errors; it reports whether the
// request was answered already.
func (n *node) injectFaults(w http.ResponseWriter, r *http.Request) bool {
	f := n.currentFaults()
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			hangUp()
		case <-n.sb.ctx.Done():
			hangUp()
		}
	}
	if f.Timeout {
		select {
		case <-r.Context().Done():
		case <-n.sb.ctx.Done():
		}
		hangUp()
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return true
	}
	return false
}

// hangUp ends a request that was never answered, as a hung server's would end: the
// connection closes without a response. A handler that just returned would make
// net/http send "200 OK" with an empty body, which a client still reading the
// connection (its deadline and the answer racing) took for WHM's answer.
func hangUp() { panic(http.ErrAbortHandler) }

// serveFaults is the admin endpoint /sandbox/faults?node=NAME, outside /json-api:
// GET returns the node's faults, POST (JSON body of faultsJSON) replaces them. Any
// node's endpoint can change any node, so an offline node can be brought back.
func (n *node) serveFaults(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("node")
	if target == "" {
		target = n.name
	}
	tn := n.sb.nodeByName(target)
	if tn == nil {
		http.Error(w, fmt.Sprintf("no node %q", target), http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		var wire faultsJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&wire); err != nil {
			http.Error(w, "bad faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		f, err := wire.faults()
		if err != nil {
			http.Error(w, "bad faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := n.sb.SetFaults(target, f); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tn.currentFaults().wire())
}

// SetService switches a service of a node on or off and its monitoring, as an
// administrator does with WHM's Service Manager (configureservice, which the sandbox
// does not serve: the reference documents no response for it). servicestatus reports
// it, and so does a parent's DNS cluster status page for a member whose "named" is
// off. Only the services of the node's profile exist.
func (sb *Sandbox) SetService(node, service string, enabled, monitored bool) error {
	n := sb.nodeByName(node)
	if n == nil {
		return fmt.Errorf("sandbox: no node %q", node)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !slices.Contains(n.st.enabledServices(), service) {
		return fmt.Errorf("sandbox: node %s has no service %q", node, service)
	}
	set := func(m *map[string]bool, off bool) {
		if *m == nil {
			*m = map[string]bool{}
		}
		if off {
			(*m)[service] = true
		} else {
			delete(*m, service)
		}
	}
	set(&n.st.ServiceOff, !enabled)
	set(&n.st.Unmonitored, !monitored)
	n.markDirty()
	return nil
}
