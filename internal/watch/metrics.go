package watch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values. Label names are Prometheus's usual: parent, trigger, result.
const (
	// Results of a change (tether_changes_total{result}).
	ResultApplied    = "applied"
	ResultFailed     = "failed"
	ResultSkipped    = "skipped"     // a change it depended on failed
	ResultNotStarted = "not_started" // the round was interrupted first

	// Results of a round (tether_reconciles_total{result}).
	RoundOK       = "ok"       // planned (and applied) with every change done
	RoundDegraded = "degraded" // applied, some changes failed
	RoundFailed   = "failed"   // the round could not run: a fetch, a read, a lock, a gate
	RoundInvalid  = "invalid"  // the commit's fleet does not validate
	RoundRefused  = "refused"  // the commit is not signed by a trusted key
	RoundStopped  = "stopped"  // evaluating the commit was stopped at a bound

	// Triggers of a round (tether_reconciles_total{trigger}).
	TriggerCommit = "commit" // a new commit (start, poll, fsnotify, webhook)
	TriggerDrift  = "drift"  // the interval's drift check
)

// Metrics are the daemon's Prometheus metrics, in Registry. Other parts of the daemon
// (replica ownership, handovers) register their own collectors in the same Registry
// (Daemon.Registry), named tether_* in Prometheus's conventions: a _total counter,
// base units (_seconds), labels for parent and result rather than one metric each.
type Metrics struct {
	Registry *prometheus.Registry

	// Changes counts the changes of applied plans: tether_changes_total{parent, result}.
	Changes *prometheus.CounterVec
	// Reconciles counts rounds: tether_reconciles_total{trigger, result}. A failed
	// change and a failed round are apart: one is a change result, the other a round's.
	Reconciles *prometheus.CounterVec
	// Duration of rounds: tether_reconcile_duration_seconds{trigger}.
	Duration *prometheus.HistogramVec
	// Drift is what the last plan of each parent found to change:
	// tether_drift_changes{parent} (0 once in step).
	Drift *prometheus.GaugeVec
	// LastApply is when a round last applied changes to a parent, all of them done:
	// tether_last_apply_timestamp_seconds{parent}.
	LastApply *prometheus.GaugeVec
	// LastSync is when a commit was last put in force: tether_last_sync_timestamp_seconds,
	// and which: tether_last_sync_commit_info{commit} 1.
	LastSync       prometheus.Gauge
	LastSyncCommit *prometheus.GaugeVec
	// MemberUp is 1 for a DNS member in service, 0 for one disabled:
	// tether_dns_member_up{parent, member}; MemberFailures its consecutive failed
	// commands: tether_dns_member_consecutive_failures{parent, member}.
	MemberUp       *prometheus.GaugeVec
	MemberFailures *prometheus.GaugeVec
}

// NewMetrics registers the daemon's metrics in reg (a new registry when nil), and
// suspended (tether_suspended, 1 while `tether watch suspend` is in force) when given.
func NewMetrics(reg *prometheus.Registry, suspended func() bool) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		Changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_changes_total",
			Help: "Changes of applied plans by parent and result (applied, failed, skipped, not_started)."}, []string{"parent", "result"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tether_reconciles_total",
			Help: "Rounds by trigger (commit, drift) and result (ok, degraded, failed, invalid, refused, stopped)."}, []string{"trigger", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tether_reconcile_duration_seconds",
			Help: "Duration of rounds by trigger.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}, []string{"trigger"}),
		Drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tether_drift_changes",
			Help: "Changes the last plan found between the fleet and a parent's live servers."}, []string{"parent"}),
		LastApply: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tether_last_apply_timestamp_seconds",
			Help: "Unix time a round last applied changes to a parent with none failing."}, []string{"parent"}),
		LastSync: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_last_sync_timestamp_seconds",
			Help: "Unix time of the last completed sync of a commit."}),
		LastSyncCommit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tether_last_sync_commit_info",
			Help: "The commit in force (value 1, commit in a label)."}, []string{"commit"}),
		MemberUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tether_dns_member_up",
			Help: "1 for a DNS cluster member in service, 0 for one disabled."}, []string{"parent", "member"}),
		MemberFailures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tether_dns_member_consecutive_failures",
			Help: "Consecutive failed commands of a DNS cluster member, as Tether's state counts them."}, []string{"parent", "member"}),
	}
	reg.MustRegister(m.Changes, m.Reconciles, m.Duration, m.Drift, m.LastApply, m.LastSync, m.LastSyncCommit, m.MemberUp, m.MemberFailures)
	if suspended != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tether_suspended",
			Help: "1 while `tether watch suspend` is in force."}, func() float64 {
			if suspended() {
				return 1
			}
			return 0
		}))
	}
	return m
}

// round records what one round did: its result, and per parent its changes and drift.
func (m *Metrics) round(trigger, result string, out Outcome, now float64) {
	m.Reconciles.WithLabelValues(trigger, result).Inc()
	for name, p := range out.Parents {
		for result, n := range map[string]int{ResultApplied: p.Applied, ResultFailed: p.Failed, ResultSkipped: p.Skipped, ResultNotStarted: p.NotStarted} {
			if n > 0 {
				m.Changes.WithLabelValues(name, result).Add(float64(n))
			}
		}
		if p.Applied > 0 && p.Failed+p.Skipped+p.NotStarted == 0 {
			m.LastApply.WithLabelValues(name).Set(now)
		}
	}
	if out.Parents == nil {
		// A runner that does not say per parent: the counts go to parent "".
		for result, n := range map[string]int{ResultApplied: out.Applied, ResultFailed: out.Failed} {
			if n > 0 {
				m.Changes.WithLabelValues("", result).Add(float64(n))
			}
		}
	}
}

// drift sets each parent's drift from a plan (applied or not).
func (m *Metrics) drift(out Outcome) {
	for name, p := range out.Parents {
		m.Drift.WithLabelValues(name).Set(float64(p.Changes))
	}
}

// members sets the DNS members' gauges from a round's reading.
func (m *Metrics) members(ms []MemberStatus) {
	if ms == nil {
		return
	}
	m.MemberUp.Reset()
	m.MemberFailures.Reset()
	for _, s := range ms {
		up := 1.0
		if s.Disabled {
			up = 0
		}
		m.MemberUp.WithLabelValues(s.Parent, s.Member).Set(up)
		m.MemberFailures.WithLabelValues(s.Parent, s.Member).Set(float64(s.ConsecutiveFailures))
	}
}
