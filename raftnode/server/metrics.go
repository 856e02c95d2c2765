package server

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkube/raftkube/raftnode/raft"
)

// metrics are the member's Prometheus metrics. Each Server has its own registry
// (no global state): several members can run in one process, as tests do.
type metrics struct {
	registry *prometheus.Registry

	leaderChanges     prometheus.Counter
	proposalsApplied  prometheus.Counter
	proposalsDropped  prometheus.Counter
	readIndexRequests prometheus.Counter
	readsServed       prometheus.Counter
	appliedEntries    prometheus.Counter
	walSync           prometheus.Histogram
	snapshotSave      prometheus.Histogram
	snapshotsReceived prometheus.Counter
	unreachable       prometheus.Counter
}

// latencyBuckets span 100µs to ~6.5s: an fsync on a fast disk up to a stalled one.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

// newMetrics registers the member's metrics; its gauges read m's published
// state.
func newMetrics(c *memberCore, name string) *metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) prometheus.Collector { r.MustRegister(c); return c }
	counter := func(name, help string) prometheus.Counter {
		return f(prometheus.NewCounter(prometheus.CounterOpts{Namespace: "raftnode", Name: name, Help: help})).(prometheus.Counter)
	}
	histogram := func(name, help string) prometheus.Histogram {
		return f(prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "raftnode", Name: name, Help: help, Buckets: latencyBuckets,
		})).(prometheus.Histogram)
	}
	gauge := func(name, help string, v func() float64) {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "raftnode", Name: name, Help: help}, v))
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m := &metrics{
		registry:          r,
		leaderChanges:     counter("leader_changes_total", "Times this member saw the leader change (including to no leader)."),
		proposalsApplied:  counter("proposals_applied_total", "Client writes proposed by this member and applied."),
		proposalsDropped:  counter("proposals_dropped_total", "Client writes the Raft core refused (no leader, or a transfer in progress)."),
		readIndexRequests: counter("read_index_requests_total", "ReadIndex requests started; each serves a batch of linearizable reads."),
		readsServed:       counter("linearizable_reads_total", "Linearizable reads released after their read index was applied."),
		appliedEntries:    counter("applied_entries_total", "Committed log entries applied to the state machine."),
		walSync:           histogram("wal_sync_seconds", "Time of one fsync of the log; it covers every write since the previous one."),
		snapshotSave:      histogram("snapshot_save_seconds", "Time to write a snapshot of the state machine and compact the log."),
		snapshotsReceived: counter("snapshots_received_total", "Snapshots received from the leader and restored."),
		unreachable:       counter("peer_unreachable_reports_total", "Times the transport reported a peer unreachable."),
	}
	gauge("term", "The member's current Raft term.", func() float64 { return float64(c.term.Load()) })
	gauge("has_leader", "1 when the member knows a leader.", func() float64 { return boolean(c.leader.Load() != raft.None) })
	gauge("is_leader", "1 when the member is the leader.", func() float64 { return boolean(c.leader.Load() == c.id) })
	gauge("commit_index", "The highest log index known committed.", func() float64 { return float64(c.commit.Load()) })
	gauge("applied_index", "The highest log index applied to the state machine.", func() float64 {
		return float64(c.store.Load().AppliedIndex())
	})
	gauge("removed", "1 once the member learned it was removed from the cluster.", func() float64 { return boolean(c.removed.Load()) })
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "raftnode", Name: "member_info", Help: "Always 1; the labels identify the member.",
		ConstLabels: prometheus.Labels{"id": fmt.Sprintf("%x", c.id), "name": name},
	}, func() float64 { return 1 }))
	return m
}

// since observes the seconds since start into h.
func since(h prometheus.Observer, start time.Time) { h.Observe(time.Since(start).Seconds()) }
