package explore

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// bootstrapIndex is the index of the snapshot every member starts from; the
// first entry of every log follows it.
const bootstrapIndex = 1

// member is one Raft member: its core while it runs, and its disk.
type member struct {
	id uint64
	// disk holds what the member persisted: hard state and entries. It
	// survives a crash; nothing else does.
	disk *raft.MemoryStorage
	rn   *raft.RawNode
	// conf is the configuration the member applied last, or started from.
	conf pb.ConfState
	// born is the disk as the core last started from it, and inputs are what
	// the core was given since: together they rebuild the member (rebuild),
	// which is how the explorer gets a copy of a core.
	born   diskImage
	inputs []input
	// hash is the hash of the member's state (memberHash) when hashed is set.
	// Invariant: hashed is cleared whenever the member changes.
	hash   uint64
	hashed bool
}

// input is one thing a core was given, as rebuild gives it again.
type input struct {
	kind   Kind // Deliver, Campaign, Heartbeat, ProposeWrite or ProposeConfChange
	change uint8
	msg    uint32
	write  uint32 // ProposeWrite: the number of the write
}

// diskImage is a copy of what a disk holds.
type diskImage struct {
	hs   pb.HardState
	snap pb.Snapshot
	ents []pb.Entry
}

func imageOf(disk *raft.MemoryStorage) (diskImage, error) {
	hs, _, err := disk.InitialState()
	if err != nil {
		return diskImage{}, fmt.Errorf("read hard state: %w", err)
	}
	snap, err := disk.Snapshot()
	if err != nil {
		return diskImage{}, fmt.Errorf("read snapshot: %w", err)
	}
	last, err := disk.LastIndex()
	if err != nil {
		return diskImage{}, fmt.Errorf("read last index: %w", err)
	}
	var ents []pb.Entry
	if last > snap.Metadata.Index {
		if ents, err = disk.Entries(snap.Metadata.Index+1, last+1, math.MaxUint64); err != nil {
			return diskImage{}, fmt.Errorf("read entries: %w", err)
		}
	}
	// The disk never changes entries in place (Append copies on a
	// conflict), so the image may share them.
	return diskImage{hs: hs, snap: snap, ents: ents}, nil
}

// disk writes the image to a new disk.
func (d *diskImage) disk() (*raft.MemoryStorage, error) {
	ms := raft.NewMemoryStorage()
	if err := ms.ApplySnapshot(d.snap); err != nil {
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	if err := ms.Append(d.ents); err != nil {
		return nil, fmt.Errorf("restore entries: %w", err)
	}
	if err := ms.SetHardState(d.hs); err != nil {
		return nil, fmt.Errorf("restore hard state: %w", err)
	}
	return ms, nil
}

// usage is what a path has spent of its bounds.
type usage struct {
	crashes, drops, writes, confChanges, heartbeats int
}

// cluster is one state of the explored system: the members, the messages in
// flight, and what the checks remember of the path that led here.
type cluster struct {
	scn     *Scenario
	members []*member // ascending ids
	net     network
	ghost   ghost
	used    usage
	msgs    *messageTable
	// changes are the configuration changes inputs name by index: the
	// scenario's, then those of its setup.
	changes []pb.ConfChangeV2
	// setupProposals counts the setup's proposals made so far.
	setupProposals int
	// rebuilding is set while a member is rebuilt: what it sends and commits
	// was sent and checked when it happened the first time.
	rebuilding bool
}

// newCluster bootstraps the scenario's members and runs its setup.
func newCluster(scn *Scenario, msgs *messageTable) (*cluster, error) {
	if err := scn.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	c := &cluster{scn: scn, msgs: msgs, ghost: newGhost(), changes: slices.Clone(scn.ConfChanges)}
	for _, step := range scn.Setup {
		if step.action == setupPropose {
			c.changes = append(c.changes, step.change)
		}
	}
	boot := pb.Snapshot{Metadata: pb.SnapshotMetadata{
		Index: bootstrapIndex, Term: 1, ConfState: pb.ConfState{Voters: scn.Voters},
	}}
	for _, id := range slices.Sorted(slices.Values(scn.Members)) {
		m := &member{id: id, disk: raft.NewMemoryStorage()}
		if err := m.disk.ApplySnapshot(boot); err != nil {
			return nil, fmt.Errorf("bootstrap member %d: %w", id, err)
		}
		c.members = append(c.members, m)
		if err := c.start(m); err != nil {
			return nil, err
		}
	}
	for _, step := range scn.Setup {
		if err := c.setup(step); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSetup, step, err)
		}
	}
	return c, nil
}

