package explore

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvariantViolated is wrapped by every invariant violation the explorer
// finds; the sentinels below say which invariant broke.
var ErrInvariantViolated = errors.New("explore: invariant violated")

// The invariants, each checked in every explored state.
var (
	// ErrElectionSafety: two members led the same term (Raft §5.2).
	ErrElectionSafety = fmt.Errorf("%w: election safety", ErrInvariantViolated)
	// ErrLogMatching: two logs hold an entry with the same index and term but
	// differ in it or before it (Raft §5.3).
	ErrLogMatching = fmt.Errorf("%w: log matching", ErrInvariantViolated)
	// ErrStateMachineSafety: members committed different entries at one
	// index (Raft §5.4.3).
	ErrStateMachineSafety = fmt.Errorf("%w: state machine safety", ErrInvariantViolated)
	// ErrLeaderCompleteness: a leader lacks an entry committed in an earlier
	// term (Raft §5.4).
	ErrLeaderCompleteness = fmt.Errorf("%w: leader completeness", ErrInvariantViolated)
	// ErrConcurrentConfChanges: a leader's log holds more than one
	// configuration change past what is committed (Raft thesis §4.1: one
	// change at a time).
	ErrConcurrentConfChanges = fmt.Errorf("%w: one configuration change at a time", ErrInvariantViolated)
	// ErrIllegalConfig: a member applied a configuration that does not follow
	// from its previous one by a single-voter change, entering a joint
	// configuration from it, or leaving the joint one (Raft thesis §4.3).
	ErrIllegalConfig = fmt.Errorf("%w: legal configuration succession", ErrInvariantViolated)
)

// Faults that end an exploration without an invariant violation.
var (
	// ErrCorePanicked: the core panicked in a transition.
	ErrCorePanicked = errors.New("explore: the core panicked")
	// ErrNondeterministic: replaying a path did not reach the state it
	// reached before, so the search cannot trust its replays.
	ErrNondeterministic = errors.New("explore: replay diverged")
	// ErrSetup: a scenario's setup failed.
	ErrSetup = errors.New("explore: scenario setup failed")
	// ErrNotEnabled: Reproduce was given a transition the state does not
	// enable (a message not in flight, a proposal the core refuses).
	ErrNotEnabled = errors.New("explore: transition not enabled")
)

// TraceError is a failure found on a path: the error and the transitions from
// the scenario's setup to it. Reproduce replays them.
type TraceError struct {
	Scenario string
	// Setup describes the scenario's setup, which the trace starts after.
	Setup string
	Trace []Transition
	Err   error
}

func (e *TraceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s: %v\nsetup: %s\ntrace (%d transitions after the setup):", e.Scenario, e.Err, e.Setup, len(e.Trace))
	for i, t := range e.Trace {
		fmt.Fprintf(&b, "\n  %2d. %s", i+1, t)
	}
	return b.String()
}

func (e *TraceError) Unwrap() error { return e.Err }
