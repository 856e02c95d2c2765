package rafttest

import (
	"math"
	"strings"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// handleRaftLog: raft-log ID. It reads the storage, so it works on a member
// that is down too.
func handleRaftLog(env *InteractionEnv, td *datadriven.TestData) error {
	id, err := positionalUint(td, 0)
	if err != nil {
		return err
	}
	m, err := env.member(id)
	if err != nil {
		return err
	}
	env.printRaftLog(m)
	return nil
}

// printRaftLog prints m's stored snapshot and log entries.
func (env *InteractionEnv) printRaftLog(m *member) {
	fi, _ := m.storage.FirstIndex()
	li, _ := m.storage.LastIndex()
	if snap, _ := m.storage.Snapshot(); !raft.IsEmptySnap(snap) {
		env.printf("snapshot %s\n", pb.DescribeSnapshot(snap))
	}
	if li < fi {
		env.printf("log is empty: first index=%d, last index=%d\n", fi, li)
		return
	}
	ents, err := m.storage.Entries(fi, li+1, math.MaxUint64)
	if err != nil {
		env.printf("read log: %v\n", err)
		return
	}
	for _, e := range ents {
		env.printf("%s\n", pb.DescribeEntry(e))
	}
}

// handleRaftState: raft-state.
func handleRaftState(env *InteractionEnv, _ *datadriven.TestData) error {
	for _, m := range env.members {
		isolated := ""
		if env.isolated[m.id] {
			isolated = " (isolated)"
		}
		if m.down() {
			env.printf("%d: down%s\n", m.id, isolated)
			continue
		}
		st := m.rn.Status()
		membership := "Non-Member"
		if _, ok := st.Config.Voters.IDs()[m.id]; ok {
			membership = "Voter"
		} else if _, ok := st.Config.Learners[m.id]; ok {
			membership = "Learner"
		}
		env.printf("%d: %s (%s) Term:%d Lead:%d Commit:%d %s%s\n",
			m.id, st.RaftState, membership, st.Term, st.Lead, st.Commit, st.Config.String(), isolated)
	}
	return nil
}

// handleStatus: status ID.
func handleStatus(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	st := m.rn.Status()
	env.printf("%s Term:%d Lead:%d Commit:%d Applied:%d %s", st.RaftState, st.Term, st.Lead, st.Commit, st.Applied, st.Config.String())
	if st.LeadTransferee != raft.None {
		env.printf(" LeadTransferee:%d", st.LeadTransferee)
	}
	env.printf("\n")
	if st.Progress != nil {
		prs := make(tracker.ProgressMap, len(st.Progress))
		for id, pr := range st.Progress {
			prs[id] = &pr
		}
		env.printf("progress:\n%s", prs.String())
	}
	return nil
}

// handleStateMachine: state-machine ID.
func handleStateMachine(env *InteractionEnv, td *datadriven.TestData) error {
	m, err := env.firstRunning(td)
	if err != nil {
		return err
	}
	var vals []string
	for _, d := range m.stateMachine {
		vals = append(vals, d.data)
	}
	env.printf("%d: applied=%d data=[%s]\n", m.id, m.rn.BasicStatus().Applied, strings.Join(vals, " "))
	return nil
}
