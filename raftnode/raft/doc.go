// Package raft is the Raft consensus algorithm as a deterministic state
// machine: no goroutines, no clock, no I/O. The caller owns the log's storage,
// the state machine and the transport. It ticks a logical clock
// ([RawNode.Tick]), steps in the messages other members send
// ([RawNode.Step]), makes requests ([RawNode.Propose],
// [RawNode.ProposeConfChange], [RawNode.ReadIndex]) and drains the work the
// core produces: each [Ready] is persisted, sent and applied, then
// acknowledged with [RawNode.Advance]. This comment is the contract of that
// loop; docs/library.md in the repository is the longer guide.
//
// The module is github.com/raftkube/raftkube/raftnode/raft. Its packages are
// raft, raftpb (entries, messages, hard state, configurations and their wire
// codec), confchange, quorum, tracker, rafttest (scripted scenarios of
// members in one process, for your own tests) and explore (an exhaustive
// checker of the core). They import nothing outside the standard library but
// google.golang.org/protobuf's protowire, and rafttest also
// github.com/cockroachdb/datadriven.
//
// Features: leader election with randomized timeouts, pre-vote,
// check-quorum, election priorities, log replication with per-follower flow
// control, snapshots, ReadIndex reads (safe and lease-based), learners,
// membership changes by joint consensus or one voter at a time, leadership
// transfer, a bound on uncommitted bytes, pipelined (asynchronous)
// persistence, and a forced configuration for disaster recovery.
//
// # The Ready loop
//
// One goroutine owns a [RawNode]; it is not safe for concurrent use.
//
//	for {
//		select {
//		case <-ticker.C:
//			rn.Tick()
//		case m := <-fromPeers:
//			_ = rn.Step(m)
//		case data := <-proposals:
//			_ = rn.Propose(data)
//		}
//		for rn.HasReady() {
//			rd := rn.Ready()
//			send(rd.LeaderMessages)
//			persist(rd.Snapshot, rd.Entries, rd.HardState, rd.MustSync)
//			send(rd.Messages)
//			apply(rd.Snapshot, rd.CommittedEntries) // ApplyConfChange for conf changes
//			rn.Advance(rd)
//		}
//	}
//
// Within one Ready the order is:
//
//  1. LeaderMessages may be sent at once: before, while or after the rest is
//     persisted (Raft thesis §10.2.1). They are a leader's MsgApp,
//     MsgHeartbeat and MsgSnap in a term whose hard state is already durable.
//  2. Persist the Snapshot (if not empty), then the Entries (appended; the
//     first may replace stored entries from its index on), then the HardState
//     (if not empty; its Commit may point into Entries). If MustSync is set,
//     sync to stable storage. The [Storage] the core reads must return all of
//     it from now on.
//  3. Send Messages: votes, acknowledgements and whatever else relies on what
//     step 2 made durable.
//  4. Apply: restore the state machine from the Snapshot if there is one, then
//     apply CommittedEntries in order, calling [RawNode.ApplyConfChange] for
//     each configuration change. CommittedEntries may include entries of this
//     Ready's Entries: that is why they are applied only after step 2. Answer
//     each of ReadStates once the applied index reaches its Index.
//  5. Call Advance(rd), before the next call to Ready. Advance tells the core
//     that the Ready's writes are durable and its entries applied; a leader
//     counts its own copy of the entries toward commit only from then on.
//     (With AsyncPersistence, Advance means only that the writes are visible:
//     see below.) Without Advance the next Ready hands out the same entries
//     again.
//
// The fields of a Ready:
//
//   - SoftState: nil unless it changed; the known leader (Lead, [None] if
//     none) and this member's role.
//   - HardState: empty unless it changed; the term, vote and commit index to
//     persist.
//   - ReadStates: answered ReadIndex requests (see Reads).
//   - Entries: log entries to persist.
//   - Snapshot: empty unless a leader sent one to install (see Snapshots).
//   - CommittedEntries: entries to apply, in log order, at most
//     [Config.MaxCommittedSizePerReady] bytes (at least one entry).
//   - Messages: to send once step 2 is done.
//   - LeaderMessages: may be sent before step 2 is done.
//   - MustSync: whether step 2 must reach stable storage before step 3. It is
//     set when there are Entries or a Snapshot, or the term or vote changed;
//     a commit index alone can be recovered.
//
// Treat every slice of a Ready as read-only: Entries and CommittedEntries
// share the core's arrays, and appending to them could write over entries the
// core holds. The core itself never writes over what it handed out, so they
// may be kept after Advance.
//
// # Who owns the messages
//
// By default a Ready's LeaderMessages and Messages are the caller's to keep:
// the core never writes to them again, so they may be handed to another
// goroutine or held past Advance. Their capacity ends at their length, so an
// append copies. This costs about one allocation per 16 messages.
// [Config.ReuseReadyMessages] opts out: Advance then clears both slices, and
// later Readys refill their arrays, which saves that allocation. It is only
// for a caller that is done with the slices by Advance: it has sent the
// messages, or copied out the Message values it still needs. Either way the
// entries a message carries belong to the core's log and stay intact.
//
// # Asynchronous persistence
//
// With [Config.AsyncPersistence] the loop does not wait for the disk. In step
// 2 the caller writes without syncing, so that the [Storage] returns the
// writes, and syncs in the background; Advance then means only that the
// Ready's writes are visible, not durable. When a sync completes the caller
// reports it with [RawNode.Persisted](index, term, hardStateTerm): (index,
// term) is the last entry of the newest Ready the sync covers that had
// entries (0, 0 if none had), and hardStateTerm is the term of the newest
// hard state it covers (0 if none). One sync may cover many Readys. Reports
// come in the order of the writes; each covers everything written before it.
// Meanwhile:
//
//   - A Ready's Messages must wait until everything written up to and
//     including that Ready is durable. Holding them is the caller's job; with
//     ReuseReadyMessages, hold copies.
//   - LeaderMessages may still go at once: the core puts messages there only
//     in a term whose hard state was reported durable.
//   - A leader counts its own log toward commit only up to what Persisted
//     reported.
//   - CommittedEntries may be applied at once: committed means durable on a
//     quorum, even when this member's own copy is not synced yet. A state
//     machine that persists itself may then get ahead of the durable log; on
//     restart, [Config.Applied] must not exceed the recovered commit index
//     ([NewRawNode] fails with [ErrInvalidConfig]).
//   - Tick, Step and the request methods may be called while a sync runs.
//
// # Proposals
//
// [RawNode.Propose] appends data on a leader and forwards it from a follower
// (unless [Config.DisableProposalForwarding]). To propose several entries at
// once, Step a raftpb.Message of type MsgProp carrying them. The error is
// [ErrProposalDropped] when no leader is known, forwarding is disabled, a
// leadership transfer is under way, this member leads but is no longer in
// the configuration, or [Config.MaxUncommittedEntriesSize] is reached. A nil error does not mean
// the entry will commit: a forwarded proposal the leader drops, or an entry a
// new leader overwrites, is lost without a word. Recognise your entries in
// CommittedEntries and retry after a timeout.
//
// # Membership changes
//
// [RawNode.ProposeConfChange] takes a raftpb.ConfChange (one member) or a
// raftpb.ConfChangeV2 (several members, and a choice of transition). A change
// takes effect on each member when its entry is applied: call
// [RawNode.ApplyConfChange] for every committed EntryConfChange and
// EntryConfChangeV2 entry, in log order. It returns the configuration in
// force; keep it, as the configuration of the snapshots you take.
//
//   - One change at a time: a leader accepts a change only once the previous
//     one is applied on it, and a new leader only once it has applied its
//     first entry. Otherwise ProposeConfChange returns [ErrConfChangePending].
//   - A ConfChange, or a ConfChangeV2 of one change with the Auto
//     transition, takes effect in one step; it may add or remove at most one
//     voter. A ConfChangeV2 of several changes, or with the JointImplicit or
//     JointExplicit transition, goes through joint consensus
//     (Raft thesis §4.3): the entry enters a joint configuration in which
//     elections and commitment need a majority of the old voters and one of
//     the new; an empty ConfChangeV2 leaves it. With the Auto and
//     JointImplicit transitions the leader proposes the leave itself once the
//     joint configuration is applied (a new leader does it too); with
//     JointExplicit the caller proposes it. While joint, only the leave is
//     accepted.
//   - Learners (ConfChangeAddLearnerNode) receive the log but neither vote
//     toward commit or elections nor campaign; ConfChangeAddNode promotes one.
//   - A refused change is not appended: ProposeConfChange returns an error
//     wrapping [ErrConfChangeRefused] ([ErrConfChangePending], [ErrNotJoint],
//     or a confchange error saying why), and a proposal carrying it together
//     with other entries is refused whole. Proposed on a follower, the change
//     is forwarded, and a refusal by the leader comes back as nothing at all.
//   - A committed change that the configuration in force does not allow is
//     skipped, identically on every member: ApplyConfChange logs it and
//     returns the configuration unchanged. Compare that result with the
//     change to learn whether it took effect.
//   - A leader that is no longer a voter once a change is applied steps down,
//     and sends MsgTimeoutNow to a voter whose log is complete, if there is
//     one. A member with a committed but unapplied change does not campaign.
//   - A member added to a running cluster starts from an empty Storage and
//     learns the configuration from the leader, possibly from a snapshot whose
//     configuration does not list it yet: it installs it anyway.
//
// [RawNode.ForceNewConfiguration] is the way out when a majority of the
// voters is lost for good: it appends and commits a forced change that
// leaves this member the only voter. It breaks Raft's safety on purpose;
// read its documentation before using it.
//
// # Storage and snapshots
//
// The core reads the persisted log through [Storage] and never writes to it.
// InitialState returns the saved HardState and the configuration in force at
// [Config.Applied]: the latest snapshot's, plus any changes applied after it.
// Entries and Term return [ErrCompacted] for an index covered by the
// snapshot and [ErrUnavailable] for one past the last entry; Entries returns
// at least one entry even if it exceeds maxSize. Snapshot
// returns the latest snapshot, or [ErrSnapshotTemporarilyUnavailable] while
// one is being made (the leader tries again later). Any other error is fatal:
// [NewRawNode] returns it, and later the core panics through [Logger].
// [MemoryStorage] implements Storage in memory; a durable storage can wrap it.
//
// Every member of a new cluster starts from the same snapshot, whose
// ConfState lists the initial voters; members added later start empty. The
// caller takes its own snapshots at an applied index, with the configuration
// in force there, and may then compact the log up to that index, never past
// it.
//
// A leader sends a follower a MsgSnap (Storage.Snapshot) when the entries it
// needs are compacted, and only if the follower was heard from recently.
// Until the caller reports the outcome with [RawNode.ReportSnapshot], or the
// follower acknowledges an index from which the log can resume, the leader
// sends it no entries. Report every MsgSnap sent, delivered or not: a lost
// snapshot never reported leaves the follower waiting.
//
// A follower installs a snapshot newer than its commit index, unless its log
// already holds the snapshot's last entry (then only the commit index
// moves). The Ready then carries it in Snapshot, with MustSync set and no
// CommittedEntries; the core has already installed the snapshot's
// configuration, so do not call ApplyConfChange for it. A member does not
// campaign while a snapshot waits to be persisted.
//
// # Flow control
//
//   - [Config.MaxSizePerMsg] bounds the entries in one MsgApp (at least one
//     entry goes; 0 means one entry per message).
//   - [Config.MaxInflightMsgs] and [Config.MaxInflightBytes] bound what is in
//     flight to one follower; a full window sends only the commit index.
//   - [Config.MaxUncommittedEntriesSize] bounds a leader's uncommitted
//     payload bytes; past it proposals fail with [ErrProposalDropped] (a
//     leader with nothing uncommitted accepts any one proposal). Entries
//     count until they are applied.
//   - The leader tracks each follower in one of three states
//     (tracker.Progress): probe, one MsgApp at a time until the logs are
//     found to match; replicate, streaming within the window; snapshot,
//     nothing but heartbeats until the snapshot is reported.
//   - [RawNode.ReportUnreachable] puts a replicating follower back to probe.
//   - Appends for proposals are built when Ready is called, so proposals
//     made between two Readys leave in one MsgApp per follower.
//
// # Reads
//
// [RawNode.ReadIndex](rctx) asks for a linearizable read point. The answer is
// a ReadState carrying rctx and an Index: once this member has applied up to
// Index, reading its state machine reflects every write acknowledged before
// the request. A follower forwards the request to the leader. The leader
// first waits until it has committed an entry of its own term, then answers:
// with [ReadOnlySafe] (the default) after a quorum acknowledges a heartbeat
// round that confirms it still leads; with [ReadOnlyLeaseBased] at once,
// which is correct only while clock drift stays below the election timeout
// and requires CheckQuorum; a single voter answers at once.
//
// A request may be lost without an answer: no leader known, a change of
// leader or term, a message lost. Retry after a timeout with the same rctx: a
// retry replaces the pending request of that rctx, with a fresh index, and
// late acknowledgements of the earlier attempt cannot confirm it (each
// attempt's heartbeats carry a token of its own, rctx and a sequence
// number). The earlier attempt is then never answered. The leader keys
// pending requests by rctx alone, so rctx must be unique across the cluster
// (include the member's id).
//
// # Elections and leadership
//
//   - [RawNode.Tick]: a follower or candidate that hears from no leader for a
//     randomized timeout in [ElectionTick, 2*ElectionTick) ticks campaigns; a
//     leader sends heartbeats every HeartbeatTick ticks. The randomness is
//     seeded from the member's ID, so a run is reproducible.
//   - [RawNode.Campaign] starts an election now. It does nothing on a leader,
//     a learner, a member outside the configuration, or one with a committed
//     but unapplied change or an unpersisted snapshot.
//   - [Config.PreVote]: a member first asks whether it could win, and raises
//     its term only if a quorum says yes, so a member returning from a
//     partition does not depose a working leader.
//   - [Config.CheckQuorum]: a leader that has not heard from a quorum within
//     an election timeout steps down, and a member that heard from a leader
//     within one ignores vote requests of a higher term.
//   - [Config.Priority] and [RawNode.SetPriority]: between equally
//     up-to-date logs, a voter votes only for a candidate of at least its own
//     priority; a more up-to-date log always wins, and a leadership transfer
//     overrides priorities. Each member's priority is set on that member; it
//     travels in its vote requests.
//   - [RawNode.TransferLeader] (forwarded by followers): the leader catches
//     the transferee up and sends it MsgTimeoutNow, on which it campaigns at
//     once, without pre-vote, past leases and priorities. Proposals fail with
//     [ErrProposalDropped] meanwhile; the transfer is abandoned after an
//     election timeout. A learner cannot be a transferee.
//
// # Observing
//
// [RawNode.Status] (with every member's progress, on a leader),
// [RawNode.BasicStatus] (without allocating), [RawNode.WithProgress] and
// [RawNode.TicksToElectionTimeout] (ticks until this member's randomized
// election timeout elapses, for tests that step time exactly). The
// core logs through [Config.Logger]: [DiscardLogger] by default,
// [SlogLogger] for log/slog.
//
// # Examples
//
// Example drives one member by hand, Example_threeMembers three in one
// process, Example_jointConsensus replaces a member through a joint
// configuration, and Example_asyncPersistence shows Persisted. The
// repository's examples/kvstore is a replicated key-value store on this
// module alone, with its own storage, transport and HTTP API.
package raft
