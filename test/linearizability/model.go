package linearizability

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// OpKind is the KV request an Input stands for.
type OpKind uint8

// The requests the model knows.
const (
	// OpGet is a linearizable Get.
	OpGet OpKind = iota + 1
	// OpPut is a Put.
	OpPut
	// OpDelete is a single-key Delete.
	OpDelete
	// OpCAS is a CompareAndSwap.
	OpCAS
	// OpEnd marks the end of a key's history (see Prepare): no request.
	OpEnd
)

func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCAS:
		return "cas"
	case OpEnd:
		return "end"
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Input is one request on one key: the Input of a porcupine.Operation.
type Input struct {
	Kind OpKind
	Key  string
	// Value is what a Put writes, and what a CAS writes when its comparison
	// holds (unless Delete).
	Value string
	// ByModIndex chooses a CAS's expectation: the key's mod index must be
	// ExpectedModIndex (0: the key must not exist) when set, else the key must
	// exist with the value ExpectedValue.
	ByModIndex       bool
	ExpectedValue    string
	ExpectedModIndex uint64
	// Delete makes a CAS delete the key instead of writing Value.
	Delete bool
	// Slack is set by Prepare: the number of writes it left out of the key's
	// history (unknown outcome, value never seen) that were called before this
	// operation returned. A value written by an operation with an unknown
	// outcome may show a version higher by up to that many, less the ones
	// already counted (see Prepare).
	Slack int
}

// KeyValue is a key as the server reports it (kvpb.KeyValue without the key).
type KeyValue struct {
	Value       string
	Version     int64
	CreateIndex uint64
	ModIndex    uint64
}

// Output is the answer to an Input: the Output of a porcupine.Operation.
type Output struct {
	// Unknown: the request may or may not have taken effect (the client
	// returned ErrOutcomeUnknown). Nothing else is set, and the model accepts
	// the request with any outcome.
	Unknown bool
	// KV is the key as a Get read it, or the key before a write
	// (kvpb.Result.Prev); nil when the key did not exist.
	KV *KeyValue
	// Succeeded, ModIndex, Deleted and AppliedIndex are kvpb.Result's, for
	// writes.
	Succeeded    bool
	ModIndex     uint64
	Deleted      int64
	AppliedIndex uint64
}

// keyState is the model's state of one key. The indexes are Raft indexes the
// model cannot predict: they are learned from answers, and are 0 ("not known
// yet") after a write whose outcome is unknown, until an answer reveals them.
// A state with an unknown index stands for every state with some index there,
// which keeps the model exact without enumerating indexes.
type keyState struct {
	Exists  bool
	Value   string
	Version int64
	// Invariant: CreateIndex and ModIndex are 0 when !Exists.
	CreateIndex uint64
	ModIndex    uint64
	// Ended is set once the key's OpEnd is linearized: only operations that
	// never returned can follow, and they take no effect any more.
	Ended bool
	// Slack is how many of the writes Prepare left out the versions seen so
	// far took to have been applied.
	Slack int
}

// Model is the porcupine model of the KV API, partitioned by key. Its Step
// follows raftnode/kv's apply rules:
//
//   - Get returns the key as it is, or nothing when it does not exist.
//   - Put writes the value and returns the previous key; the version counts
//     writes since creation (1 after the creating write), the create index is
//     kept and the mod index becomes the write's index, which is larger than
//     every index the key had.
//   - Delete removes the key and returns it (Deleted 1), or does nothing
//     (Deleted 0).
//   - CompareAndSwap returns the key as it was whether or not it swapped;
//     it swaps when the key exists with ExpectedValue, or when its mod index is
//     ExpectedModIndex (0: when it does not exist), then writes Value like Put
//     or deletes like Delete. Result.ModIndex is the new mod index after a put,
//     0 after a delete, the unchanged mod index when the comparison failed.
//
// An operation whose Output is Unknown never returns. It takes effect with
// whatever outcome the state implies, or none: not taking effect is
// linearizing it after the key's OpEnd, which Prepare appends after every
// operation that returned, and from where the model ignores it. Before OpEnd
// the model admits an unknown operation only where it changes the state: one
// that would leave the state as it is can as well be linearized after OpEnd,
// and this spares porcupine from trying it at every point in between, which
// is exponential in the number of such operations.
//
// Model checks histories made by Prepare, as Check does.
var Model = nondeterministicModel.ToModel()

var nondeterministicModel = porcupine.NondeterministicModel{
	Partition:      partitionByKey,
	PartitionEvent: partitionEventsByKey,
	Init:           func() []any { return []any{keyState{}} },
	Step: func(state, input, output any) []any {
		return step(state.(keyState), input.(Input), output.(Output))
	},
	Hash: func(state any) uint64 {
		s := state.(keyState)
		h := fnv.New64a()
		fmt.Fprintf(h, "%t %q %d %d %d %t %d", s.Exists, s.Value, s.Version, s.CreateIndex, s.ModIndex, s.Ended, s.Slack)
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		return DescribeOperation(input.(Input), output.(Output))
	},
	DescribeState: func(state any) string { return state.(keyState).String() },
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return fmt.Sprint(info)
	},
}

