package linearizability

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
)

// TestSend checks how Send classifies what the client returns: answers are
// completed, writes that may have been applied have an unknown outcome, and
// only what provably had no effect is not applied.
func TestSend(t *testing.T) {
	put := Input{Kind: OpPut, Key: "k", Value: "v"}
	get := Input{Kind: OpGet, Key: "k"}
	tests := []struct {
		name       string
		setup      func(m *clienttest.Member)
		in         Input
		want       Outcome
		unexpected bool
	}{
		{name: "put answered", in: put, want: Completed},
		{name: "get answered", in: get, want: Completed},
		{
			name: "put proposed, then the member stops",
			setup: func(m *clienttest.Member) {
				m.Fail("Put", status.Error(codes.Unavailable, "member is shutting down; the write's outcome is unknown"))
			},
			in: put, want: Unknown,
		},
		{
			name:  "put unanswered in time",
			setup: func(m *clienttest.Member) { m.Hang("Put", true) },
			in:    put, want: Unknown,
		},
		{
			name: "put dropped by raft",
			setup: func(m *clienttest.Member) {
				m.Fail("Put", clienttest.NotProposedError())
			},
			in: put, want: NotApplied,
		},
		{
			name:  "put refused",
			setup: func(m *clienttest.Member) { m.Fail("Put", status.Error(codes.FailedPrecondition, "not now")) },
			in:    put, want: NotApplied,
		},
		{
			name:  "put invalid",
			setup: func(m *clienttest.Member) { m.Fail("Put", status.Error(codes.InvalidArgument, "bad")) },
			in:    put, want: NotApplied, unexpected: true,
		},
		{
			name:  "put never sent",
			setup: func(m *clienttest.Member) { m.Stop() },
			in:    put, want: NotApplied,
		},
		{
			name:  "get failed",
			setup: func(m *clienttest.Member) { m.Fail("Get", status.Error(codes.Unavailable, "no leader")) },
			in:    get, want: NotApplied,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := clienttest.Start(t, 1)
			cl, err := client.New(context.Background(), client.Config{
				Endpoints: fake.Endpoints(), DialTimeout: time.Second, MaxReadAttempts: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if tt.setup != nil {
				tt.setup(fake.Members[0])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			out, outcome, err := Send(ctx, cl, tt.in)
			if outcome != tt.want || errors.Is(err, ErrUnexpected) != tt.unexpected {
				t.Fatalf("Do = %+v, %v, %v; want %v (unexpected: %v)", out, outcome, err, tt.want, tt.unexpected)
			}
			if outcome == Unknown && out != (Output{Unknown: true}) {
				t.Errorf("unknown outcome with output %+v", out)
			}
			if outcome == Completed && tt.in.Kind == OpPut && (!out.Succeeded || out.ModIndex == 0 || out.AppliedIndex != out.ModIndex) {
				t.Errorf("put answered as %+v", out)
			}
		})
	}
}
