package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// ForceNewCluster makes this member the only voter of a new configuration
// (see raft.RawNode.ForceNewConfiguration and the RPC's documentation): the
// forced change is appended and committed on the loop, written synchronously,
// applied (the other members are recorded as removed), and the member
// campaigns at once. It answers once this member leads.
func (a *adminService) ForceNewCluster(ctx context.Context, req *serverpb.ForceNewClusterRequest) (*serverpb.MembershipResponse, error) {
	s := a.s
	if !req.GetConfirm() {
		return nil, status.Error(codes.InvalidArgument,
			"force new cluster: confirm is required; the other members of the configuration are dropped for good")
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	reqID, ch := s.w.register()
	defer s.w.cancel(reqID)
	var err error
	if lerr := s.inLoop(ctx, func() { err = s.forceNewCluster(reqID) }); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, err
	}
	var ca confApplied
	select {
	case v := <-ch:
		ca = v.(confApplied)
	case <-ctx.Done():
		return nil, status.Errorf(status.FromContextError(ctx.Err()).Code(),
			"the forced configuration was committed but not applied in time: %v", ctx.Err())
	case <-s.done:
		return nil, errStopped
	}
	if err := s.waitLeading(ctx); err != nil {
		return nil, err
	}
	var cfg *serverpb.Configuration
	if lerr := s.inLoop(ctx, func() { cfg = s.configuration(s.confState) }); lerr != nil {
		return nil, lerr
	}
	return &serverpb.MembershipResponse{Header: s.header(), Configuration: cfg, Index: ca.index}, nil
}

// forceNewCluster appends the forced configuration; loop only.
func (s *Server) forceNewCluster(reqID uint64) error {
	cctx := ccContext{Proposer: s.id, RequestID: reqID}.encode()
	index, err := s.rn.ForceNewConfiguration(cctx)
	switch {
	case errors.Is(err, raft.ErrHasLeader):
		lead := s.rn.BasicStatus().Lead
		return serverpb.ReasonErrorWithMetadata(codes.FailedPrecondition, serverpb.ReasonHasLeader,
			fmt.Sprintf("force new cluster refused: member %x knows the leader %x, so a quorum is there", s.id, lead),
			map[string]string{serverpb.MetadataLeaderID: fmt.Sprintf("%x", lead)})
	case errors.Is(err, raft.ErrNotVoter):
		return serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonNotVoter,
			fmt.Sprintf("force new cluster refused: %v", err))
	case err != nil:
		return status.Errorf(codes.Internal, "force new cluster: %v", err)
	}
	s.log.Warn("forcing a new configuration with this member as the only voter (ForceNewCluster)",
		"member", fmt.Sprintf("%x", s.id), "index", index, "voters_before", s.confState.Voters,
		"outgoing_before", s.confState.VotersOutgoing, "learners_before", s.confState.Learners)
	s.forceIndex, s.syncNow = index, true
	return nil
}

// waitLeading waits until this member leads.
func (s *Server) waitLeading(ctx context.Context) error {
	for {
		changed := s.changes.next() // before the look: no change is missed
		if s.leader.Load() == s.id {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.Errorf(status.FromContextError(ctx.Err()).Code(),
				"the forced configuration is applied, but this member was not elected in time: %v", ctx.Err())
		case <-s.done:
			return errStopped
		}
	}
}
