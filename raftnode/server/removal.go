package server

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"

	"github.com/raftkube/raftkube/raftnode/raft"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// A member usually learns it was removed by applying the change that removes
// it. Some never can: a learner is not in the joint configuration's outgoing
// half, so the leader stops replicating to it the moment the change is
// appended; a voter removed without a joint phase may hold the entry but never
// hear that it committed. Such a member would serve stale reads forever.
//
// So a member that is neither leader nor removed, and has heard nothing from a
// leader for silentElectionTimeouts election timeouts, asks the other members
// it knows for their Status: an id in a Configuration's removed list was
// removed by a committed change (and ids are never reused), so a member that
// finds itself there is removed for good.
const silentElectionTimeouts = 3

// maybeProbeRemoval runs on every tick, on the loop.
func (s *Server) maybeProbeRemoval(ctx context.Context) {
	if s.removed.Load() || !s.wasMember || s.probingRemoval || s.rn.BasicStatus().RaftState == raft.StateLeader {
		s.silentTicks = 0
		return
	}
	if s.silentTicks++; s.silentTicks < silentElectionTimeouts*s.cfg.ElectionTicks {
		return
	}
	s.silentTicks = 0
	var addrs []string
	for id, m := range s.table.Members {
		if id != s.id && m.ClientAddress != "" && !s.table.isRemoved(id) {
			addrs = append(addrs, m.ClientAddress)
		}
	}
	if len(addrs) == 0 {
		return
	}
	slices.Sort(addrs)
	s.probingRemoval = true
	s.probes.Add(1)
	go func() {
		defer s.probes.Done()
		by := s.askRemoved(ctx, addrs)
		_ = s.inLoop(ctx, func() {
			s.probingRemoval = false
			if by != "" && !s.removed.Load() {
				s.log.Warn("this member was removed from the cluster; it missed the change and learned it from another member",
					"member", fmt.Sprintf("%x", s.id), "told_by", by)
				s.outcast = true
				if err := s.markRemoved(); err != nil {
					s.log.Error("record removal", "err", err)
				}
			}
		})
	}()
}

// askRemoved returns the address of the first member whose configuration lists
// this member as removed, or "" when none does.
func (s *Server) askRemoved(ctx context.Context, addrs []string) string {
	cid := s.clusterID.Load()
	for _, addr := range addrs {
		if s.statusSaysRemoved(ctx, addr, cid) {
			return addr
		}
	}
	return ""
}

func (s *Server) statusSaysRemoved(ctx context.Context, addr string, cid uint64) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(s.creds.clientDial))
	if err != nil {
		return false
	}
	defer cc.Close()
	st, err := serverpb.NewAdminClient(cc).Status(ctx, &serverpb.StatusRequest{})
	if err != nil {
		s.log.Debug("removal probe", "addr", addr, "err", err)
		return false
	}
	return st.GetHeader().GetClusterId() == cid && slices.Contains(st.GetConfiguration().GetRemoved(), s.id)
}
