package raft

import (
	"fmt"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// ForceNewConfiguration is the way out when a majority of the voters is lost
// for good (their disks are gone): no leader can be elected, and no change
// can be committed the normal way. Like etcd's --force-new-cluster, it makes
// this member the only voter of a new configuration, keeping its log:
//
//   - it appends, at the end of its log and in its current term, one
//     ConfChangeV2 with ConfChangeTransitionForce that names this member
//     alone (context is the change's Context);
//   - it commits its whole log at once, on its own authority: the entries it
//     holds beyond its commit index may have been committed by the lost
//     majority (and acknowledged to clients), so they are kept, not dropped.
//
// The caller persists and applies the entry like any other (Ready, then
// ApplyConfChange, which installs the one-voter configuration whatever the
// configuration before it was), then campaigns: alone, it is elected at once.
// It returns the entry's index.
//
// This breaks Raft's safety on purpose: were the old majority still alive, it
// could commit other entries at the same indexes. So it is refused with
// ErrHasLeader while this member knows a leader, and with ErrNotVoter unless
// it is a voter of the incoming half of its configuration (a learner, or a
// voter being removed, may lack committed entries). The caller must make sure
// the old members never talk to it again as members: they are not in the new
// configuration, and their messages must be dropped.
func (rn *RawNode) ForceNewConfiguration(context []byte) (uint64, error) {
	r := rn.raft
	if r.lead != None {
		return 0, fmt.Errorf("%w: %x", ErrHasLeader, r.lead)
	}
	if _, ok := r.trk.Config.Voters[0][r.id]; !ok {
		return 0, fmt.Errorf("%w: %x is not in the incoming voters of %s", ErrNotVoter, r.id, r.trk.Config.String())
	}
	cc := pb.ConfChangeV2{Transition: pb.ConfChangeTransitionForce,
		Changes: []pb.ConfChangeSingle{{Type: pb.ConfChangeAddNode, NodeID: r.id}}, Context: context}
	e, err := confChangeToEntry(cc)
	if err != nil {
		return 0, err
	}
	// The current term is at least the last entry's, so the log stays ordered
	// by term; the election that follows moves on to a new term.
	e.Term, e.Index = r.Term, r.raftLog.lastIndex()+1
	r.raftLog.append(e)
	r.raftLog.commitTo(e.Index)
	r.logger.Warningf("%x forced a new configuration with itself as the only voter at index %d term %d, committing its whole log",
		r.id, e.Index, e.Term)
	return e.Index, nil
}

// forcedConfState is the configuration a forced change installs: the voters
// its ConfChangeAddNode changes name, nothing else.
func forcedConfState(cc pb.ConfChangeV2) pb.ConfState {
	var cs pb.ConfState
	for _, c := range cc.Changes {
		if c.Type == pb.ConfChangeAddNode {
			cs.Voters = append(cs.Voters, c.NodeID)
		}
	}
	return cs
}
