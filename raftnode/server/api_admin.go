package server

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

type adminService struct {
	serverpb.UnimplementedAdminServer
	s *Server
}

func (a *adminService) Status(ctx context.Context, _ *serverpb.StatusRequest) (*serverpb.StatusResponse, error) {
	return a.s.Status(ctx)
}

func (a *adminService) AddLearner(ctx context.Context, req *serverpb.AddLearnerRequest) (*serverpb.MembershipResponse, error) {
	m := req.GetMember()
	if m.GetId() == 0 || m.GetPeerAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "add learner: member id and peer address are required")
	}
	return a.s.changeMembership(ctx, func(c serverpb.AdminClient) (*serverpb.MembershipResponse, error) {
		return c.AddLearner(ctx, req)
	}, func() (pb.ConfChangeV2, []memberInfo, error) {
		if a.s.table.isRemoved(m.GetId()) {
			return pb.ConfChangeV2{}, nil, status.Errorf(codes.FailedPrecondition, "member %x was removed; ids are never reused", m.GetId())
		}
		cc := pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode, NodeID: m.GetId()}}}
		return cc, []memberInfo{memberFromProto(m)}, nil
	})
}

func (a *adminService) ChangeMembership(ctx context.Context, req *serverpb.ChangeMembershipRequest) (*serverpb.MembershipResponse, error) {
	if len(req.GetChanges()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "change membership: no changes (use LeaveJoint to leave a joint configuration)")
	}
	return a.s.changeMembership(ctx, func(c serverpb.AdminClient) (*serverpb.MembershipResponse, error) {
		return c.ChangeMembership(ctx, req)
	}, func() (pb.ConfChangeV2, []memberInfo, error) {
		return a.s.buildChange(req)
	})
}

func (a *adminService) LeaveJoint(ctx context.Context, req *serverpb.LeaveJointRequest) (*serverpb.MembershipResponse, error) {
	return a.s.changeMembership(ctx, func(c serverpb.AdminClient) (*serverpb.MembershipResponse, error) {
		return c.LeaveJoint(ctx, req)
	}, func() (pb.ConfChangeV2, []memberInfo, error) {
		return pb.ConfChangeV2{}, nil, nil
	})
}

// buildChange turns a ChangeMembershipRequest into one ConfChangeV2; it runs
// on the loop (it reads the table and the configuration).
func (s *Server) buildChange(req *serverpb.ChangeMembershipRequest) (pb.ConfChangeV2, []memberInfo, error) {
	cc := pb.ConfChangeV2{Transition: pb.ConfChangeTransitionJointImplicit}
	if req.GetExplicitLeave() {
		cc.Transition = pb.ConfChangeTransitionJointExplicit
	}
	var members []memberInfo
	inConfig := s.configIDs()
	for i, ch := range req.GetChanges() {
		id := ch.GetId()
		if id == 0 {
			id = ch.GetMember().GetId()
		}
		if id == 0 {
			return cc, nil, status.Errorf(codes.InvalidArgument, "change %d: no member id", i)
		}
		if m := ch.GetMember(); m != nil {
			if m.GetId() != 0 && m.GetId() != id {
				return cc, nil, status.Errorf(codes.InvalidArgument, "change %d: id %x but member %x", i, id, m.GetId())
			}
			info := memberFromProto(m)
			info.ID = id
			members = append(members, info)
		}
		var typ pb.ConfChangeType
		switch ch.GetType() {
		case serverpb.MembershipChange_TYPE_ADD_VOTER:
			typ = pb.ConfChangeAddNode
		case serverpb.MembershipChange_TYPE_ADD_LEARNER:
			typ = pb.ConfChangeAddLearnerNode
		case serverpb.MembershipChange_TYPE_REMOVE:
			typ = pb.ConfChangeRemoveNode
			if !inConfig[id] {
				return cc, nil, status.Errorf(codes.NotFound, "change %d: member %x is not in the configuration", i, id)
			}
		default:
			return cc, nil, status.Errorf(codes.InvalidArgument, "change %d: unknown change type %v", i, ch.GetType())
		}
		if typ != pb.ConfChangeRemoveNode {
			if s.table.isRemoved(id) {
				return cc, nil, status.Errorf(codes.FailedPrecondition, "change %d: member %x was removed; ids are never reused", i, id)
			}
			if _, known := s.table.Members[id]; !known && ch.GetMember() == nil {
				return cc, nil, status.Errorf(codes.NotFound, "change %d: unknown member %x (add it as a learner first, or give its metadata)", i, id)
			}
		}
		cc.Changes = append(cc.Changes, pb.ConfChangeSingle{Type: typ, NodeID: id})
	}
	return cc, members, nil
}

