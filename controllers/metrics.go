package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the steps the reconciler takes, by planner action kind and
// result (done, deferred: the cluster was busy, failed). The manager serves
// them with controller-runtime's own reconcile metrics on /metrics.
type Metrics struct {
	steps *prometheus.CounterVec
}

// Step results.
const (
	stepDone     = "done"
	stepDeferred = "deferred"
	stepFailed   = "failed"
)

// NewMetrics registers the reconciler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{steps: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "raftkube_operator_steps_total",
		Help: "Steps the RaftCluster reconciler took, by planner action kind and result (done, deferred, failed).",
	}, []string{"kind", "result"})}
	if err := reg.Register(m.steps); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) step(kind, result string) {
	if m != nil {
		m.steps.WithLabelValues(kind, result).Inc()
	}
}