// start starts m's core from its disk, as at boot or after a crash, and
// applies what it finds committed there. Its state machine is volatile: it is
// rebuilt from the bootstrap snapshot by applying the log again.
func (c *cluster) start(m *member) error {
	born, err := imageOf(m.disk)
	if err != nil {
		return fmt.Errorf("start member %d: %w", m.id, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              m.id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         m.disk,
		MaxSizePerMsg:   math.MaxUint64,
		MaxInflightMsgs: 256,
		PreVote:         c.scn.PreVote,
	})
	if err != nil {
		return fmt.Errorf("start member %d: %w", m.id, err)
	}
	m.rn, m.conf, m.born, m.inputs, m.hashed = rn, born.snap.Metadata.ConfState, born, nil, false
	_, err = c.handleReadys(m, false)
	return err
}

// rebuild returns a new member id in the state its core reaches when it
// starts from born and is given inputs. It changes nothing else in c.
func (c *cluster) rebuild(id uint64, born diskImage, inputs []input) (*member, error) {
	disk, err := born.disk()
	if err != nil {
		return nil, fmt.Errorf("rebuild member %d: %w", id, err)
	}
	c.rebuilding = true
	defer func() { c.rebuilding = false }()
	m := &member{id: id, disk: disk}
	if err := c.start(m); err != nil {
		return nil, err
	}
	for _, in := range inputs {
		if _, _, err := c.feed(m, in, false); err != nil {
			return nil, fmt.Errorf("rebuild member %d: %w", id, err)
		}
	}
	return m, nil
}

// savedCluster is what restore needs to bring a cluster back to the state it
// was saved in: the plain data, and how to rebuild each member.
type savedCluster struct {
	net     []uint32
	ghost   ghost
	used    usage
	members []savedMember
}

// savedMember is how to rebuild a member as it was saved, and its hash. rn is
// the core of the member object in that state, to tell whether the object in
// the cluster still is.
type savedMember struct {
	rn     *raft.RawNode
	born   diskImage
	inputs []input
	hash   uint64
	hashed bool
}

func (c *cluster) save() savedCluster {
	s := savedCluster{net: slices.Clone(c.net.ids), ghost: c.ghost.clone(), used: c.used}
	for _, m := range c.members {
		// Clipped: appends after the save must not reach into the saved
		// inputs, and cannot, as they write past its end.
		s.members = append(s.members, savedMember{rn: m.rn, born: m.born, inputs: slices.Clip(m.inputs), hash: m.hash, hashed: m.hashed})
	}
	return s
}

// restore brings c back to the state s was saved in, from a state that
// differs from it at most in member touched (0 for none), the network, the
// ghost and the bounds spent.
func (c *cluster) restore(s *savedCluster, touched uint64) error {
	c.net.ids = append(c.net.ids[:0], s.net...)
	c.ghost = s.ghost.clone()
	c.used = s.used
	for i, m := range c.members {
		sm := &s.members[i]
		// A member is changed only by a new core or a new input: a refused
		// proposal leaves it as it was.
		if m.id != touched || m.rn == sm.rn && len(m.inputs) == len(sm.inputs) {
			continue
		}
		r, err := c.rebuild(m.id, sm.born, sm.inputs)
		if err != nil {
			return err
		}
		r.hash, r.hashed = sm.hash, sm.hashed
		// The rebuilt core stands for the saved one from now on.
		sm.rn = r.rn
		c.members[i] = r
	}
	return nil
}

