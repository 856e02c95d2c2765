package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Metrics counts the steps the reconciler takes, by planner action kind and
// result (done, deferred: the cluster was busy, failed), and the clusters'
// backups. The manager serves them with controller-runtime's own reconcile
// metrics on /metrics.
type Metrics struct {
	steps *prometheus.CounterVec
	// backups counts finished backups by cluster and result.
	backups *prometheus.CounterVec
	// lastSuccess reports each cluster's latest successful backup.
	lastSuccess *lastSuccessCollector
}

// Step results.
const (
	stepDone     = "done"
	stepDeferred = "deferred"
	stepFailed   = "failed"
)

// Backup results, the result label of raftkube_backups_total.
const (
	backupResultSucceeded = "succeeded"
	backupResultFailed    = "failed"
)

// NewMetrics registers the reconcilers' metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkube_operator_steps_total",
			Help: "Steps the RaftCluster reconciler took, by planner action kind and result (done, deferred, failed).",
		}, []string{"kind", "result"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkube_backups_total",
			Help: "Finished backups (RaftBackups) of a RaftCluster, by result (succeeded, failed).",
		}, []string{"namespace", "cluster", "result"}),
		lastSuccess: newLastSuccessCollector(time.Now),
	}
	for _, c := range []prometheus.Collector{m.steps, m.backups, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) step(kind, result string) {
	if m != nil {
		m.steps.WithLabelValues(kind, result).Inc()
	}
}

// backupFinished counts a finished backup of cluster and, when it
// succeeded, records when.
func (m *Metrics) backupFinished(cluster types.NamespacedName, succeeded bool, at time.Time) {
	if m == nil {
		return
	}
	result := backupResultFailed
	if succeeded {
		result = backupResultSucceeded
		m.lastSuccess.observe(cluster, at)
	}
	m.backups.WithLabelValues(cluster.Namespace, cluster.Name, result).Inc()
}

// observeLastSuccess records a successful backup of cluster at t (from its
// status, after a restart of the manager) unless a later one is known.
func (m *Metrics) observeLastSuccess(cluster types.NamespacedName, t time.Time) {
	if m != nil {
		m.lastSuccess.observe(cluster, t)
	}
}

// forgetCluster drops a deleted cluster's backup series.
func (m *Metrics) forgetCluster(cluster types.NamespacedName) {
	if m == nil {
		return
	}
	m.backups.DeletePartialMatch(prometheus.Labels{"namespace": cluster.Namespace, "cluster": cluster.Name})
	m.lastSuccess.forget(cluster)
}

// lastSuccessCollector reports, per cluster, the time of its latest
// successful backup and that backup's age, computed at each scrape: an
// alert on the age needs no arithmetic and fires even when the operator
// records nothing new.
type lastSuccessCollector struct {
	now       func() time.Time
	timestamp *prometheus.Desc
	age       *prometheus.Desc

	mu sync.Mutex
	// last is each cluster's latest successful backup, guarded by mu.
	last map[types.NamespacedName]time.Time
}

func newLastSuccessCollector(now func() time.Time) *lastSuccessCollector {
	labels := []string{"namespace", "cluster"}
	return &lastSuccessCollector{
		now: now,
		timestamp: prometheus.NewDesc("raftkube_backup_last_success_timestamp_seconds",
			"When the latest successful backup of a RaftCluster finished, in seconds since the epoch.", labels, nil),
		age: prometheus.NewDesc("raftkube_backup_last_success_age_seconds",
			"Seconds since the latest successful backup of a RaftCluster finished.", labels, nil),
		last: map[types.NamespacedName]time.Time{},
	}
}

func (c *lastSuccessCollector) observe(cluster types.NamespacedName, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.last[cluster]) {
		c.last[cluster] = t
	}
}

func (c *lastSuccessCollector) forget(cluster types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, cluster)
}

// Describe implements prometheus.Collector.
func (c *lastSuccessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.timestamp
	ch <- c.age
}

// Collect implements prometheus.Collector.
func (c *lastSuccessCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.last {
		ch <- prometheus.MustNewConstMetric(c.timestamp, prometheus.GaugeValue, float64(t.UnixNano())/1e9, k.Namespace, k.Name)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, now.Sub(t).Seconds(), k.Namespace, k.Name)
	}
}
