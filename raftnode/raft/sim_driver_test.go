package raft_test

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// simMaxMembers bounds the members of a configuration (voters and learners).
const simMaxMembers = 7

// simParams is what a seed chooses about its run: the cluster's settings, how
// faulty the network is and how often each kind of action happens.
type simParams struct {
	voters                      int
	electionTick, heartbeatTick int
	preVote, checkQuorum        bool
	maxSizePerMsg               uint64
	maxInflight                 int
	maxInflightBytes            uint64
	maxUncommitted              uint64
	maxCommittedPerReady        uint64
	priorities                  bool
	volatileSMP                 float64
	// asyncDiskP is the chance that a Ready's write completes later, after
	// 1..diskDelay time units, rather than at once.
	asyncDiskP float64
	diskDelay  int64
	// deferReadyP is the chance that a member puts off asking for its Ready, by
	// 1..deferDelay time units.
	deferReadyP float64
	deferDelay  int64
	// asyncPersistP is the chance that a member runs with AsyncPersistence
	// (sim_async_test.go); its syncs take 1..syncDelay time units, and with
	// chance syncStallP up to 10 election timeouts more (an fsync stall). tornP
	// is the chance that a crash keeps a prefix of the writes not yet durable.
	asyncPersistP     float64
	syncDelay         int64
	syncStallP, tornP float64
	// snapEvery is how many applied entries a member waits between snapshots;
	// snapKeep is how many entries below the snapshot it keeps when compacting.
	snapEvery uint64
	snapKeep  int
	// actionP is the chance that a step is a client or fault action rather than
	// the next delivery or tick; weights are the odds of each action.
	actionP   float64
	weights   [numSimActions]int
	skipTickP float64
	// crashLeaderP is the chance that a crash hits the leader rather than a
	// random member; a crashed member is down for up to downTicks.
	crashLeaderP float64
	downTicks    int
	// stopAfter is how many ticks a removed member runs before it is stopped.
	stopAfter int64
}

func (p simParams) String() string {
	return fmt.Sprintf("params: %d voters, election %d heartbeat %d, prevote %v, checkquorum %v, maxsize %d, "+
		"inflight %d/%d bytes, uncommitted %d, committed/ready %d, priorities %v, volatile state machine %.1f, "+
		"crash leader %.1f down %d, async disk %.1f delay %d, deferred Ready %.1f delay %d, "+
		"async persistence %.1f sync delay %d stall %.2f torn %.1f, snapshot every %d keep %d, action %.2f weights %v",
		p.voters, p.electionTick, p.heartbeatTick, p.preVote, p.checkQuorum, p.maxSizePerMsg, p.maxInflight,
		p.maxInflightBytes, p.maxUncommitted, p.maxCommittedPerReady, p.priorities, p.volatileSMP,
		p.crashLeaderP, p.downTicks, p.asyncDiskP, p.diskDelay, p.deferReadyP, p.deferDelay,
		p.asyncPersistP, p.syncDelay, p.syncStallP, p.tornP, p.snapEvery, p.snapKeep, p.actionP, p.weights)
}

// The client and fault actions.
const (
	actPropose = iota
	actRead
	actConfChange
	actTransfer
	actCampaign
	actCrash
	actPartition
	actNetwork
	actUnreachable
	numSimActions
)

func pick[T any](s *sim, choices ...T) T { return choices[s.rng.IntN(len(choices))] }

