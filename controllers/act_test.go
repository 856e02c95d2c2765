package controllers

import (
	"errors"
	"fmt"
	"testing"

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
		{"change not yet applied", status.Error(codes.FailedPrecondition, "possible unapplied configuration change at index 12"), true},
		{"still joint", status.Error(codes.FailedPrecondition, "config is already joint configuration"), true},
		{"wrapped", fmt.Errorf("Admin.ChangeMembership: %w", status.Error(codes.FailedPrecondition, "unapplied configuration change")), true},
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