// step returns every state the key can be in after in answered with out from
// s; none when the answer is impossible.
func step(s keyState, in Input, out Output) []any {
	switch {
	case in.Kind == OpEnd:
		if s.Ended {
			return nil
		}
		s.Ended = true
		return []any{s}
	case s.Ended:
		// Only operations that never returned follow OpEnd.
		if !out.Unknown {
			return nil
		}
		return []any{s}
	case out.Unknown:
		var next []any
		for _, n := range stepUnknown(s, in) {
			if n != s {
				next = append(next, n)
			}
		}
		return next
	}
	// Every answer carries the key as it was (a Get's is also as it is), so
	// check that first; it also pins down indexes the model did not know.
	cur, ok := s.observe(out.KV, in.Slack)
	if !ok {
		return nil
	}
	if in.Kind == OpGet {
		return []any{cur}
	}
	// A write is applied at an index later than every write the key saw.
	if !cur.validNewIndex(out.AppliedIndex) {
		return nil
	}
	switch in.Kind {
	case OpPut:
		if !out.Succeeded || out.ModIndex != out.AppliedIndex || out.Deleted != 0 {
			return nil
		}
		return []any{cur.written(in.Value, out.ModIndex)}
	case OpDelete:
		if !out.Succeeded || out.Deleted != cur.count() || out.ModIndex != 0 {
			return nil
		}
		return []any{cur.deleted()}
	case OpCAS:
		holds := cur.casHolds(in)
		if out.Succeeded != holds {
			return nil
		}
		switch {
		case !holds:
			if out.ModIndex != cur.ModIndex || out.Deleted != 0 {
				return nil
			}
			return []any{cur}
		case in.Delete:
			if out.ModIndex != 0 || out.Deleted != cur.count() {
				return nil
			}
			return []any{cur.deleted()}
		default:
			if out.ModIndex != out.AppliedIndex || out.Deleted != 0 {
				return nil
			}
			return []any{cur.written(in.Value, out.ModIndex)}
		}
	}
	return nil
}

// stepUnknown applies in without knowing its answer, nor therefore its index.
func stepUnknown(s keyState, in Input) []keyState {
	switch in.Kind {
	case OpGet:
		return []keyState{s}
	case OpPut:
		return []keyState{s.written(in.Value, 0)}
	case OpDelete:
		return []keyState{s.deleted()}
	case OpCAS:
		var next []keyState
		for _, b := range s.casBranches(in) {
			switch {
			case !b.holds:
				next = append(next, b.state)
			case in.Delete:
				next = append(next, b.state.deleted())
			default:
				next = append(next, b.state.written(in.Value, 0))
			}
		}
		return next
	}
	return nil
}

// observe checks that kv (nil: absent) can be the key in state s, seen by an
// operation with the given Input.Slack, and returns s with what kv reveals.
func (s keyState) observe(kv *KeyValue, slack int) (keyState, bool) {
	if kv == nil {
		return s, !s.Exists
	}
	if !s.Exists || kv.Value != s.Value {
		return s, false
	}
	if kv.Version != s.Version {
		// Writes Prepare left out can only have been applied right before a
		// write with an unknown outcome (any other operation would have seen
		// their values): the first sight of such a write's value, its mod
		// index still unknown, may count them.
		extra := int(kv.Version - s.Version)
		if s.ModIndex != 0 || extra < 0 || s.Slack+extra > slack {
			return s, false
		}
		s.Version = kv.Version
		s.Slack += extra
	}
	// What any stored key satisfies: indexes are set, a key is created at or
	// before its last write, and by that write when it was written once.
	if kv.ModIndex == 0 || kv.CreateIndex == 0 || kv.CreateIndex > kv.ModIndex ||
		(kv.Version == 1) != (kv.CreateIndex == kv.ModIndex) {
		return s, false
	}
	if (s.CreateIndex != 0 && s.CreateIndex != kv.CreateIndex) || (s.ModIndex != 0 && s.ModIndex != kv.ModIndex) {
		return s, false
	}
	s.CreateIndex, s.ModIndex = kv.CreateIndex, kv.ModIndex
	return s, true
}

// written is s after a write of value at index (0: unknown).
func (s keyState) written(value string, index uint64) keyState {
	if !s.Exists {
		return keyState{Exists: true, Value: value, Version: 1, CreateIndex: index, ModIndex: index, Slack: s.Slack}
	}
	return keyState{Exists: true, Value: value, Version: s.Version + 1, CreateIndex: s.CreateIndex, ModIndex: index, Slack: s.Slack}
}

// deleted is s after a delete.
func (s keyState) deleted() keyState { return keyState{Slack: s.Slack} }

// validNewIndex reports whether a write of s's key can have been applied at
// index: later than every write the key remembers.
func (s keyState) validNewIndex(index uint64) bool {
	return index != 0 && index > s.ModIndex && index > s.CreateIndex
}

// count is the number of keys a delete of s removes.
func (s keyState) count() int64 {
	if s.Exists {
		return 1
	}
	return 0
}

