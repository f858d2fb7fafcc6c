package state

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Holder is who holds a parent's writer lock, as a refused writer and `tether state
// locks` name it: the machine and process, what it runs, the fleet commit it applies
// and since when. It is recorded beside the lock and only informs: the lock is the
// flock or the lease.
type Holder struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Command is what the process runs ("tether apply", "tether watch"): the program
	// and its leading words, never its flags (they may name files a reader should not
	// learn of, and a value after a flag could be anything).
	Command string `json:"command,omitempty"`
	// Commit is the fleet commit being applied, when the fleet is a git checkout.
	Commit string `json:"commit,omitempty"`
	// Replica is the daemon replica's name (tether watch --replica-id) when the
	// writer is one of the replicas sharing an etcd state, so a replica that lost a
	// lock is told which replica took it.
	Replica string    `json:"replica,omitempty"`
	Since   time.Time `json:"since"`
}

type holderKey struct{}

// WithHolder returns ctx carrying what Lock records of the writer beyond the host,
// pid and time it finds itself: the command (default: the process's own) and the
// commit being applied. Fields h leaves empty keep what ctx carried: the command line
// names the command, the engine adds the commit of the plan it applies.
func WithHolder(ctx context.Context, h Holder) context.Context {
	old, _ := ctx.Value(holderKey{}).(Holder)
	if h.Host == "" {
		h.Host = old.Host
	}
	if h.PID == 0 {
		h.PID = old.PID
	}
	if h.Command == "" {
		h.Command = old.Command
	}
	if h.Commit == "" {
		h.Commit = old.Commit
	}
	if h.Replica == "" {
		h.Replica = old.Replica
	}
	if h.Since.IsZero() {
		h.Since = old.Since
	}
	return context.WithValue(ctx, holderKey{}, h)
}

// holderFor is the holder a Lock taken with ctx records.
func holderFor(ctx context.Context) Holder {
	h, _ := ctx.Value(holderKey{}).(Holder)
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Command == "" {
		h.Command = commandOf(os.Args)
	}
	if h.Since.IsZero() {
		h.Since = time.Now().UTC()
	}
	return h
}

// commandOf is the program's base name and the words before the first flag, at
// most three ("tether apply fleet").
func commandOf(args []string) string {
	if len(args) == 0 {
		return ""
	}
	words := []string{filepath.Base(args[0])}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") || len(words) == 3 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// String names the holder in one phrase: "pid 42 on ci-3 (tether apply, commit
// 0123456789ab) since 2026-12-02T20:41:00Z", a replica first: "replica r2, pid 42 on
// ci-3 (tether watch) since …".
func (h Holder) String() string {
	var what []string
	if h.Command != "" {
		what = append(what, h.Command)
	}
	if h.Commit != "" {
		what = append(what, "commit "+short(h.Commit))
	}
	s := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Replica != "" {
		s = "replica " + h.Replica + ", " + s
	}
	if len(what) > 0 {
		s += " (" + strings.Join(what, ", ") + ")"
	}
	return s + " since " + h.Since.UTC().Format(time.RFC3339)
}

// describe is the phrase an ErrLocked carries: who holds it, from what was recorded.
func describe(b []byte, err error) string {
	var h Holder
	if err != nil || json.Unmarshal(b, &h) != nil || h.PID == 0 {
		return "holder unknown"
	}
	return "held by " + h.String()
}
