// Package explore checks the Raft core (package raft) exhaustively on small
// clusters: it searches every state reachable within a bound, breadth first,
// and checks Raft's safety invariants in each. It drives the real core
// through RawNode, as an application does; nothing is modelled but the
// network, the disks and the order in which things happen.
//
// # What is explored
//
// A Scenario names the members (3 or 4), the initial voters, a setup that
// takes the cluster from bootstrap to the state the search starts from (an
// elected leader, a configuration change under way), the configuration
// changes a leader may propose, and the Bounds. Every member starts from the
// same bootstrap snapshot; a member outside the initial configuration runs
// from the start, as one about to be added does. The built-in Scenarios move
// the voters from {1,2,3} to {2,3,4} through the joint configuration
// {2,3,4}&&{1,2,3}, leave it explicitly, and move back.
//
// A state is every member's core and disk, the multiset of messages in flight
// and what the checks remember of the past (below). The transitions are:
//
//   - Deliver one in-flight message (any of them: the network reorders);
//   - Drop one (offered only over Bounds.MaxInFlight, to make room: for
//     every invariant an undelivered message is as good as a dropped one);
//   - Campaign: a voter that does not lead starts an election (Campaign,
//     not ticks: the timing of timeouts adds nothing but states);
//   - Heartbeat: a leader ticks once, sending a heartbeat round;
//   - ProposeWrite and ProposeConfChange on a leader; the core decides
//     whether it accepts the change;
//   - Crash: a member loses everything it did not persist and restarts from
//     its disk, its state machine rebuilt by applying the log again;
//   - any of the events above with a crash in the middle of the Ready it
//     causes, after the LeaderMessages went out and before anything was
//     persisted: the one window of the Ready contract in which others see
//     what a crash then loses.
//
// After each event the member handles its Readys in the order the contract
// asks: LeaderMessages, persist, Messages, apply (ApplyConfChange for
// configuration entries), Advance. The bounds cap the depth (transitions after
// the setup), the term a member may campaign for, the crashes, drops, writes,
// accepted configuration changes and heartbeats on a path, and the messages
// in flight: over MaxInFlight only deliveries and drops are enabled.
//
// States are told apart by a 64-bit hash of all of the above. A member's core
// is hashed whole, by reflection, unexported fields included, except the few
// that only time elections (see unhashedField), so pruning a state seen before
// loses no behaviour of the core. The search is breadth first, so a failure
// comes with a shortest trace, and a state is expanded at the lowest depth it
// is reached at. The core cannot be copied, so the search replays paths from
// the start and undoes a transition by rebuilding the member it changed from
// that member's inputs; it checks on every replay that the core is
// deterministic (ErrNondeterministic).
//
// # The invariants
//
// In every state reached (revisits included):
//
//   - election safety: at most one member leads each term, ever
//     (ErrElectionSafety);
//   - state machine safety: every entry a member reports committed, through
//     Ready.CommittedEntries or HardState.Commit, is the entry everyone else
//     reported at its index (ErrStateMachineSafety);
//   - log matching: two logs that hold an entry of the same term at an index
//     hold the same entry and agree before it (ErrLogMatching);
//   - leader completeness: a leader holds every entry known committed in an
//     earlier term (ErrLeaderCompleteness);
//   - one configuration change at a time: a leader's log holds at most one
//     configuration change past the entries known committed
//     (ErrConcurrentConfChanges);
//   - every configuration a member applies is a legal successor of its
//     previous one: a simple change of at most one voter, entering a joint
//     configuration whose outgoing half is the previous one, or leaving it
//     (ErrIllegalConfig), by rules written out here, not taken from package
//     confchange.
//
// A violation, or a panic of the core, ends the search with a *TraceError
// holding the shortest trace to it; Reproduce replays a trace.
//
// # Mutation checks
//
// Two build tags break the core on purpose, through constants in tiny files
// (no state, nothing in a normal build): raftmutation_nojoint makes joint
// quorums count the incoming half only (package quorum and tracker), and
// raftmutation_concurrentconf makes a leader accept a configuration change
// while another is pending (package raft). The package's tests build each
// mutant in a subprocess and require the explorer to report an invariant
// violation.
//
// # Running
//
// The short run, with the bounds of Scenarios, is part of make test:
//
//	cd raftnode/raft && go test ./explore/
//
// The long run searches each scenario, with the same bounds but the depth,
// as deep as its share of a time budget allows, and logs what it covered:
//
//	cd raftnode/raft && go test ./explore/ -run TestSearchLong -explore.long=10m -v -timeout 0
package explore