// changeMembership proposes the conf change build makes (on the loop) and waits
// until this member applied it. A follower forwards the request to the leader.
func (s *Server) changeMembership(ctx context.Context, forward func(serverpb.AdminClient) (*serverpb.MembershipResponse, error),
	build func() (pb.ConfChangeV2, []memberInfo, error)) (*serverpb.MembershipResponse, error) {
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	reqID, ch := s.w.register()
	defer s.w.cancel(reqID)
	var (
		err    error
		leader uint64
	)
	if lerr := s.inLoop(ctx, func() {
		if leader = s.rn.BasicStatus().Lead; leader != s.id {
			return
		}
		var cc pb.ConfChangeV2
		var members []memberInfo
		if cc, members, err = build(); err != nil {
			return
		}
		cc.Context = ccContext{Proposer: s.id, RequestID: reqID, Members: members}.encode()
		err = confChangeError(s.rn.ProposeConfChange(cc))
	}); lerr != nil {
		return nil, lerr
	}
	if leader != s.id {
		return forwardToLeader(ctx, s, leader, forward)
	}
	if err != nil {
		return nil, err
	}
	select {
	case v := <-ch:
		if e, ok := v.(error); ok {
			return nil, e
		}
		ca := v.(confApplied)
		return &serverpb.MembershipResponse{Header: s.header(), Configuration: s.configuration(ca.cs), Index: ca.index}, nil
	case <-ctx.Done():
		return nil, status.Errorf(status.FromContextError(ctx.Err()).Code(),
			"the configuration change was proposed but not applied in time; its outcome is unknown: %v", ctx.Err())
	case <-s.done:
		return nil, errStopped
	}
}

// confChangeError maps the core's refusals to gRPC codes.
func confChangeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrProposalDropped):
		return notProposed("configuration change dropped: %v", err)
	case errors.Is(err, raft.ErrConfChangePending), errors.Is(err, raft.ErrNotJoint):
		// Not joint (any more) is the state moving on too: the caller
		// reads it again and decides afresh.
		return serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonChangeInProgress, err.Error())
	case errors.Is(err, raft.ErrConfChangeRefused):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// forwardToLeader sends an admin request to the leader's client API: the
// leader alone can propose a configuration change or hand its leadership over.
func forwardToLeader[R any](ctx context.Context, s *Server, leader uint64, call func(serverpb.AdminClient) (R, error)) (R, error) {
	var zero R
	if leader == raft.None {
		return zero, notProposed("no leader to take the request")
	}
	m, ok := s.memberView(leader)
	if !ok || m.ClientAddress == "" {
		return zero, notProposed("not the leader, and the leader %x has no known client address", leader)
	}
	conn, err := grpc.NewClient(m.ClientAddress, grpc.WithTransportCredentials(s.creds.clientDial))
	if err != nil {
		return zero, notProposed("forward to leader %x at %s: %v", leader, m.ClientAddress, err)
	}
	defer conn.Close()
	resp, err := call(serverpb.NewAdminClient(conn))
	if serverpb.HasReason(err, serverpb.ReasonMemberRemoved) {
		// The leader was removed and is leaving; this member was not.
		return zero, notProposed("the leader %x was removed from the cluster and cannot take this request; retry once a new leader is elected", leader)
	}
	return resp, err
}

// TransferLeadership hands leadership to a voter and waits until it leads. A
// follower forwards the request to the leader (the core's own forwarding would
// send the message under the target's id, which the transport rightly refuses).
func (a *adminService) TransferLeadership(ctx context.Context, req *serverpb.TransferLeadershipRequest) (*serverpb.TransferLeadershipResponse, error) {
	s := a.s
	to := req.GetTo()
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	var (
		err            error
		leader         uint64
		leading, moved bool
	)
	if lerr := s.inLoop(ctx, func() {
		if !slices.Contains(s.confState.Voters, to) {
			if s.configIDs()[to] {
				err = status.Errorf(codes.InvalidArgument, "member %x is not a voter", to)
			} else {
				err = status.Errorf(codes.NotFound, "member %x is not in the configuration", to)
			}
			return
		}
		st := s.rn.BasicStatus()
		leader, leading = st.Lead, st.RaftState == raft.StateLeader
		if leading && to != s.id {
			s.rn.TransferLeader(to)
			moved = true
		}
	}); lerr != nil {
		return nil, lerr
	}
	switch {
	case err != nil:
		return nil, err
	case leader == to:
		return &serverpb.TransferLeadershipResponse{Header: s.header()}, nil
	case !leading:
		return forwardToLeader(ctx, s, leader, func(c serverpb.AdminClient) (*serverpb.TransferLeadershipResponse, error) {
			return c.TransferLeadership(ctx, req)
		})
	case !moved:
		return &serverpb.TransferLeadershipResponse{Header: s.header()}, nil
	}
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for s.leader.Load() != to {
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.Errorf(status.FromContextError(ctx.Err()).Code(), "leadership not transferred to %x in time", to)
		case <-s.done:
			return nil, errStopped
		}
		// The core gives a transfer up after an election timeout (a target
		// that did not catch up in time): say so rather than wait on.
		var abandoned bool
		if lerr := s.inLoop(ctx, func() {
			st := s.rn.BasicStatus()
			abandoned = st.RaftState == raft.StateLeader && st.LeadTransferee == raft.None
		}); lerr != nil {
			return nil, lerr
		}
		if abandoned && s.leader.Load() != to {
			return nil, status.Errorf(codes.Aborted, "the transfer to %x was abandoned: it did not catch up within an election timeout; retry", to)
		}
	}
	return &serverpb.TransferLeadershipResponse{Header: s.header()}, nil
}