func (c *cluster) member(id uint64) *member {
	i, ok := slices.BinarySearchFunc(c.members, id, func(m *member, id uint64) int {
		switch {
		case m.id < id:
			return -1
		case m.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return c.members[i]
}

// feed gives m one input and handles the Readys that follow; see
// handleReadys for crashMidReady. It reports false, and changes nothing, for
// a proposal the core refuses.
func (c *cluster) feed(m *member, in input, crashMidReady bool) (accepted, crashed bool, err error) {
	switch in.kind {
	case Deliver:
		msg, err := c.msgs.message(in.msg)
		if err != nil {
			return false, false, err
		}
		// A response from a member the recipient no longer tracks is
		// refused; so is a proposal with no leader to take it. Both are
		// normal outcomes.
		if err := m.rn.Step(msg); err != nil &&
			!errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrProposalDropped) {
			return false, false, fmt.Errorf("member %d: step %s: %w", m.id, pb.DescribeMessage(msg), err)
		}
	case Campaign:
		if err := m.rn.Campaign(); err != nil {
			return false, false, fmt.Errorf("member %d: campaign: %w", m.id, err)
		}
	case Heartbeat:
		m.rn.Tick()
	case ProposeWrite:
		if m.rn.Propose(fmt.Appendf(nil, "w%d", in.write)) != nil {
			return false, false, nil
		}
	case ProposeConfChange:
		if m.rn.ProposeConfChange(c.changes[in.change]) != nil {
			return false, false, nil
		}
	default:
		return false, false, fmt.Errorf("member %d: unknown input %s", m.id, in.kind)
	}
	m.inputs, m.hashed = append(m.inputs, in), false
	crashed, err = c.handleReadys(m, crashMidReady)
	return true, crashed, err
}

// handleReadys handles m's Readys as the Ready contract asks: send
// LeaderMessages, persist, send Messages, apply, Advance. With crashMidReady,
// m crashes in the first Ready that has LeaderMessages and something to
// persist, right after sending the LeaderMessages, and restarts; handleReadys
// reports whether it did.
func (c *cluster) handleReadys(m *member, crashMidReady bool) (crashed bool, err error) {
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		c.send(rd.LeaderMessages)
		persists := len(rd.Entries) > 0 || !raft.IsEmptyHardState(rd.HardState) || !raft.IsEmptySnap(rd.Snapshot)
		if crashMidReady && persists && len(rd.LeaderMessages) > 0 {
			return true, c.start(m)
		}
		if err := c.persist(m, &rd); err != nil {
			return false, err
		}
		c.send(rd.Messages)
		if err := c.apply(m, rd.CommittedEntries); err != nil {
			return false, err
		}
		m.rn.Advance(rd)
	}
	return false, nil
}

// persist writes rd's snapshot, entries and hard state to m's disk, and
// records the entries the hard state says are committed.
func (c *cluster) persist(m *member, rd *raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := m.disk.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("member %d: persist snapshot: %w", m.id, err)
		}
		m.conf = rd.Snapshot.Metadata.ConfState
	}
	if err := m.disk.Append(rd.Entries); err != nil {
		return fmt.Errorf("member %d: persist entries: %w", m.id, err)
	}
	if raft.IsEmptyHardState(rd.HardState) {
		return nil
	}
	if err := m.disk.SetHardState(rd.HardState); err != nil {
		return fmt.Errorf("member %d: persist hard state: %w", m.id, err)
	}
	if c.rebuilding {
		return nil
	}
	log, err := m.log()
	if err != nil {
		return err
	}
	for _, e := range log {
		if e.Index > rd.HardState.Commit {
			break
		}
		if err := c.ghost.recordCommitted(m.id, e, rd.HardState.Term); err != nil {
			return err
		}
	}
	return nil
}