// setup chooses the seed's parameters and starts the initial voters, each from a
// disk holding the snapshot a cluster is bootstrapped from.
func (s *sim) setup() {
	p := &s.params
	p.voters = 3 + s.rng.IntN(5)
	p.heartbeatTick = 1 + s.rng.IntN(2)
	p.electionTick = max(p.heartbeatTick+1, 5+s.rng.IntN(6))
	p.preVote = s.rng.IntN(2) == 0
	p.checkQuorum = s.rng.IntN(2) == 0
	p.maxSizePerMsg = pick[uint64](s, 0, 64, 256, 4096, math.MaxUint64)
	p.maxInflight = pick(s, 1, 2, 4, 256)
	if p.maxSizePerMsg != math.MaxUint64 && s.rng.IntN(2) == 0 {
		p.maxInflightBytes = max(p.maxSizePerMsg, 64) * uint64(1+s.rng.IntN(4))
	}
	p.maxUncommitted = pick[uint64](s, 0, 0, 64, 1024)
	p.maxCommittedPerReady = pick[uint64](s, 0, 0, 100, 1000)
	p.priorities = s.rng.IntN(4) == 0
	p.volatileSMP = pick(s, 0.0, 0.5, 1.0)
	p.asyncDiskP = pick(s, 0.0, 0.5, 1.0)
	p.diskDelay = pick[int64](s, 5, 50, 200)
	p.deferReadyP = pick(s, 0.0, 0.3, 0.8)
	p.deferDelay = pick[int64](s, 5, 30)
	p.snapEvery = uint64(pick(s, 3, 10, 30, 100))
	p.snapKeep = pick(s, 0, 2, 10)
	p.actionP = pick(s, 0.05, 0.1, 0.2)
	p.skipTickP = pick(s, 0.0, 0.0, 0.05)
	p.crashLeaderP = pick(s, 0.3, 0.3, 0.9)
	p.downTicks = p.electionTick * pick(s, 1, 3)
	p.stopAfter = int64(p.electionTick * (2 + s.rng.IntN(4)))
	// From arng: a seed without async members runs as before.
	p.asyncPersistP = [...]float64{0, 0, 0.5, 1}[s.arng.IntN(4)]
	p.syncDelay = [...]int64{5, 50, 200}[s.arng.IntN(3)]
	p.syncStallP = [...]float64{0, 0.01, 0.05, 0.2}[s.arng.IntN(4)]
	p.tornP = [...]float64{0, 0.3}[s.arng.IntN(2)]
	p.weights = [numSimActions]int{
		actPropose:     pick(s, 20, 40, 60),
		actRead:        pick(s, 0, 5, 15),
		actConfChange:  pick(s, 2, 6, 12),
		actTransfer:    pick(s, 0, 2, 5),
		actCampaign:    pick(s, 0, 1, 3),
		actCrash:       pick(s, 0, 2, 5, 15),
		actPartition:   pick(s, 0, 2, 5),
		actNetwork:     pick(s, 1, 3),
		actUnreachable: pick(s, 0, 1),
	}
	s.net.cut = make(map[[2]uint64]bool)
	s.randomNetwork()

	voters := make([]uint64, p.voters)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	for range voters {
		m := s.newMember()
		snap := pb.Snapshot{
			Data:     encodeStateMachine(nil),
			Metadata: pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters}},
		}
		if err := m.disk.ApplySnapshot(snap); err != nil {
			s.failf("bootstrap member %d: %v", m.id, err)
		}
		s.start(m)
		m.everInConfig = true
	}
	if s.rng.IntN(2) == 0 {
		m := s.members[s.rng.IntN(len(s.members))]
		_ = m.rn.Campaign()
		s.settle(m)
	}
}

// newMember makes a member with the next id and an empty disk. It is not
// started.
func (s *sim) newMember() *simMember {
	id := uint64(len(s.members) + 1)
	p := &s.params
	m := &simMember{
		id: id,
		cfg: raft.Config{
			ID:                        id,
			ElectionTick:              p.electionTick,
			HeartbeatTick:             p.heartbeatTick,
			MaxSizePerMsg:             p.maxSizePerMsg,
			MaxCommittedSizePerReady:  p.maxCommittedPerReady,
			MaxUncommittedEntriesSize: p.maxUncommitted,
			MaxInflightMsgs:           p.maxInflight,
			MaxInflightBytes:          p.maxInflightBytes,
			CheckQuorum:               p.checkQuorum,
			PreVote:                   p.preVote,
		},
		disk:       raft.NewMemoryStorage(),
		volatileSM: s.rng.Float64() < p.volatileSMP,
		removedAt:  -1,
	}
	if p.priorities {
		m.cfg.Priority = int64(s.rng.IntN(3))
	}
	if p.asyncPersistP > 0 && s.arng.Float64() < p.asyncPersistP {
		m.cfg.AsyncPersistence = true
		s.stats.asyncMembers++
	}
	s.members = append(s.members, m)
	return m
}

