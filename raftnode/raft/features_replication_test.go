package raft

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/raft/tracker"
)

// Feature tests for replication: proposal forwarding, flow control (progress
// states, the inflight window by count and bytes, the message size bound), the
// uncommitted-bytes bound, and catching up through snapshots.

func TestFeatureProposalForwarding(t *testing.T) {
	t.Run("enabled", func(t *testing.T) {
		nw := newNetwork(t, threeVoters)
		nw.campaign(1)
		if err := nw.propose(3, "fwd"); err != nil {
			t.Fatal(err)
		}
		if n := nw.delivered[pb.MsgProp]; n != 1 {
			t.Fatalf("delivered %d MsgProp, want 1", n)
		}
		for _, id := range threeVoters {
			if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"fwd"}) {
				t.Fatalf("member %d applied %v", id, got)
			}
		}
	})
	t.Run("disabled", func(t *testing.T) {
		nw := newNetwork(t, threeVoters, func(c *Config) { c.DisableProposalForwarding = true })
		nw.campaign(1)
		last := nw.member(1).raft().raftLog.lastIndex()
		if err := nw.propose(3, "fwd"); !errors.Is(err, ErrProposalDropped) {
			t.Fatalf("follower proposal: %v, want ErrProposalDropped", err)
		}
		if n := nw.delivered[pb.MsgProp]; n != 0 {
			t.Fatalf("delivered %d MsgProp", n)
		}
		if got := nw.member(1).raft().raftLog.lastIndex(); got != last {
			t.Fatalf("leader's log grew from %d to %d", last, got)
		}
		// The leader itself still takes proposals.
		if err := nw.propose(1, "direct"); err != nil {
			t.Fatal(err)
		}
		if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"direct"}) {
			t.Fatalf("3 applied %v", got)
		}
	})
	t.Run("no leader", func(t *testing.T) {
		nw := newNetwork(t, threeVoters)
		if err := nw.propose(2, "x"); !errors.Is(err, ErrProposalDropped) {
			t.Fatalf("proposal without leader: %v, want ErrProposalDropped", err)
		}
	})
}

// A follower that is probed gets one MsgApp at a time; a replicating one gets
// a stream of them.
func TestFeatureProgressProbeVersusReplicate(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	for _, id := range []uint64{1, 2, 3} {
		if st := progressOf(nw, 1, id).State; st != tracker.StateReplicate {
			t.Fatalf("progress of %d after the election: %s", id, st)
		}
	}
	nw.member(1).rn.ReportUnreachable(3)
	rec := recordMsgs(nw, msgOfType(pb.MsgAppResp)) // nobody acknowledges
	for _, d := range []string{"a", "b", "c"} {
		if err := nw.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.count(appsWithEntriesTo(2)); n != 3 {
		t.Fatalf("replicating follower got %d MsgApps, want 3", n)
	}
	if n := rec.count(appsWithEntriesTo(3)); n != 1 {
		t.Fatalf("probed follower got %d MsgApps, want 1", n)
	}
	st := nw.member(1).rn.Status()
	if pr := st.Progress[2]; pr.State != tracker.StateReplicate || pr.Inflights.Count() != 3 {
		t.Fatalf("progress of 2: %s, want replicate with 3 in flight", &pr)
	}
	if pr := st.Progress[3]; pr.State != tracker.StateProbe || !pr.IsPaused() {
		t.Fatalf("progress of 3: %s, want a paused probe", &pr)
	}
	// Acknowledgements flow again: both catch up and replicate (the commit
	// index reaches 3 with the next heartbeat).
	nw.heal()
	nw.tick(2)
	for _, id := range []uint64{2, 3} {
		if pr := progressOf(nw, 1, id); pr.State != tracker.StateReplicate {
			t.Fatalf("progress of %d after recovery: %s", id, pr)
		}
		if got := nw.member(id).appliedData(); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("member %d applied %v", id, got)
		}
	}
}

