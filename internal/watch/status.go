package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/atomicfile"
	"github.com/tether-dev/tether/internal/redact"
)

// ParentOutcome is what a round planned and applied on one parent (the parent of each
// change, or its target when it belongs to none, as a DNS-only node's settings).
type ParentOutcome struct {
	// Changes the round's plan held for the parent; Drifted names them.
	Changes int
	Drifted []string
	// What apply did (zero in a dry run).
	Applied, Failed, Skipped, NotStarted int
}

// MemberStatus is a DNS cluster member's health as the last round read it: disabled
// as observed (the parent's cluster screen for cpanel members, Tether's state for the
// members it disables itself), and the consecutive failures Tether's state counts.
type MemberStatus struct {
	Parent              string `json:"parent"`
	Member              string `json:"member"`
	Backend             string `json:"backend"`
	Disabled            bool   `json:"disabled"`
	ConsecutiveFailures int    `json:"consecutiveFailures"`
}

// Status is what `tether watch status` shows: the daemon's state as of its last round,
// kept in StateDir/status.json and served at /status.
type Status struct {
	// Commit is the commit in force (the last that validated and was applied); Seen the
	// newest the daemon looked at (an invalid or refused one stays Seen, not in force).
	Commit string `json:"commit"`
	Seen   string `json:"seen,omitempty"`
	// LastSync is when Commit was put in force; LastRound when any round last ended.
	LastSync  time.Time `json:"lastSync,omitzero"`
	LastRound time.Time `json:"lastRound,omitzero"`
	// LastResult is the last round's result (ok, degraded, failed, invalid, refused,
	// stopped) and LastError what went wrong, if anything.
	LastResult string `json:"lastResult,omitempty"`
	LastError  string `json:"lastError,omitempty"`
	// DriftMode is the fleet's policy.drift; Drift the changes the last plan found.
	DriftMode string `json:"driftMode,omitempty"`
	Drift     int    `json:"drift"`
	// Suspended: `tether watch suspend` is in force (read from the folder when shown).
	Suspended     bool   `json:"suspended"`
	SuspendReason string `json:"suspendReason,omitempty"`
	// Parents by name, every parent of the fleet in force.
	Parents map[string]*ParentStatus `json:"parents"`
	// Members are the DNS cluster members, by parent then name.
	Members []MemberStatus `json:"members"`
	// Listen is the address of the daemon's endpoints; PID its process.
	Listen string `json:"listen,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Updated is when this status was written.
	Updated time.Time `json:"updated"`
}

// ParentStatus is one parent in Status.
type ParentStatus struct {
	// LastApply is when a round last applied changes to it with none failing;
	// LastResult what the last round that applied anything there did.
	LastApply  time.Time `json:"lastApply,omitzero"`
	LastResult string    `json:"lastResult,omitempty"`
	// Applied and Failed are the last applying round's counts.
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	// Drift is what the last plan found to change; Drifted names up to ten of them.
	Drift   int      `json:"drift"`
	Drifted []string `json:"drifted"`
	// Owner is the replica that owns the parent, when several daemons share one etcd.
	Owner string `json:"owner,omitempty"`
}

// statusFile is where a daemon keeps its status, in its state folder.
const statusFile = "status.json"

// Status returns a copy of the daemon's status as of now.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	s := d.status
	s.Parents = make(map[string]*ParentStatus, len(d.status.Parents))
	for k, v := range d.status.Parents {
		p := *v
		p.Drifted = slices.Clone(v.Drifted)
		s.Parents[k] = &p
	}
	s.Members = slices.Clone(d.status.Members)
	d.mu.Unlock()
	s.Suspended, s.SuspendReason = suspension(d.cfg.StateDir)
	s.Listen, s.PID, s.Updated = d.Addr(), os.Getpid(), time.Now().UTC()
	if d.cfg.Annotate != nil {
		d.cfg.Annotate(&s)
	}
	if s.Members == nil {
		s.Members = []MemberStatus{}
	}
	return s
}

// record folds a round into the status and writes it to the state folder.
func (d *Daemon) record(trigger, result string, out Outcome, err error, apply bool) {
	now := time.Now().UTC()
	d.metrics.round(trigger, result, out, float64(now.Unix()))
	d.mu.Lock()
	st := &d.status
	st.LastRound, st.LastResult, st.LastError = now, result, ""
	if err != nil {
		// A fetch error may quote the repository URL: credentials in it are masked,
		// as in every log line.
		st.LastError = redact.Text(err.Error())
	}
	if out.Parents != nil && len(out.Problems) == 0 {
		d.metrics.drift(out)
		d.metrics.members(out.Members)
		// The fleet's parents are those of this round: one that left is dropped.
		parents := make(map[string]*ParentStatus, len(out.Parents))
		st.Drift = 0
		for name, po := range out.Parents {
			p := st.Parents[name]
			if p == nil {
				p = &ParentStatus{}
			}
			p.Drift, p.Drifted = po.Changes, capped(po.Drifted)
			if apply && po.Changes > 0 {
				p.Applied, p.Failed = po.Applied, po.Failed+po.Skipped+po.NotStarted
				p.LastResult = RoundOK
				if p.Failed > 0 {
					p.LastResult = RoundDegraded
				} else if po.Applied > 0 {
					p.LastApply = now
				}
				// Applied: what is left to do is what did not succeed.
				p.Drift = p.Failed
				if p.Failed == 0 {
					p.Drifted = []string{}
				}
			}
			st.Drift += p.Drift
			parents[name] = p
		}
		st.Parents = parents
		if out.Members != nil {
			st.Members = slices.Clone(out.Members)
		}
	}
	if out.Drift != "" {
		st.DriftMode = out.Drift
	}
	d.mu.Unlock()
	d.writeStatus()
}

func capped(s []string) []string {
	if len(s) > maxDriftNamed {
		s = s[:maxDriftNamed]
	}
	return append([]string{}, s...)
}

// writeStatus keeps the status in the state folder, for `tether watch status` when
// the endpoints are not reachable (or not served). Best effort: /status has it too.
func (d *Daemon) writeStatus() {
	if d.cfg.StateDir == "" {
		return
	}
	b, err := json.MarshalIndent(d.Status(), "", "  ")
	if err != nil {
		return
	}
	if err := atomicfile.Write(filepath.Join(d.cfg.StateDir, statusFile), append(b, '\n'), 0o644); err != nil {
		d.log.Warn("status not written", "err", err.Error())
	}
}

// ReadStatus reads the status a daemon keeps in stateDir (refusing a folder no daemon
// uses). The suspension is read from the folder itself, so it is current even while
// the daemon is down.
func ReadStatus(stateDir string) (Status, error) {
	var s Status
	if err := used(stateDir); err != nil {
		return s, err
	}
	b, err := os.ReadFile(filepath.Join(stateDir, statusFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("the daemon using %s has not finished a round yet (no %s)", stateDir, statusFile)
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(stateDir, statusFile), err)
	}
	s.Suspended, s.SuspendReason = suspension(stateDir)
	if s.Parents == nil {
		s.Parents = map[string]*ParentStatus{}
	}
	if s.Members == nil {
		s.Members = []MemberStatus{}
	}
	return s, nil
}

func suspension(stateDir string) (bool, string) {
	if stateDir == "" {
		return false, ""
	}
	b, err := os.ReadFile(filepath.Join(stateDir, suspendFile))
	if err != nil {
		return false, ""
	}
	return true, strings.TrimSpace(string(b))
}

func suspensionReason(stateDir string) string {
	_, why := suspension(stateDir)
	return why
}