// randomNetwork draws new network conditions.
func (s *sim) randomNetwork() {
	n := &s.net
	n.dropP = pick(s, 0.0, 0.0, 0.01, 0.05, 0.2)
	n.dupP = pick(s, 0.0, 0.0, 0.01, 0.05)
	n.minDelay = pick[int64](s, 0, 1, 10)
	n.maxDelay = n.minDelay + pick[int64](s, 5, 30, 100, 300)
	n.longP = pick(s, 0.0, 0.0, 0.01, 0.05)
	n.longDelay = int64(s.params.electionTick) * simTickUnits * pick[int64](s, 1, 3)
	s.tracef("network: drop %.2f dup %.2f delay [%d, %d] long %.2f up to %d",
		n.dropP, n.dupP, n.minDelay, n.maxDelay, n.longP, n.longDelay)
}

// act performs one random client or fault action.
func (s *sim) act() {
	total := 0
	for _, w := range s.params.weights {
		total += w
	}
	r := s.rng.IntN(total)
	a := 0
	for ; r >= s.params.weights[a]; a++ {
		r -= s.params.weights[a]
	}
	s.digest.Write([]byte{'a', byte(a)})
	switch a {
	case actPropose:
		s.propose()
	case actRead:
		s.readIndex()
	case actConfChange:
		s.changeConf()
	case actTransfer:
		s.transfer()
	case actCampaign:
		if m := s.randomRunning(); m != nil {
			s.stats.campaigns++
			s.tracef("member %d campaigns", m.id)
			_ = m.rn.Campaign()
			s.settle(m)
		}
	case actCrash:
		s.armCrash()
	case actPartition:
		s.partition()
	case actNetwork:
		s.randomNetwork()
	case actUnreachable:
		// A transport may report a peer unreachable when it is not.
		if m := s.randomRunning(); m != nil {
			m.rn.ReportUnreachable(uint64(1 + s.rng.IntN(len(s.members))))
			s.settle(m)
		}
	}
}

// propose proposes a unique payload at a random member; a follower forwards it.
func (s *sim) propose() {
	m := s.randomRunning()
	if m == nil {
		return
	}
	s.proposals++
	s.stats.proposals++
	data := []byte("p" + strconv.Itoa(s.proposals))
	err := m.rn.Propose(data)
	s.tracef("member %d proposes %s: %v", m.id, data, err)
	s.settle(m)
}

// readIndex requests a linearizable read at a random member.
func (s *sim) readIndex() {
	m := s.randomRunning()
	if m == nil {
		return
	}
	s.reads++
	s.stats.reads++
	ctx := "r" + strconv.Itoa(s.reads)
	s.chk.readRequested(ctx)
	s.tracef("member %d reads %s", m.id, ctx)
	m.rn.ReadIndex([]byte(ctx))
	s.settle(m)
}

// transfer asks a random member to hand leadership to a random member of the
// configuration.
func (s *sim) transfer() {
	m, lead := s.randomRunning(), s.leader()
	if m == nil || lead == nil {
		return
	}
	ids := configIDs(lead.rn.Status().Config)
	to := ids[s.rng.IntN(len(ids))]
	s.stats.transfers++
	s.tracef("member %d asks to transfer leadership to %d", m.id, to)
	m.rn.TransferLeader(to)
	s.settle(m)
}

// armCrash arms a crash of the leader or of a random member at a random point of
// its next Ready, or crashes it now.
func (s *sim) armCrash() {
	m := s.randomRunning()
	if l := s.leader(); l != nil && s.rng.Float64() < s.params.crashLeaderP {
		m = l
	}
	if m == nil {
		return
	}
	p := simCrashPoint(s.rng.IntN(int(numCrashPoints)))
	if p == crashNone {
		s.crashNow(m, p)
		return
	}
	m.crash = p
	m.crashApplyAt = s.rng.IntN(4)
	s.tracef("member %d will crash %s", m.id, p)
}