// With MaxInflightMsgs unacknowledged MsgApps out, the leader stops sending to
// that follower until it acknowledges.
func TestFeatureInflightWindowByCount(t *testing.T) {
	nw := newNetwork(t, threeVoters, func(c *Config) { c.MaxInflightMsgs = 2 })
	nw.campaign(1)
	rec := recordMsgs(nw, func(m pb.Message) bool { return m.Type == pb.MsgAppResp && m.From == 2 })
	for i := range 5 {
		if err := nw.propose(1, string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.count(appsWithEntriesTo(2)); n != 2 {
		t.Fatalf("follower 2 without acks got %d MsgApps with entries, want 2 (the window)", n)
	}
	if n := rec.count(appsWithEntriesTo(3)); n != 5 {
		t.Fatalf("follower 3 got %d MsgApps, want 5", n)
	}
	if pr := progressOf(nw, 1, 2); !pr.Inflights.Full() || pr.Inflights.Count() != 2 || !pr.IsPaused() {
		t.Fatalf("progress of 2: %s, want a full window of 2", pr)
	}
	nw.heal()
	nw.tick(1)
	if got := nw.member(2).appliedData(); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("2 applied %v after acking", got)
	}
}

// With MaxInflightBytes in flight, the leader stops sending (the limit is soft:
// the message that crosses it is sent).
func TestFeatureInflightWindowByBytes(t *testing.T) {
	nw := newNetwork(t, threeVoters, func(c *Config) { c.MaxSizePerMsg, c.MaxInflightBytes = 150, 250 })
	nw.campaign(1)
	rec := recordMsgs(nw, func(m pb.Message) bool { return m.Type == pb.MsgAppResp && m.From == 2 })
	for i := range 5 {
		if err := nw.member(1).rn.Propose(filledPayload(100, byte('a'+i))); err != nil {
			t.Fatal(err)
		}
		nw.stabilize()
	}
	if n := rec.count(appsWithEntriesTo(2)); n != 3 {
		t.Fatalf("follower 2 without acks got %d MsgApps of 100 bytes, want 3 (100, 200, 300 >= 250)", n)
	}
	if pr := progressOf(nw, 1, 2); pr.Inflights.Bytes() != 300 || !pr.Inflights.Full() {
		t.Fatalf("progress of 2: %s with %d bytes in flight, want a full window of 300", pr, pr.Inflights.Bytes())
	}
	nw.heal()
	nw.tick(1)
	if got := len(nw.member(2).appliedData()); got != 5 {
		t.Fatalf("2 applied %d entries after acking, want 5", got)
	}
}

// MaxSizePerMsg splits a backlog across MsgApps; an entry larger than the bound
// still goes, alone.
func TestFeatureMaxSizePerMsg(t *testing.T) {
	const maxSize = 350 // three 100-byte entries (106 bytes encoded), not four
	nw := newNetwork(t, threeVoters, func(c *Config) { c.MaxSizePerMsg = maxSize })
	nw.campaign(1)
	nw.isolate(3)
	for i := range 10 {
		if err := nw.member(1).rn.Propose(filledPayload(100, byte('a'+i))); err != nil {
			t.Fatal(err)
		}
		nw.stabilize()
	}
	nw.heal()
	rec := recordMsgs(nw, nil)
	nw.tick(3)
	apps := 0
	biggest := 0
	for _, m := range rec.msgs {
		if m.Type != pb.MsgApp || m.To != 3 || len(m.Entries) == 0 {
			continue
		}
		apps++
		biggest = max(biggest, len(m.Entries))
		if len(m.Entries) > 1 && entsSize(m.Entries) > maxSize {
			t.Fatalf("MsgApp of %d entries, %d bytes, above the bound %d", len(m.Entries), entsSize(m.Entries), maxSize)
		}
	}
	if biggest != 3 || apps < 4 {
		t.Fatalf("catch-up used %d MsgApps of at most %d entries, want at least 4 of at most 3", apps, biggest)
	}
	if got := len(nw.member(3).appliedData()); got != 10 {
		t.Fatalf("3 applied %d entries, want 10", got)
	}

	rec.msgs = nil
	if err := nw.member(1).rn.Propose(filledPayload(1000, 'z')); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if n := rec.count(func(m pb.Message) bool { return appsWithEntriesTo(2)(m) && len(m.Entries) == 1 }); n != 1 {
		t.Fatalf("a 1000-byte entry went out in %d single-entry MsgApps, want 1", n)
	}
	if got := len(nw.member(2).appliedData()); got != 11 {
		t.Fatalf("2 applied %d entries, want 11", got)
	}
}

// Proposals beyond MaxUncommittedEntriesSize are dropped until entries commit;
// empty entries are always accepted.
func TestFeatureUncommittedBound(t *testing.T) {
	nw := newNetwork(t, threeVoters, func(c *Config) { c.MaxUncommittedEntriesSize = 300 })
	nw.campaign(1)
	nw.isolate(2)
	nw.isolate(3)
	lead := nw.member(1)
	propose := func(data []byte) error {
		err := lead.rn.Propose(data)
		nw.stabilize()
		return err
	}
	for i := range 3 {
		if err := propose(filledPayload(100, byte('a'+i))); err != nil {
			t.Fatalf("proposal %d within the bound: %v", i, err)
		}
	}
	last := lead.raft().raftLog.lastIndex()
	if err := propose(filledPayload(100, 'x')); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal beyond the bound: %v, want ErrProposalDropped", err)
	}
	if got := lead.raft().raftLog.lastIndex(); got != last {
		t.Fatalf("a dropped proposal was appended: last index %d -> %d", last, got)
	}
	if err := propose(nil); err != nil {
		t.Fatalf("empty proposal at the bound: %v", err)
	}

	nw.heal()
	nw.tick(2)
	if got := len(lead.appliedData()); got != 3 {
		t.Fatalf("leader applied %d entries, want 3", got)
	}
	for i := range 3 {
		if err := propose(filledPayload(100, byte('d'+i))); err != nil {
			t.Fatalf("proposal %d after the backlog committed: %v", i, err)
		}
	}
	if got := len(nw.member(2).appliedData()); got != 6 {
		t.Fatalf("2 applied %d entries, want 6", got)
	}

	// Nothing uncommitted: even an entry larger than the bound is accepted.
	if err := propose(filledPayload(1000, 'L')); err != nil {
		t.Fatalf("large proposal with nothing uncommitted: %v", err)
	}
}

