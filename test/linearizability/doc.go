// Package linearizability checks that a raftkube cluster's KV API is
// linearizable, with porcupine (github.com/anishathalye/porcupine).
//
// Three parts:
//
//   - Model is the sequential specification of one key under Get, Put, Delete
//     and CompareAndSwap, as raftnode/kv applies them: the value, the version
//     (writes since creation) and the create and mod indexes. Histories are
//     partitioned by key, so each key is checked on its own.
//   - Recorder collects the operations of concurrent sessions with their call
//     and return times, and Send runs one Input through a raftnode/client.Client
//     and classifies the result.
//   - Check prepares a history (Prepare), runs porcupine with a timeout and, on
//     a violation, writes the visualization; CheckWriteOrder adds a cross-key
//     check of the Raft indexes that porcupine's per-key partitions cannot see.
//
// # Unknown outcomes
//
// A write that failed with client.ErrOutcomeUnknown (a timeout, a lost
// connection or a member stopping after the request may have been sent) may
// have been applied, and may even be applied after the client gave up. It is
// recorded as an operation that never returns (Return = math.MaxInt64) with an
// Output whose Unknown is set, and Model accepts any outcome for it: the
// checker may linearize it anywhere after its call, including after the end
// of the history, which is the same as not applying it. Such an operation is
// never dropped (its effect may be visible) and never recorded as failed (it
// may have succeeded).
//
// Operations that provably had no effect are not recorded: a write the client
// never sent (the connection could not be opened) or that the server refused
// with a code that says so (see client.ErrOutcomeUnknown), a write whose
// proposal the server says Raft dropped (see Send), and any failed read.
//
// Left as they are, operations that never return make porcupine's search
// exponential in their number: it tries each at every point of the history.
// Prepare and Model avoid that without giving up exactness: an unknown
// operation that would change nothing is linearized only after the end (an
// OpEnd operation per key), and an unknown write whose value no answer shows is
// left out, the version jump it may have caused being allowed where it can
// show (see Prepare).
//
// The tests in this package run real raftnode processes (package test/harness)
// under a nemesis that kills and restarts members, pauses them, transfers
// leadership and replaces members through learners and joint changes, while
// clients read and write a few keys; the -lin.* flags make a longer run.
package linearizability