// partition changes which links are cut: heal everything, isolate the leader,
// split the members in two, cut random links one way, or isolate a member one
// way.
func (s *sim) partition() {
	s.stats.partitions++
	clear(s.net.cut)
	ids := make([]uint64, 0, len(s.members))
	for _, m := range s.members {
		if !m.stopped {
			ids = append(ids, m.id)
		}
	}
	cutBoth := func(a, b uint64) {
		s.net.cut[[2]uint64{a, b}] = true
		s.net.cut[[2]uint64{b, a}] = true
	}
	switch kind := s.rng.IntN(6); kind {
	case 0:
		s.tracef("partition: healed")
	case 1:
		l := s.leader()
		if l == nil {
			return
		}
		for _, id := range ids {
			if id != l.id {
				cutBoth(l.id, id)
			}
		}
		s.tracef("partition: leader %d isolated", l.id)
	case 2:
		side := make(map[uint64]bool)
		for _, id := range ids {
			side[id] = s.rng.IntN(2) == 0
		}
		for _, a := range ids {
			for _, b := range ids {
				if side[a] && !side[b] {
					cutBoth(a, b)
				}
			}
		}
		s.tracef("partition: split %v", side)
	case 3:
		for _, a := range ids {
			for _, b := range ids {
				if a != b && s.rng.IntN(4) == 0 {
					s.net.cut[[2]uint64{a, b}] = true
				}
			}
		}
		s.tracef("partition: random one-way cuts")
	default:
		x := ids[s.rng.IntN(len(ids))]
		out := kind == 4
		for _, id := range ids {
			if id == x {
				continue
			}
			if out {
				s.net.cut[[2]uint64{x, id}] = true
			} else {
				s.net.cut[[2]uint64{id, x}] = true
			}
		}
		s.tracef("partition: member %d cannot send: %v (or receive: %v)", x, out, !out)
	}
}