// apply applies committed entries to m: it records them and, for
// configuration changes, checks the configuration the core switches to.
func (c *cluster) apply(m *member, ents []pb.Entry) error {
	term := m.rn.BasicStatus().Term
	for _, e := range ents {
		if !c.rebuilding {
			if err := c.ghost.recordCommitted(m.id, e, term); err != nil {
				return err
			}
		}
		var cc pb.ConfChangeI
		switch e.Type {
		case pb.EntryConfChange:
			var v1 pb.ConfChange
			if err := v1.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("member %d: decode conf change at %d: %w", m.id, e.Index, err)
			}
			cc = v1
		case pb.EntryConfChangeV2:
			var v2 pb.ConfChangeV2
			if err := v2.Unmarshal(e.Data); err != nil {
				return fmt.Errorf("member %d: decode conf change at %d: %w", m.id, e.Index, err)
			}
			cc = v2
		default:
			continue
		}
		next := m.rn.ApplyConfChange(cc)
		if !c.rebuilding {
			if err := legalSuccessor(m.conf, next); err != nil {
				return fmt.Errorf("%w: member %d applied %s at index %d: %s -> %s: %w", ErrIllegalConfig, m.id,
					describeConfChange(cc.AsV2()), e.Index, pb.DescribeConfState(m.conf), pb.DescribeConfState(next), err)
			}
		}
		m.conf = next
	}
	return nil
}

// log returns m's persisted entries, from the first after the bootstrap
// snapshot.
func (m *member) log() ([]pb.Entry, error) {
	last, err := m.disk.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("member %d: read log: %w", m.id, err)
	}
	if last == bootstrapIndex {
		return nil, nil
	}
	ents, err := m.disk.Entries(bootstrapIndex+1, last+1, math.MaxUint64)
	if err != nil {
		return nil, fmt.Errorf("member %d: read log: %w", m.id, err)
	}
	return ents, nil
}

func (c *cluster) send(msgs []pb.Message) {
	if c.rebuilding {
		return
	}
	for i := range msgs {
		c.net.add(c.msgs.intern(&msgs[i]))
	}
}

// deliver takes one copy of message id out of the network and steps it into
// its recipient. It reports false when the message is not in flight.
func (c *cluster) deliver(id uint32, crashMidReady bool) (delivered, crashed bool, err error) {
	if !c.net.remove(id) {
		return false, false, nil
	}
	m := c.member(c.msgs.to[id])
	if m == nil {
		return false, false, fmt.Errorf("message %d is to unknown member %d", id, c.msgs.to[id])
	}
	return c.feed(m, input{kind: Deliver, msg: id}, crashMidReady)
}

// setup runs one setup step.
func (c *cluster) setup(step SetupStep) error {
	switch step.action {
	case setupCampaign, setupPropose:
		m := c.member(step.member)
		if m == nil {
			return fmt.Errorf("no member %d", step.member)
		}
		in := input{kind: Campaign}
		if step.action == setupPropose {
			in = input{kind: ProposeConfChange, change: uint8(len(c.scn.ConfChanges) + c.setupProposals)}
			c.setupProposals++
		}
		accepted, _, err := c.feed(m, in, false)
		if err == nil && !accepted {
			err = fmt.Errorf("member %d refused %s", m.id, describeConfChange(c.changes[in.change]))
		}
		return err
	case setupSettle:
		return c.settle(step.isolated)
	}
	return fmt.Errorf("unknown setup action %d", step.action)
}

// maxSettleDeliveries bounds Settle: a cluster that is not ticked goes quiet
// after a few rounds of messages, so running past it means the core loops.
const maxSettleDeliveries = 10000

func (c *cluster) settle(isolated []uint64) error {
	for range maxSettleDeliveries {
		i := slices.IndexFunc(c.net.ids, func(id uint32) bool { return !slices.Contains(isolated, c.msgs.to[id]) })
		if i < 0 {
			return nil
		}
		if _, _, err := c.deliver(c.net.ids[i], false); err != nil {
			return err
		}
	}
	return fmt.Errorf("still not settled after %d deliveries", maxSettleDeliveries)
}
