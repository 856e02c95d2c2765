package explore

import (
	"fmt"
	"slices"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// moves returns the transitions enabled in c, in a fixed order: for each
// member its own transitions, then each distinct message in flight delivered
// and dropped. Over MaxInFlight only deliveries and drops are enabled. An
// event that makes a member handle a Ready is also offered with a crash in the
// middle of that Ready while crashes are left; do refuses the variant when no
// Ready offered the window.
func (c *cluster) moves() []move {
	b := &c.scn.Bounds
	canCrash := c.used.crashes < b.MaxCrashes
	var out []move
	add := func(mv move) { out = append(out, mv) }
	// addWithCrash adds mv and, while crashes are left, its variant that
	// crashes mid-Ready. Only a leader's Ready, or that of a candidate about
	// to lead, has LeaderMessages to send before it persists; for other
	// members the variant would always be refused.
	addWithCrash := func(mv move, role raft.StateType) {
		out = append(out, mv)
		if canCrash && (role == raft.StateLeader || role == raft.StateCandidate) {
			mv.crashMidReady = true
			out = append(out, mv)
		}
	}
	roles := make(map[uint64]raft.StateType, len(c.members))
	busy := len(c.net.ids) > b.MaxInFlight
	for _, m := range c.members {
		st := m.rn.BasicStatus()
		roles[m.id] = st.RaftState
		if busy {
			continue
		}
		id := uint32(m.id)
		switch {
		case st.RaftState == raft.StateLeader:
			if c.used.writes < b.MaxWrites {
				addWithCrash(move{kind: ProposeWrite, member: id}, st.RaftState)
			}
			if c.used.confChanges < b.MaxConfChanges {
				for i := range c.scn.ConfChanges {
					addWithCrash(move{kind: ProposeConfChange, member: id, change: uint8(i)}, st.RaftState)
				}
			}
			if c.used.heartbeats < b.MaxHeartbeats {
				add(move{kind: Heartbeat, member: id})
			}
		case st.Term < b.MaxTerm && isVoter(m.conf, m.id):
			add(move{kind: Campaign, member: id})
		}
		if canCrash {
			add(move{kind: Crash, member: id})
		}
	}
	// For the invariants an undelivered message is as good as a dropped one:
	// a state with the message still in flight has every future the state
	// without it has, except where the message counts against MaxInFlight.
	// So drops are offered only over MaxInFlight, to let members act again.
	canDrop := busy && c.used.drops < b.MaxDrops
	for _, id := range c.net.distinct() {
		addWithCrash(move{kind: Deliver, msg: id}, roles[c.msgs.to[id]])
		if canDrop {
			add(move{kind: Drop, msg: id})
		}
	}
	return out
}

// isVoter reports whether id votes in cs (in either half).
func isVoter(cs pb.ConfState, id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.VotersOutgoing, id)
}

// do makes transition mv and reports whether it was taken: a proposal the core
// refuses, or a crash in the middle of a Ready that offered no window for it,
// changes nothing worth exploring and is not taken. Errors are invariant
// violations found while members applied entries, or faults of the core.
func (c *cluster) do(mv move) (taken bool, err error) {
	var crashed bool
	switch mv.kind {
	case Deliver:
		taken, crashed, err = c.deliver(mv.msg, mv.crashMidReady)
	case Drop:
		taken = c.net.remove(mv.msg)
		c.used.drops++
	case Crash:
		m := c.member(uint64(mv.member))
		if m == nil {
			return false, fmt.Errorf("no member %d", mv.member)
		}
		c.used.crashes++
		taken, err = true, c.start(m)
	default:
		m := c.member(uint64(mv.member))
		if m == nil {
			return false, fmt.Errorf("no member %d", mv.member)
		}
		if (mv.kind == ProposeWrite || mv.kind == ProposeConfChange) && m.rn.BasicStatus().RaftState != raft.StateLeader {
			return false, nil // only leaders are asked to propose
		}
		in := input{kind: mv.kind, change: mv.change}
		switch mv.kind {
		case ProposeWrite:
			in.write = uint32(c.used.writes + 1)
			c.used.writes++
		case ProposeConfChange:
			c.used.confChanges++
		case Heartbeat:
			c.used.heartbeats++
		}
		taken, crashed, err = c.feed(m, in, mv.crashMidReady)
	}
	if err != nil || !taken {
		return false, err
	}
	if mv.crashMidReady {
		if !crashed {
			return false, nil
		}
		c.used.crashes++
	}
	return true, nil
}

// touches returns the member mv changes, or 0 when it changes none.
func (c *cluster) touches(mv move) uint64 {
	switch mv.kind {
	case Drop:
		return 0
	case Deliver:
		return c.msgs.to[mv.msg]
	}
	return uint64(mv.member)
}

// transition expands mv for a trace.
func (t *messageTable) transition(mv move) Transition {
	tr := Transition{Kind: mv.kind, Member: uint64(mv.member), Change: int(mv.change), CrashMidReady: mv.crashMidReady}
	if mv.kind == Deliver || mv.kind == Drop {
		if msg, err := t.message(mv.msg); err == nil {
			tr.Message = msg
			tr.Member = msg.To
		}
	}
	return tr
}