func (a *adminService) Snapshot(ctx context.Context, _ *serverpb.SnapshotRequest) (*serverpb.SnapshotResponse, error) {
	ctx, cancel := a.s.requestContext(ctx)
	defer cancel()
	res := make(chan snapshotResult, 1)
	var err error
	if lerr := a.s.inLoop(ctx, func() { err = a.s.startSnapshot(res) }); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, snapshotStatus(err)
	}
	select {
	case r := <-res:
		if r.err != nil {
			return nil, status.Error(codes.Internal, r.err.Error())
		}
		return &serverpb.SnapshotResponse{Header: a.s.header(), Index: r.index}, nil
	case <-ctx.Done():
		return nil, status.Errorf(status.FromContextError(ctx.Err()).Code(), "snapshot not written in time: %v", ctx.Err())
	case <-a.s.done:
		return nil, errStopped
	}
}

// configuration describes cs with the table's metadata; loop only.
func (s *Server) configuration(cs pb.ConfState) *serverpb.Configuration {
	c := &serverpb.Configuration{
		Voters: slices.Sorted(slices.Values(cs.Voters)), OutgoingVoters: slices.Sorted(slices.Values(cs.VotersOutgoing)),
		Learners: slices.Sorted(slices.Values(cs.Learners)), LearnersNext: slices.Sorted(slices.Values(cs.LearnersNext)),
		AutoLeave: cs.AutoLeave, Removed: slices.Clone(s.table.Removed),
	}
	seen := map[uint64]bool{}
	for _, l := range [][]uint64{c.Voters, c.OutgoingVoters, c.Learners, c.LearnersNext} {
		for _, id := range l {
			if seen[id] {
				continue
			}
			seen[id] = true
			if m, ok := s.memberView(id); ok {
				c.Members = append(c.Members, m.proto())
			} else {
				c.Members = append(c.Members, &serverpb.Member{Id: id})
			}
		}
	}
	return c
}

// buildStatus runs on the loop.
func (s *Server) buildStatus() *serverpb.StatusResponse {
	st := s.rn.Status()
	resp := &serverpb.StatusResponse{
		Header:         s.header(),
		Self:           s.self().proto(),
		Role:           roleOf(st.RaftState),
		CommitIndex:    st.Commit,
		AppliedIndex:   s.store.Load().AppliedIndex(),
		Configuration:  s.configuration(s.confState),
		Removed:        s.removed.Load(),
		LeadTransferee: st.LeadTransferee,
		LastLogIndex:   st.LastIndex,
		LastLogTerm:    st.LastTerm,
	}
	resp.Header.Term = st.Term
	resp.Header.LeaderId = st.Lead
	if m, ok := s.memberView(st.Lead); ok {
		resp.Leader = m.proto()
	} else if st.Lead != raft.None {
		resp.Leader = &serverpb.Member{Id: st.Lead}
	}
	for _, id := range slices.Sorted(maps.Keys(st.Progress)) {
		pr := st.Progress[id]
		resp.Progress = append(resp.Progress, &serverpb.Progress{
			Id: id, MatchIndex: pr.Match, NextIndex: pr.Next, State: pr.State.String(),
			RecentActive: pr.RecentActive, Learner: pr.IsLearner,
		})
	}
	return resp
}

func roleOf(st raft.StateType) serverpb.Role {
	switch st {
	case raft.StateFollower:
		return serverpb.Role_ROLE_FOLLOWER
	case raft.StateCandidate:
		return serverpb.Role_ROLE_CANDIDATE
	case raft.StatePreCandidate:
		return serverpb.Role_ROLE_PRE_CANDIDATE
	case raft.StateLeader:
		return serverpb.Role_ROLE_LEADER
	}
	return serverpb.Role_ROLE_UNSPECIFIED
}
