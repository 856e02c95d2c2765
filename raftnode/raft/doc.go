// Package raft is the Raft consensus algorithm as a deterministic state machine:
// no goroutines, no clock, no I/O. The caller owns storage, the state machine and
// the transport; it ticks a logical clock, steps messages in, and handles each
// Ready (persist, send, apply) before calling Advance.
//
// Features: leader election with randomized timeouts, pre-vote, check-quorum,
// election priorities, log replication with per-follower flow control (probe,
// replicate and snapshot states; an inflight window bounded by messages and
// bytes; a size bound per message), log compaction and snapshots, ReadIndex reads
// (safe and lease-based), learners, membership changes by joint consensus
// (ConfChangeV2 with automatic or explicit leave) and by simple one-member steps,
// leadership transfer, proposal forwarding, and a bound on uncommitted bytes.
//
// Durability follows the Raft thesis §10.2.1: a leader may send its appends before
// it persists them (Ready.LeaderMessages), but it counts its own copy toward
// commit only after Advance reports it persisted, and every member persists
// before it acknowledges or votes (Ready.Messages).
//
// A minimal loop:
//
//	for {
//		select {
//		case <-ticker.C:
//			rn.Tick()
//		case m := <-recv:
//			_ = rn.Step(m)
//		}
//		for rn.HasReady() {
//			rd := rn.Ready()
//			send(rd.LeaderMessages)
//			persist(rd.HardState, rd.Entries, rd.Snapshot)
//			send(rd.Messages)
//			apply(rd.CommittedEntries)
//			rn.Advance(rd)
//		}
//	}
package raft
