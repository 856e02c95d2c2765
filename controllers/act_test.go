package controllers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

func TestBusy(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"change not yet applied", serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonChangeInProgress, "possible unapplied configuration change at index 12"), true},
		{"wrapped", fmt.Errorf("Admin.ChangeMembership: %w", serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonChangeInProgress, "config is already joint")), true},
		{"same code, no reason", status.Error(codes.FailedPrecondition, "possible unapplied configuration change"), false},
		{"not proposed", serverpb.ReasonError(codes.Unavailable, serverpb.ReasonNotProposed, "no leader to take the request"), true},
		{"removed id", status.Error(codes.FailedPrecondition, "member 1a was removed; ids are never reused"), false},
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), false},
		{"invalid", status.Error(codes.InvalidArgument, "learner 3 is already a voter"), false},
		{"not grpc", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := busy(tt.err); got != tt.want {
			t.Errorf("%s: busy(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestMetricsCountSteps(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.step("AddLearner", stepDone)
	m.step("AddLearner", stepDone)
	m.step("PromoteLearners", stepDeferred)
	if got := testutil.ToFloat64(m.steps.WithLabelValues("AddLearner", stepDone)); got != 2 {
		t.Errorf("AddLearner done = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.steps.WithLabelValues("PromoteLearners", stepDeferred)); got != 1 {
		t.Errorf("PromoteLearners deferred = %v, want 1", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	var none *Metrics
	none.step("AddLearner", stepDone) // a reconciler without metrics counts nothing
}
