package raft_test

import (
	"strconv"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// simNet is the network: messages in flight, each with its delivery time, and
// the faults in force.
type simNet struct {
	queue simQueue
	seq   uint64
	// cut holds the directed links that lose every message (from, to).
	cut map[[2]uint64]bool
	// dropP and dupP are the chances that a message is lost or delivered twice.
	dropP, dupP float64
	// Delays are drawn from [minDelay, maxDelay] (in simTickUnits per tick); with
	// chance longP a message is held up to longDelay more.
	minDelay, maxDelay, longDelay int64
	longP                         float64
}

// simMsg is a message in flight, marshaled as on a wire.
type simMsg struct {
	at, seq        int64
	from, to       uint64
	fromInc, toInc uint64
	typ            pb.MessageType
	lost           bool
	wire           []byte
	// local, when not zero, marks an event of member to rather than a message.
	local simLocalEvent
}

// simLocalEvent is an event a member schedules for itself.
type simLocalEvent uint8

const (
	// localWriteDone completes the member's disk write.
	localWriteDone simLocalEvent = 1 + iota
	// localReady makes the member handle the Readys it put off.
	localReady
	// localSyncDone completes the sync an async member's syncer is running.
	localSyncDone
)

// simQueue is a binary heap of messages ordered by delivery time, then by the
// order they were sent.
type simQueue []simMsg

func (q simQueue) len() int     { return len(q) }
func (q simQueue) min() *simMsg { return &q[0] }
func (q simQueue) less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}

func (q *simQueue) push(m simMsg) {
	*q = append(*q, m)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *simQueue) pop() simMsg {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = simMsg{}
	h = h[:n]
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && h.less(l, small) {
			small = l
		}
		if r < n && h.less(r, small) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*q = h
	return top
}

// send puts msgs from m on the wire: each is marshaled, may be lost or
// duplicated, and gets a delivery time.
func (s *sim) send(m *simMember, msgs []pb.Message) {
	for i := range msgs {
		msg := &msgs[i]
		wire, err := msg.Marshal()
		if err != nil {
			s.failf("member %d: marshal %s: %v", m.id, msg.Type, err)
		}
		var toInc uint64
		if to := s.member(msg.To); to != nil {
			toInc = to.incarnation
		}
		copies := 1
		if s.net.dupP > 0 && s.rng.Float64() < s.net.dupP {
			copies = 2
			s.stats.duplicated++
		}
		for range copies {
			delay := s.net.minDelay + s.rng.Int64N(s.net.maxDelay-s.net.minDelay+1)
			if s.net.longP > 0 && s.rng.Float64() < s.net.longP {
				delay += s.rng.Int64N(s.net.longDelay + 1)
			}
			s.net.seq++
			s.net.queue.push(simMsg{
				at: s.now + delay, seq: int64(s.net.seq),
				from: m.id, to: msg.To, fromInc: m.incarnation, toInc: toInc,
				typ: msg.Type, wire: wire,
				lost: s.net.dropP > 0 && s.rng.Float64() < s.net.dropP,
			})
		}
	}
}

// deliver delivers the earliest message in flight, or loses it: it was lost on
// the wire, its link is cut, or its recipient crashed since it was sent. The
// sender's transport notices some losses and reports them, and always reports
// the fate of a snapshot, as a streaming transport does.
func (s *sim) deliver() {
	msg := s.net.queue.pop()
	s.now = max(s.now, msg.at)
	switch msg.local {
	case localWriteDone:
		s.writeDone(&msg)
		return
	case localReady:
		s.readyNow(&msg)
		return
	case localSyncDone:
		s.syncDone(&msg)
		return
	}
	from, to := s.member(msg.from), s.member(msg.to)
	if from != nil && (from.rn == nil || from.incarnation != msg.fromInc) {
		from = nil // the sender's incarnation is gone: nobody hears back
	}
	if msg.lost || to == nil || to.rn == nil || to.incarnation != msg.toInc || s.net.cut[[2]uint64{msg.from, msg.to}] {
		s.stats.dropped++
		s.tracef("lost %s %d->%d", msg.typ, msg.from, msg.to)
		s.digest.Write([]byte{'x'})
		if from == nil {
			return
		}
		switch {
		case msg.typ == pb.MsgSnap:
			from.rn.ReportSnapshot(msg.to, raft.SnapshotFailure)
			s.settle(from)
		case s.rng.IntN(3) == 0:
			from.rn.ReportUnreachable(msg.to)
			s.settle(from)
		}
		return
	}
	var m pb.Message
	if err := m.Unmarshal(msg.wire); err != nil {
		s.failf("unmarshal %s %d->%d: %v", msg.typ, msg.from, msg.to, err)
	}
	s.stats.delivered++
	s.digest.Write(msg.wire)
	if s.verbose {
		s.tracef("deliver %s", describeSimMsg(&m))
	}
	_ = to.rn.Step(m)
	s.settle(to)
	// The leader needs to hear how every snapshot went: a follower that already
	// had the snapshot's index answers with an index the leader has seen, and
	// without the report it would wait for the snapshot forever (as in etcd).
	if msg.typ == pb.MsgSnap && from != nil && from.rn != nil {
		from.rn.ReportSnapshot(msg.to, raft.SnapshotFinish)
		s.settle(from)
	}
}

func describeSimMsg(m *pb.Message) string {
	s := m.Type.String() + " " + itoa(m.From) + "->" + itoa(m.To) + " term " + itoa(m.Term)
	switch m.Type {
	case pb.MsgApp:
		s += " prev " + itoa(m.LogTerm) + "/" + itoa(m.Index) + " entries " + itoa(uint64(len(m.Entries))) + " commit " + itoa(m.Commit)
	case pb.MsgAppResp:
		s += " index " + itoa(m.Index)
		if m.Reject {
			s += " reject hint " + itoa(m.RejectHint)
		}
	case pb.MsgVote, pb.MsgPreVote:
		s += " last " + itoa(m.LogTerm) + "/" + itoa(m.Index)
	case pb.MsgVoteResp, pb.MsgPreVoteResp:
		if m.Reject {
			s += " rejected"
		}
	case pb.MsgHeartbeat:
		s += " commit " + itoa(m.Commit)
	case pb.MsgSnap:
		s += " snapshot " + itoa(m.Snapshot.Metadata.Term) + "/" + itoa(m.Snapshot.Metadata.Index)
	case pb.MsgReadIndexResp:
		s += " index " + itoa(m.Index)
	}
	return s
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