// A follower behind the leader's compacted log is sent a snapshot: its progress
// goes probe -> snapshot -> replicate, and it catches up.
func TestFeatureSnapshotCatchUp(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	nw.campaign(1)
	nw.isolate(3)
	for _, d := range []string{"a", "b", "c"} {
		if err := nw.propose(1, d); err != nil {
			t.Fatal(err)
		}
	}
	snapIndex := compactMember(t, nw.member(1))
	nw.member(1).rn.ReportUnreachable(3) // as a transport would
	nw.heal()

	states := []tracker.StateType{progressOf(nw, 1, 3).State}
	observe := func() {
		if s := progressOf(nw, 1, 3).State; s != states[len(states)-1] {
			states = append(states, s)
		}
	}
	nw.hook = func(pb.Message) bool { observe(); return true }
	nw.tick(2)
	observe()
	want := []tracker.StateType{tracker.StateProbe, tracker.StateSnapshot, tracker.StateReplicate}
	if !slices.Equal(states, want) {
		t.Fatalf("progress of 3 went %v, want %v", states, want)
	}
	if n := nw.delivered[pb.MsgSnap]; n != 1 {
		t.Fatalf("delivered %d snapshots, want 1", n)
	}
	if snap, _ := nw.member(3).storage.Snapshot(); snap.Metadata.Index != snapIndex || string(snap.Data) != "state" {
		t.Fatalf("3 holds snapshot %+v, want the leader's at %d", snap.Metadata, snapIndex)
	}
	if err := nw.propose(1, "d"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("3 applied %v after the snapshot, want [d]", got)
	}
	nw.checkAppliedAgree()
}

// A storage that is still making its snapshot says so; the leader retries later.
func TestFeatureSnapshotTemporarilyUnavailable(t *testing.T) {
	nw := newNetwork(t, threeVoters)
	ms := nw.member(1).storage
	flaky := &snapshotUnavailableStorage{MemoryStorage: ms, failures: 2}
	replaceStorage(t, nw, 1, flaky, ms)
	nw.campaign(1)
	nw.isolate(3)
	if err := nw.propose(1, "a"); err != nil {
		t.Fatal(err)
	}
	compactMember(t, nw.member(1))
	nw.heal()

	nw.tick(1)
	if flaky.calls == 0 || nw.delivered[pb.MsgSnap] != 0 {
		t.Fatalf("after one tick: %d snapshot calls, %d snapshots delivered; want an attempt and none delivered",
			flaky.calls, nw.delivered[pb.MsgSnap])
	}
	if st := progressOf(nw, 1, 3).State; st == tracker.StateSnapshot {
		t.Fatalf("follower in snapshot state without a snapshot sent")
	}
	nw.tick(5)
	if flaky.calls < 3 || nw.delivered[pb.MsgSnap] != 1 {
		t.Fatalf("%d snapshot calls, %d snapshots delivered; want retries until one is sent", flaky.calls, nw.delivered[pb.MsgSnap])
	}
	if st := progressOf(nw, 1, 3).State; st != tracker.StateReplicate {
		t.Fatalf("follower is %s after the snapshot, want replicate", st)
	}
	if err := nw.propose(1, "b"); err != nil {
		t.Fatal(err)
	}
	if got := nw.member(3).appliedData(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("3 applied %v, want [b]", got)
	}
}
