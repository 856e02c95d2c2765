// Package rafttest runs scenario scripts against the raft library: text
// files of commands, each followed by the output it must produce, in the
// format of github.com/cockroachdb/datadriven. An [InteractionEnv] holds the
// members, each a [raft.RawNode] over a [raft.MemoryStorage], and the
// messages they sent and nobody delivered yet. Nothing moves unless a command
// moves it, and nothing reads a clock or a random source, so a script's
// output is the same on every run. The package uses only the library's
// exported API: a script drives the core exactly as an application does.
//
// Run your own scripts from a test:
//
//	func TestScenarios(t *testing.T) {
//		datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
//			env := rafttest.NewInteractionEnv()
//			datadriven.RunTest(t, path, env.Handle)
//		})
//	}
//
// Write the commands with an empty expected output, run the test with
// -rewrite to fill it in, and read it: from then on the test fails when the
// behaviour changes. A script looks like this (testdata/example.txt is a
// complete one):
//
//	add-nodes 3 voters=(1 2 3)
//	----
//	INFO 1 switched to configuration voters=(1 2 3)
//	...
//
//	campaign 1
//	----
//	INFO 1 is starting a new election at term 0
//	INFO 1 became candidate at term 1
//	...
//
// [InteractionEnv.Run] runs one command without a datadriven file.
//
// # Arguments and output
//
// Member ids are positional ("campaign 1"); options are key=value
// ("prevote=true"), lists key=(1 2 3) or key=(1,2,3). A command prints what
// happened: the Readies handled, the messages delivered, and the members'
// log lines at or above the log level, in the order they happen; "ok" if
// nothing. An error the core returns (a dropped proposal, a refused
// configuration change) is output too. A command that cannot run (unknown,
// malformed, naming a member that does not exist or is down) fails the test
// in Handle and is an error from Run: [ErrUnknownCommand],
// [ErrBadArgument], [ErrNoMember], [ErrMemberDown], [ErrNotStable].
//
// # How a member handles a Ready
//
// As the raft package's Ready loop says, synchronously: persist the
// HardState, Snapshot and Entries into its MemoryStorage; queue the
// LeaderMessages, then the Messages, for delivery; restore the state machine
// from the Snapshot; apply the CommittedEntries, configuration changes
// through ApplyConfChange; Advance. The state machine is the list of data
// of the applied entries; a snapshot's data is that list joined by commas.
// A Ready prints as its non-empty sections, one line per message or entry,
// in the notation of raftpb.DescribeMessage and raftpb.DescribeEntry:
//
//	Ready MustSync=true:
//	Lead:1 State:StateLeader
//	HardState Term:1 Vote:1 Commit:1
//	Entries:
//	1/2 EntryNormal ""
//	CommittedEntries: ...
//	LeaderMessages:
//	1->2 MsgApp Term:1 Log:1/1 Commit:1 Entries:[1/2 EntryNormal ""]
//	Messages: ...
//	ReadStates: ...
//
// A member whose configuration changed prints it ("ConfState Voters:[1 2 3]
// ...").
//
// # Commands
//
// Members:
//
//	add-nodes N [voters=(IDS)] [learners=(IDS)] [index=I] [content=A,B]
//	          [prevote=BOOL] [checkquorum=BOOL] [read-only=safe|lease]
//	          [max-inflight=N] [max-size-per-msg=N]
//
// Adds N members with the next free ids. With a configuration (voters or
// learners) each starts from a bootstrap snapshot at index I (default 1,
// term 1) holding it, with content (values separated by commas) as its
// state machine: the members of a new cluster. Without one (or with index=0)
// they start empty, like members about to be added by a configuration
// change, and get everything from the leader. Every member has
// ElectionTick 10 and HeartbeatTick 1; max-inflight is MaxInflightMsgs
// (default 256), max-size-per-msg MaxSizePerMsg (default no limit), and
// read-only the ReadOnlyOption (default safe).
//
//	crash ID
//
// The member stops. What it had not persisted (a Ready it had not handled:
// proposals, votes) and its state machine are gone; so are the messages on
// their way to it and those sent to it while it is down ("dropped (down)"
// when delivered). Its storage survives.
//
//	restart ID
//
// A crashed member starts a new RawNode on its storage and rebuilds its
// state machine from the stored snapshot; its next Ready hands it the
// committed entries after the snapshot to apply again.
//
// Requests to a member (each prints the error the core returns, if any):
//
//	campaign ID                       start an election now
//	propose ID DATA...                propose each DATA as an entry of its own
//	propose-conf-change ID [v1=BOOL] [transition=auto|implicit|explicit]
//	CHANGES
//
// propose-conf-change proposes the changes of its input, such as "v4 l5 r1"
// (add voter 4, learner 5, remove 1; see raftpb.ConfChangesFromString), as a
// ConfChangeV2 with the transition (default auto), or with v1=true as a
// ConfChange of its single change. No input proposes the empty ConfChangeV2,
// which leaves a joint configuration.
//
//	transfer-leadership from=ID to=ID hand leadership from ID to another member
//	read-index ID CTX                 request a read point; the ReadState comes in a Ready
//	report-unreachable ID PEER        ID learns that a message to PEER was lost
//	compact ID INDEX                  snapshot the state machine at INDEX (at most
//	                                  the applied index) with the configuration in
//	                                  force, drop the log up to INDEX, print raft-log
//
// Time:
//
//	tick-heartbeat ID   one heartbeat interval (HeartbeatTick = 1 Tick): a leader
//	                    sends heartbeats
//	tick-election ID    exactly as many Ticks as the member's election timeout
//	                    needs to elapse (raft.RawNode.TicksToElectionTimeout): a
//	                    follower or candidate campaigns, a leader checks its quorum
//
// Messages and Readies:
//
//	process-ready [ID...]              handle one Ready of each member (default all
//	                                   running members); "<empty Ready>" if none
//	deliver-msgs [ID...] [drop=BOOL]   deliver the queued messages addressed to
//	                                   each member (default all), in send order;
//	                                   with drop=true discard them
//	stabilize [ID...]                  rounds of: handle the Ready of each member
//	                                   that has one, in id order, then deliver
//	                                   each member's messages, in id order; until
//	                                   none of them has anything to do (default all
//	                                   running members; messages to others stay
//	                                   queued)
//	isolate ID                         cut the member off: messages from or to it
//	                                   are dropped, also those sent now and
//	                                   delivered after heal
//	heal                               end every isolation
//
// Where a command works on more than one member, each one's output is
// indented under a header: "> 2 handling Ready", "> 2 receiving messages".
//
// Inspection:
//
//	raft-state        one line per member: role, membership, term, leader,
//	                  commit, configuration (or "down"), "(isolated)"
//	status ID         Status: role, term, leader, commit, applied,
//	                  configuration, and on a leader every member's progress
//	raft-log ID       the stored snapshot and log entries (works while down)
//	state-machine ID  the applied index and the applied data
//	log-level debug|info|warn|error|none   the members' log lines to print
//	                                       (default info)
package rafttest