// configIDs returns every member of cfg: voters of both halves and learners
// (now and next), sorted.
func configIDs(cfg tracker.Config) []uint64 {
	var ids []uint64
	for _, set := range []map[uint64]struct{}{cfg.Voters[0], cfg.Voters[1], cfg.Learners, cfg.LearnersNext} {
		for id := range set {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(set map[uint64]struct{}) []uint64 {
	ids := make([]uint64, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// reapRemoved stops removed members, as an operator does once it has seen their
// removal committed: when the leader, itself a voter of the configuration it
// applied, no longer has them, and then a while later (stopAfter), leader or not.
// A removed leader is no witness: the voters may not know yet that the change
// committed, and need it until they do. A member made for a change that never
// made it into the log stays idle: without a configuration it never campaigns.
func (s *sim) reapRemoved() {
	if l := s.leader(); l != nil {
		cfg := l.rn.Status().Config
		if _, voter := cfg.Voters[0][l.id]; voter {
			ids := configIDs(cfg)
			for _, m := range s.members {
				switch {
				case slices.Contains(ids, m.id):
					m.everInConfig, m.removedAt = true, -1
				case m.everInConfig && m.removedAt < 0:
					m.removedAt = s.tick
				}
			}
		}
	}
	for _, m := range s.members {
		if !m.stopped && m.removedAt >= 0 && s.tick-m.removedAt > s.params.stopAfter {
			s.stop(m)
		}
	}
}

// committedConfig returns the members of the newest configuration known to be
// committed: the one applied at the highest index by a running member. An
// operator learns it from the leader, or remembers it when there is none.
func (s *sim) committedConfig() []uint64 {
	var newest *simMember
	for _, m := range s.members {
		if m.rn != nil && (newest == nil || m.sm.applied > newest.sm.applied) {
			newest = m
		}
	}
	if newest == nil {
		return nil
	}
	cs := &newest.sm.conf
	var ids []uint64
	for _, set := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		for _, id := range set {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// changeConf proposes a random membership change, built from the leader's
// configuration: add a learner or a voter, promote, demote, remove, replace a
// voter, update one (a no-op for the core), or several at once, as ConfChange or ConfChangeV2 with any transition.
// A joint configuration entered with explicit leave is left by proposing the
// empty ConfChangeV2. Stopped members still in the configuration are removed
// first.
func (s *sim) changeConf() {
	l := s.leader()
	if l == nil {
		return
	}
	cfg := l.rn.Status().Config
	at := l
	if m := s.randomRunning(); s.rng.IntN(2) == 0 && m != nil {
		at = m // a follower forwards it
	}
	if cfg.IsJoint() {
		if !cfg.AutoLeave || s.rng.IntN(5) == 0 {
			s.proposeConfChange(at, pb.ConfChangeV2{}, nil)
		}
		return
	}
	voters, learners := sortedIDs(cfg.Voters[0]), sortedIDs(cfg.Learners)
	for _, id := range append(slices.Clone(voters), learners...) {
		if s.member(id).stopped {
			s.proposeConfChange(l, pb.ConfChange{Type: pb.ConfChangeRemoveNode, NodeID: id}, nil)
			return
		}
	}
	n := len(voters) + len(learners)
	var ccs []pb.ConfChangeSingle
	var fresh []*simMember
	used := map[uint64]bool{}
	add := func(t pb.ConfChangeType, id uint64) {
		ccs = append(ccs, pb.ConfChangeSingle{Type: t, NodeID: id})
		used[id] = true
	}
	addNew := func(t pb.ConfChangeType) {
		m := s.newMember()
		fresh = append(fresh, m)
		add(t, m.id)
		n++
	}
	unused := func(ids []uint64) []uint64 {
		var out []uint64
		for _, id := range ids {
			if !used[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for range 1 + s.rng.IntN(3)*s.rng.IntN(2) {
		vs, ls := unused(voters), unused(learners)
		switch op := s.rng.IntN(8); {
		case op == 0 && n < simMaxMembers:
			addNew(pb.ConfChangeAddLearnerNode)
		case op == 1 && n < simMaxMembers:
			addNew(pb.ConfChangeAddNode)
		case op == 2 && len(ls) > 0:
			add(pb.ConfChangeAddNode, pick(s, ls...))
			at = l // promote only what the leader knows to be a learner now
		case op == 3 && len(vs) > 1:
			add(pb.ConfChangeAddLearnerNode, pick(s, vs...))
		case op == 4 && len(vs) > 1:
			add(pb.ConfChangeRemoveNode, pick(s, vs...))
		case op == 5 && len(ls) > 0:
			add(pb.ConfChangeRemoveNode, pick(s, ls...))
		case op == 6 && len(vs) > 0 && n < simMaxMembers:
			add(pb.ConfChangeRemoveNode, pick(s, vs...))
			addNew(pb.ConfChangeAddNode)
		case op == 7 && len(vs) > 0:
			add(pb.ConfChangeUpdateNode, pick(s, vs...)) // metadata only
		}
	}
	if len(ccs) == 0 {
		return
	}
	if len(fresh) > 0 {
		at = l // new members are added at the leader, so their ids are not lost in flight
	}
	var cc pb.ConfChangeI
	if len(ccs) == 1 && s.rng.IntN(3) == 0 {
		cc = pb.ConfChange{Type: ccs[0].Type, NodeID: ccs[0].NodeID}
	} else {
		cc = pb.ConfChangeV2{Changes: ccs, Transition: pick(s, pb.ConfChangeTransitionAuto,
			pb.ConfChangeTransitionJointImplicit, pb.ConfChangeTransitionJointExplicit)}
	}
	s.proposeConfChange(at, cc, fresh)
}

// proposeConfChange proposes cc at m. The members in fresh were made for it:
// they start now, or are dropped unstarted if the leader refuses the change.
func (s *sim) proposeConfChange(m *simMember, cc pb.ConfChangeI, fresh []*simMember) {
	s.stats.confChanges++
	for _, f := range fresh {
		s.start(f)
	}
	err := m.rn.ProposeConfChange(cc)
	s.tracef("member %d proposes conf change %+v: %v", m.id, cc.AsV2(), err)
	if err != nil {
		for _, f := range fresh {
			s.stop(f)
		}
	}
	s.settle(m)
}

// converge stops the faults and gives the cluster a bounded time to elect a
// leader, commit one last proposal and bring every member of its configuration
// to the same applied state. Liveness, not safety: the invariants are still
// checked all along.
func (s *sim) converge() {
	clear(s.net.cut)
	s.net = simNet{queue: s.net.queue, seq: s.net.seq, cut: s.net.cut, minDelay: 1, maxDelay: 20}
	for _, m := range s.members {
		m.crash = crashNone
		if m.down && !m.stopped {
			s.start(m)
			s.stats.restarts++
		}
	}
	s.final = []byte("final-" + strconv.FormatUint(s.seed, 10))
	start := s.tick
	// Generous: with one message in flight, one entry per message and slow disks
	// a backlog of proposals takes a while to drain. A cluster that is stuck
	// stays stuck, however long it is given.
	deadline := start + int64(200*s.params.electionTick)
	var proposed int64 = -1
	for lastTick := s.tick; s.tick < deadline; s.step++ {
		s.advance()
		s.checkStep()
		s.stats.convergeSteps++
		if s.tick == lastTick {
			continue
		}
		lastTick = s.tick
		s.restartNeeded()
		l := s.leader()
		if l == nil {
			continue
		}
		cfg := l.rn.Status().Config
		ids := configIDs(cfg)
		if cfg.IsJoint() && !cfg.AutoLeave && s.tick%int64(s.params.electionTick) == 0 {
			_ = l.rn.ProposeConfChange(pb.ConfChangeV2{})
			s.settle(l)
		}
		if s.finalIndex == 0 && (proposed < 0 || s.tick-proposed > int64(2*s.params.electionTick)) {
			proposed = s.tick
			_ = l.rn.Propose(s.final)
			s.settle(l)
		}
		if s.converged(ids) {
			return
		}
	}
	var states []string
	for _, m := range s.members {
		st := "not running"
		if m.rn != nil {
			st = m.rn.Status().String()
		}
		states = append(states, fmt.Sprintf("%s: %s", m, st))
	}
	if l := s.leader(); l != nil {
		states = append(states, fmt.Sprintf("progress at leader %d:\n%s", l.id,
			tracker.ProgressMap(progressPtrs(l.rn.Status().Progress)).String()))
	}
	s.failf("liveness: no agreement %d ticks after the faults stopped (final proposal at %d):\n%s",
		s.tick-start, s.finalIndex, joinLines(states))
}

// restartNeeded restarts stopped members that the committed configuration has.
// That happens when a change races with a removal (a promotion proposed before
// the member was removed, say): the member is needed after all, and is brought
// back from its disk.
//
// It also restarts stopped members that a running voter's own configuration
// counts as voters: a member with AsyncPersistence that crashed before the
// commit index covering its removal of them was synced restarts in the older
// configuration (the commit index is not synced on its own, raft.MustSync),
// and if it is the only voter left, or its priority keeps it from voting for
// one who knows better, only the removed members can elect a leader.
func (s *sim) restartNeeded() {
	need := s.committedConfig()
	for _, m := range s.members {
		if m.rn == nil {
			continue
		}
		cfg := m.rn.Status().Config
		if _, in := cfg.Voters[0][m.id]; !in {
			if _, in := cfg.Voters[1][m.id]; !in {
				continue
			}
		}
		need = append(need, sortedIDs(cfg.Voters[0])...)
		need = append(need, sortedIDs(cfg.Voters[1])...)
	}
	for _, id := range need {
		if m := s.member(id); m != nil && m.stopped {
			s.tracef("member %d is in the committed configuration or a voter's again: restarting it", id)
			m.stopped = false
			m.removedAt = -1
			s.start(m)
			s.stats.restarts++
		}
	}
}

// converged reports whether the final proposal committed and every member of
// the configuration applied the same entries up to the same index. A member
// whose state machine disagrees fails the run.
func (s *sim) converged(ids []uint64) bool {
	if s.finalIndex == 0 {
		return false
	}
	var ref *simMember
	for _, id := range ids {
		m := s.member(id)
		if m.rn == nil || m.sm.applied < s.finalIndex {
			return false
		}
		if ref != nil && m.sm.applied != ref.sm.applied {
			return false
		}
		ref = m
	}
	for _, id := range ids {
		m := s.member(id)
		if len(m.sm.list) != len(ref.sm.list) {
			s.failf("member %d applied %d entries up to %d, member %d %d", m.id, len(m.sm.list), m.sm.applied,
				ref.id, len(ref.sm.list))
		}
		for i := range m.sm.list {
			a, b := &m.sm.list[i], &ref.sm.list[i]
			if a.Index != b.Index || a.Term != b.Term || a.Type != b.Type || string(a.Data) != string(b.Data) {
				s.failf("member %d applied %s, member %d %s", m.id, describeSimEntry(a), ref.id, describeSimEntry(b))
			}
		}
	}
	s.stats.committed = s.finalIndex
	return true
}

func progressPtrs(prs map[uint64]tracker.Progress) map[uint64]*tracker.Progress {
	out := make(map[uint64]*tracker.Progress, len(prs))
	for id, pr := range prs {
		out[id] = &pr
	}
	return out
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
