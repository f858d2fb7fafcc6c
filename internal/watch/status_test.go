package watch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parentRunner is fakeRunner reporting per parent: the fleet file's lines are
// "PARENT: VALUE"; each line whose value differs from the live one is a change of that
// parent, and a value "FAIL" fails to apply.
type parentRunner struct {
	fakeRunner
}

func lines(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			out[k] = v
		}
	}
	return out
}

func (r *parentRunner) Reconcile(_ context.Context, path, commit string, apply bool) (Outcome, error) {
	b, err := os.ReadFile(filepath.Join(path, "fleet.yaml"))
	if err != nil {
		return Outcome{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	want, live := lines(string(b)), lines(r.live)
	out := Outcome{Drift: "warn", Parents: map[string]ParentOutcome{},
		Members: []MemberStatus{{Parent: "web1", Member: "ns1", Backend: "rfc2136", Disabled: true, ConsecutiveFailures: 4}}}
	for p, v := range want {
		po := ParentOutcome{}
		if live[p] != v {
			po.Changes = 1
			po.Drifted = []string{"update account." + p}
			out.Changes++
			out.Drifted = append(out.Drifted, po.Drifted...)
			if apply && v == "FAIL" {
				po.Failed = 1
				out.Failed++
			} else if apply {
				po.Applied = 1
				out.Applied++
				live[p] = v
			}
		}
		out.Parents[p] = po
	}
	if apply {
		var sb strings.Builder
		for p, v := range live {
			sb.WriteString(p + ": " + v + "\n")
		}
		r.live = sb.String()
	}
	return out, nil
}

func TestStatusAndLabelledMetrics(t *testing.T) {
	g := newRepo(t)
	head := g.commit("web1: a\nweb2: FAIL\n", nil)
	run := &parentRunner{}
	d, _ := start(t, g, run, "", 50*time.Millisecond)
	eventually(t, "a round recorded", func() bool { return d.Status().Commit == head })
	if err := Suspend(d.cfg.StateDir, "maintenance window"); err != nil {
		t.Fatal(err)
	}
	// The drift check plans web2 again (its change failed) and finds it still to do.
	eventually(t, "drift check", func() bool {
		s := d.Status()
		return s.Parents["web2"] != nil && s.Parents["web2"].Drift == 1 && s.LastResult == RoundOK
	})

	body := get(t, "http://"+d.Addr()+"/status")
	var s Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	filed, err := ReadStatus(d.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []Status{s, filed} {
		if st.Commit != head || !st.Suspended || st.SuspendReason != "maintenance window" || st.DriftMode != "warn" {
			t.Errorf("status: commit %q suspended %v (%q) drift mode %q", st.Commit, st.Suspended, st.SuspendReason, st.DriftMode)
		}
		w1, w2 := st.Parents["web1"], st.Parents["web2"]
		if w1 == nil || w2 == nil {
			t.Fatalf("status parents: %+v", st.Parents)
		}
		if w1.LastApply.IsZero() || w1.Drift != 0 || w1.Applied != 1 || w1.LastResult != RoundOK {
			t.Errorf("web1: %+v", w1)
		}
		if !w2.LastApply.IsZero() || w2.Drift != 1 || len(w2.Drifted) != 1 || w2.Drifted[0] != "update account.web2" {
			t.Errorf("web2: %+v", w2)
		}
		if len(st.Members) != 1 || !st.Members[0].Disabled || st.Members[0].ConsecutiveFailures != 4 {
			t.Errorf("members: %+v", st.Members)
		}
	}

	metrics := get(t, "http://"+d.Addr()+"/metrics")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("no metric %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tether_changes_total", map[string]string{"parent": "web1", "result": "applied"}, 1},
		{"tether_changes_total", map[string]string{"parent": "web2", "result": "failed"}, 1},
		{"tether_reconciles_total", map[string]string{"trigger": "commit", "result": "degraded"}, 1},
		{"tether_drift_changes", map[string]string{"parent": "web2"}, 1},
		{"tether_drift_changes", map[string]string{"parent": "web1"}, 0},
		{"tether_dns_member_up", map[string]string{"parent": "web1", "member": "ns1"}, 0},
		{"tether_dns_member_consecutive_failures", map[string]string{"parent": "web1", "member": "ns1"}, 4},
		{"tether_suspended", nil, 1},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if v := value("tether_last_apply_timestamp_seconds", map[string]string{"parent": "web1"}); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("web1's last apply at %v", v)
	}
	for name := range families {
		if !model.IsValidLegacyMetricName(name) || !strings.HasPrefix(name, "tether_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric name %q", name)
		}
	}
	// promtool, where installed (Debian's prometheus package), lints the names and help.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(metrics)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Log("promtool not installed: metrics checked by the Prometheus text parser only")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// A round's error may quote the repository URL; the status keeps no credentials.
func TestStatusMasksCredentials(t *testing.T) {
	g := newRepo(t)
	g.commit("web1: a\n", nil)
	d, _ := start(t, g, &parentRunner{}, "", time.Hour)
	eventually(t, "a round recorded", func() bool { return d.Status().LastRound != (time.Time{}) })
	d.record(TriggerCommit, RoundFailed, Outcome{}, errors.New("fetch: https://bob:hunter2@git.example.net/fleet.git: connection refused"), false)
	filed, err := ReadStatus(d.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{d.Status().LastError, filed.LastError} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "git.example.net") {
			t.Errorf("last error %q: want the URL without its password", s)
		}
	}
}
