package rfc2136

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tether-dev/tether/schema"
)

// Notification is the JSON body posted to policy.notifyWebhook when a member is
// disabled. It names the member and its address, never a key.
type Notification struct {
	Event     string    `json:"event"` // "dns.member.disabled"
	Parent    string    `json:"parent"`
	Member    string    `json:"member"`
	Address   string    `json:"address"`
	Failures  int       `json:"failures"`
	Threshold int       `json:"threshold"`
	LastError string    `json:"lastError"`
	Time      time.Time `json:"time"`
	Hint      string    `json:"hint"`
}

// PostJSON posts a notification to a webhook; a non-2xx answer is an error.
func PostJSON(ctx context.Context, client *http.Client, url string, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("notify %s: %w", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify %s: HTTP %d", req.URL.Redacted(), resp.StatusCode)
	}
	return nil
}

// Tracker counts consecutive failed commands per member and disables a member past
// its cluster's failure threshold (seed: "the number of dnsadmin commands that may
// fail before WHM disables an unresponsive DNS cluster member"; DESIGN.md: disabled
// when it fails more than failureThreshold consecutive commands).
type Tracker struct {
	Store  HealthStore
	Logger *slog.Logger
	// Post sends a notification; PostJSON with http.DefaultClient by default.
	Post func(ctx context.Context, url string, n Notification) error
	Now  func() time.Time
}

// Record notes the outcome of one command. It returns a non-nil error wrapping
// ErrDisabled when the member is disabled by this failure. cluster may be nil (WHM's
// default threshold, no notification).
func (tr *Tracker) Record(ctx context.Context, t Target, cluster *schema.DNSCluster, webhook string, cmdErr error) error {
	id := t.ID()
	threshold := schema.DefaultThreshold
	if cluster != nil {
		threshold = cluster.FailureThreshold.Value()
	}
	var disableNow bool
	h, err := tr.Store.UpdateHealth(id, func(h *Health) {
		if cmdErr == nil {
			h.ConsecutiveFailures, h.LastError = 0, ""
			return
		}
		h.ConsecutiveFailures++
		h.LastError = cmdErr.Error()
		if threshold > 0 && h.ConsecutiveFailures > threshold && !h.Disabled {
			disableNow = true
			h.Disabled = true
			h.DisabledAt = tr.now()
		}
	})
	if err != nil {
		return fmt.Errorf("member %s: record the outcome of a command: %w", t.Name, err)
	}
	if !disableNow {
		return nil
	}
	tr.logger().Warn("rfc2136: member disabled after consecutive failed commands",
		"member", id, "address", t.Addr, "failures", h.ConsecutiveFailures, "threshold", threshold, "last_error", h.LastError)
	if cluster != nil && cluster.NotifyOnDisable {
		n := Notification{Event: "dns.member.disabled", Parent: t.Parent, Member: t.Name, Address: t.Addr,
			Failures: h.ConsecutiveFailures, Threshold: threshold, LastError: h.LastError, Time: h.DisabledAt,
			Hint: "re-enable with: tether dns enable " + t.Name}
		if webhook == "" {
			tr.logger().Warn("rfc2136: no policy.notifyWebhook set; notification logged only", "member", id)
		} else if err := tr.post(ctx, webhook, n); err != nil {
			tr.logger().Error("rfc2136: notification failed", "member", id, "error", err)
		}
	}
	return fmt.Errorf("member %s disabled after %d consecutive failed commands (threshold %d); re-enable with `tether dns enable %s`: %w",
		t.Name, h.ConsecutiveFailures, threshold, t.Name, ErrDisabled)
}

func (tr *Tracker) post(ctx context.Context, url string, n Notification) error {
	if tr.Post != nil {
		return tr.Post(ctx, url, n)
	}
	return PostJSON(ctx, nil, url, n)
}

func (tr *Tracker) now() time.Time {
	if tr.Now != nil {
		return tr.Now()
	}
	return time.Now()
}

func (tr *Tracker) logger() *slog.Logger {
	if tr.Logger != nil {
		return tr.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Enable re-enables a member ("PARENT/MEMBER"), for `tether dns enable`. The failure
// count restarts at zero; a member that was disabled is marked for a full resync,
// so its zones are compared and rewritten before it is trusted again.
func Enable(store HealthStore, member string) error {
	_, err := store.UpdateHealth(member, func(h *Health) {
		if h.Disabled {
			h.NeedsResync = true
		}
		h.Disabled, h.ConsecutiveFailures, h.LastError, h.DisabledAt = false, 0, "", time.Time{}
	})
	if err != nil {
		return fmt.Errorf("enable %s: %w", member, err)
	}
	return nil
}

// MemberIDs resolves a member name as an operator types it (`bind1`, or `web1/bind1`
// when two parents have a member of that name) to the "PARENT/MEMBER" ids of the
// fleet's rfc2136 members.
func MemberIDs(fleet *schema.Fleet, name string) ([]string, error) {
	var out []string
	for _, id := range Scopes(fleet) {
		parent, member, _ := strings.Cut(id, "/")
		if name == member || name == id || name == parent+"."+member {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("no rfc2136 DNS cluster member named %q in the fleet", name)
	case len(out) > 1 && !strings.Contains(name, "/"):
		return nil, fmt.Errorf("member name %q is ambiguous (%s): write PARENT/MEMBER", name, strings.Join(out, ", "))
	}
	return out, nil
}

// Scopes lists the fleet's rfc2136 members as "PARENT/MEMBER", sorted.
func Scopes(fleet *schema.Fleet) []string {
	if fleet == nil {
		return nil
	}
	var out []string
	for parent, c := range fleet.DNSClusters {
		if c == nil {
			continue
		}
		for name, m := range c.Members {
			if m != nil && m.BackendName() == Backend {
				out = append(out, parent+"/"+name)
			}
		}
	}
	sort.Strings(out)
	return out
}