// casHolds reports whether in's comparison holds on s, whose indexes are
// known.
func (s keyState) casHolds(in Input) bool {
	if !in.ByModIndex {
		return s.Exists && s.Value == in.ExpectedValue
	}
	if in.ExpectedModIndex == 0 {
		return !s.Exists
	}
	return s.Exists && s.ModIndex == in.ExpectedModIndex
}

type casBranch struct {
	state keyState
	holds bool
}

// casBranches are the ways in's comparison can go on s: one, unless the
// comparison is on a mod index s does not know, which may or may not be the
// expected one.
func (s keyState) casBranches(in Input) []casBranch {
	if !in.ByModIndex || in.ExpectedModIndex == 0 || !s.Exists || s.ModIndex != 0 {
		return []casBranch{{state: s, holds: s.casHolds(in)}}
	}
	if in.ExpectedModIndex < s.CreateIndex || (s.Version > 1 && in.ExpectedModIndex == s.CreateIndex) {
		// A key's mod index is its create index after one write, later after more.
		return []casBranch{{state: s, holds: false}}
	}
	match := s
	match.ModIndex = in.ExpectedModIndex
	if match.Version == 1 {
		match.CreateIndex = in.ExpectedModIndex
	}
	// The other branch keeps the index unknown: "anything but
	// ExpectedModIndex" is wider than the truth by one value, which can only
	// make the model more permissive, never report a false violation.
	return []casBranch{{state: match, holds: true}, {state: s, holds: false}}
}

func (s keyState) String() string {
	desc := "absent"
	if s.Exists {
		desc = fmt.Sprintf("%q v%d create=%s mod=%s", s.Value, s.Version, index(s.CreateIndex), index(s.ModIndex))
	}
	if s.Ended {
		desc += " (ended)"
	}
	return desc
}

func index(i uint64) string {
	if i == 0 {
		return "?"
	}
	return strconv.FormatUint(i, 10)
}

func (kv *KeyValue) String() string {
	if kv == nil {
		return "absent"
	}
	return fmt.Sprintf("%q v%d create=%d mod=%d", kv.Value, kv.Version, kv.CreateIndex, kv.ModIndex)
}

// DescribeOperation renders one operation for failure output, as
// "cas(k1, value=="a" -> "b") -> swapped at 17, was "a" v2 create=3 mod=9".
func DescribeOperation(in Input, out Output) string {
	var b strings.Builder
	switch in.Kind {
	case OpGet:
		fmt.Fprintf(&b, "get(%s)", in.Key)
	case OpPut:
		fmt.Fprintf(&b, "put(%s, %q)", in.Key, in.Value)
	case OpDelete:
		fmt.Fprintf(&b, "delete(%s)", in.Key)
	case OpEnd:
		return fmt.Sprintf("end(%s)", in.Key)
	case OpCAS:
		fmt.Fprintf(&b, "cas(%s, ", in.Key)
		switch {
		case !in.ByModIndex:
			fmt.Fprintf(&b, "value==%q", in.ExpectedValue)
		case in.ExpectedModIndex == 0:
			b.WriteString("absent")
		default:
			fmt.Fprintf(&b, "mod==%d", in.ExpectedModIndex)
		}
		if in.Delete {
			b.WriteString(" -> delete)")
		} else {
			fmt.Fprintf(&b, " -> %q)", in.Value)
		}
	default:
		fmt.Fprintf(&b, "%v(%s)", in.Kind, in.Key)
	}
	b.WriteString(" -> ")
	switch {
	case out.Unknown:
		b.WriteString("unknown")
	case in.Kind == OpGet:
		b.WriteString(out.KV.String())
	case in.Kind == OpCAS && !out.Succeeded:
		fmt.Fprintf(&b, "not swapped, is %s", out.KV)
	case in.Kind == OpDelete || (in.Kind == OpCAS && in.Delete):
		fmt.Fprintf(&b, "deleted %d at %d, was %s", out.Deleted, out.AppliedIndex, out.KV)
	default:
		fmt.Fprintf(&b, "ok at %d, was %s", out.ModIndex, out.KV)
	}
	return b.String()
}

// partitionByKey splits a history into one per key.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string]int)
	var parts [][]porcupine.Operation
	for _, op := range history {
		key := op.Input.(Input).Key
		i, ok := byKey[key]
		if !ok {
			i = len(parts)
			byKey[key] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

// partitionEventsByKey splits an event history into one per key; a return
// event goes where its call went.
func partitionEventsByKey(history []porcupine.Event) [][]porcupine.Event {
	byKey := make(map[string]int)
	partOf := make(map[int]int) // event id -> partition
	var parts [][]porcupine.Event
	for _, e := range history {
		i, ok := partOf[e.Id]
		if !ok {
			key := e.Value.(Input).Key
			if i, ok = byKey[key]; !ok {
				i = len(parts)
				byKey[key] = i
				parts = append(parts, nil)
			}
			partOf[e.Id] = i
		}
		parts[i] = append(parts[i], e)
	}
	return parts
}
