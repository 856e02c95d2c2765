package linearizability

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the result of Check.
type Verdict struct {
	// Result is porcupine's: Ok, Illegal, or Unknown when the check timed out.
	Result porcupine.CheckResult
	// IllegalKeys are the keys whose operations are not linearizable.
	IllegalKeys []string
	// Explanations say, for each illegal key, how far the longest
	// linearization got and which operation it could not place.
	Explanations []string
	// Visualization is the HTML file the visualization was written to; set only
	// when Result is Illegal.
	Visualization string
}

// Check checks history against Model within timeout (0: no limit). When the
// history is not linearizable it writes porcupine's visualization (each key's
// operations with the longest linearization found, and the annotations) to
// vizPath. The error reports only a failure to write the visualization.
func Check(history []porcupine.Operation, annotations []porcupine.Annotation, timeout time.Duration, vizPath string) (Verdict, error) {
	history = Prepare(history)
	deadline := time.Now().Add(timeout)
	res := porcupine.CheckOperationsTimeout(Model, history, timeout)
	v := Verdict{Result: res}
	if res != porcupine.Illegal {
		return v, nil
	}
	left := func() time.Duration {
		if timeout == 0 {
			return 0
		}
		return max(time.Until(deadline), time.Second)
	}
	for _, part := range partitionByKey(history) {
		if porcupine.CheckOperationsTimeout(Model, part, left()) == porcupine.Illegal {
			v.IllegalKeys = append(v.IllegalKeys, part[0].Input.(Input).Key)
			v.Explanations = append(v.Explanations, explain(part, left()))
		}
	}
	// The verbose check explores every partition fully, to show the longest
	// linearizations; that can take longer than the verdict did.
	_, info := porcupine.CheckOperationsVerbose(Model, history, left())
	info.AddAnnotations(annotations)
	if err := os.MkdirAll(filepath.Dir(vizPath), 0o750); err != nil {
		return v, fmt.Errorf("write visualization: %w", err)
	}
	if err := porcupine.VisualizePath(Model, info, vizPath); err != nil {
		return v, fmt.Errorf("write visualization %s: %w", vizPath, err)
	}
	v.Visualization = vizPath
	return v, nil
}

// explain describes where the longest linearization of part, one key's
// operations, gets stuck.
func explain(part []porcupine.Operation, timeout time.Duration) string {
	key := part[0].Input.(Input).Key
	_, info := porcupine.CheckOperationsVerbose(Model, part, timeout)
	var longest []int
	for _, partition := range info.PartialLinearizations() {
		for _, ids := range partition {
			if len(ids) > len(longest) {
				longest = ids
			}
		}
	}
	state := Model.Init()
	placed := make(map[int]bool, len(longest))
	for _, id := range longest {
		_, state = Model.Step(state, part[id].Input, part[id].Output)
		placed[id] = true
	}
	stuck := -1
	for id, op := range part {
		if !placed[id] && (stuck < 0 || op.Return < part[stuck].Return) {
			stuck = id
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the longest linearization places %d of %d operations", key, len(longest), len(part))
	if n := len(longest); n > 0 {
		fmt.Fprintf(&b, ", the last %s", describe(part[longest[n-1]]))
	}
	fmt.Fprintf(&b, ", leaving the key %s", Model.DescribeState(state))
	if stuck >= 0 {
		fmt.Fprintf(&b, "; it cannot place %s", describe(part[stuck]))
	}
	return b.String()
}

// Prepare turns a recorded history into the one Model checks, in two steps
// that keep operations with unknown outcomes from making the check
// exponential in their number.
//
// First it leaves out, key by key, every Put and swapping CAS with an unknown
// outcome whose value no answer shows (nor any CAS expects): with unique
// values, most of them are writes that were lost with a leader. If such a
// write was applied, the operation applied next did not see its value, so was
// itself one with an unknown outcome (any other shows the key as it was), and
// the only trace left is the version that operation's value is first seen
// with: one higher per left-out write before it. Model allows that (see
// Input.Slack). A key with a CAS of unknown outcome on a mod index that is
// not the mod index of a seen value or of a known write keeps all its
// operations: a left-out write could have had it.
//
// Then it appends, for every key, an OpEnd operation that starts after every
// operation started and every one that returned did: the point after which
// Model lets the operations that never returned take no effect.
func Prepare(history []porcupine.Operation) []porcupine.Operation {
	var out []porcupine.Operation
	for _, part := range partitionByKey(history) {
		out = append(out, prepareKey(part)...)
	}
	return addEnd(out)
}

// prepareKey leaves the writes out of one key's history, and sets Slack.
func prepareKey(part []porcupine.Operation) []porcupine.Operation {
	values := make(map[string]bool)
	indexes := make(map[uint64]bool)
	for _, op := range part {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Kind == OpCAS && !in.ByModIndex {
			values[in.ExpectedValue] = true
		}
		// Only mod indexes name a write whose value was seen (or which is
		// known); a create index may be a left-out write's.
		if kv := out.KV; kv != nil && !out.Unknown {
			values[kv.Value] = true
			indexes[kv.ModIndex] = true
		}
		if !out.Unknown {
			indexes[out.ModIndex] = true
		}
	}
	var kept []porcupine.Operation
	var leftOut []int64 // call times
	for _, op := range part {
		in, out := op.Input.(Input), op.Output.(Output)
		if out.Unknown && in.Kind == OpCAS && in.ByModIndex && in.ExpectedModIndex != 0 && !indexes[in.ExpectedModIndex] {
			return part
		}
		if out.Unknown && (in.Kind == OpPut || (in.Kind == OpCAS && !in.Delete)) && !values[in.Value] {
			leftOut = append(leftOut, op.Call)
			continue
		}
		kept = append(kept, op)
	}
	if len(leftOut) == 0 {
		return part
	}
	slices.Sort(leftOut)
	for i, op := range kept {
		in := op.Input.(Input)
		in.Slack = countAtMost(leftOut, op.Return)
		op.Input = in
		kept[i] = op
	}
	return kept
}

// countAtMost is the number of elements of sorted that are at most v.
func countAtMost(sorted []int64, v int64) int {
	n, _ := slices.BinarySearchFunc(sorted, v, func(e, v int64) int {
		if e <= v {
			return -1
		}
		return 1
	})
	return n
}

// addEnd returns history followed by an OpEnd operation for every key.
func addEnd(history []porcupine.Operation) []porcupine.Operation {
	var (
		last   int64
		client int
		keys   []string
		seen   = make(map[string]bool)
	)
	for _, op := range history {
		last = max(last, op.Call)
		if op.Return != math.MaxInt64 {
			last = max(last, op.Return)
		}
		client = max(client, op.ClientId+1)
		if key := op.Input.(Input).Key; !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	out := slices.Clip(history)
	for _, key := range keys {
		out = append(out, porcupine.Operation{
			ClientId: client, Input: Input{Kind: OpEnd, Key: key}, Call: last + 1, Output: Output{}, Return: last + 1,
		})
	}
	return out
}

// CheckWriteOrder checks what porcupine's per-key partitions cannot see: that
// the Raft indexes of acknowledged writes, whatever their keys, are distinct
// and follow real time. A write called after another returned was proposed
// after that one was committed, so it must be applied at a later index. It
// returns one description per violation.
func CheckWriteOrder(history []porcupine.Operation) []string {
	type write struct {
		op    porcupine.Operation
		index uint64
	}
	var writes []write
	for _, op := range history {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Kind == OpGet || in.Kind == OpEnd || out.Unknown {
			continue
		}
		writes = append(writes, write{op: op, index: out.AppliedIndex})
	}
	var problems []string
	byIndex := make(map[uint64]porcupine.Operation, len(writes))
	for _, w := range writes {
		if other, dup := byIndex[w.index]; dup {
			problems = append(problems, fmt.Sprintf("two writes answered as applied at index %d: %s and %s",
				w.index, describe(other), describe(w.op)))
		}
		byIndex[w.index] = w.op
	}
	// Sweep the writes by call time, keeping the latest-indexed write among
	// those that returned before the current call.
	byReturn := slices.Clone(writes)
	slices.SortFunc(byReturn, func(a, b write) int { return cmp.Compare(a.op.Return, b.op.Return) })
	slices.SortFunc(writes, func(a, b write) int { return cmp.Compare(a.op.Call, b.op.Call) })
	var before *write
	next := 0
	for _, w := range writes {
		for next < len(byReturn) && byReturn[next].op.Return < w.op.Call {
			if before == nil || byReturn[next].index > before.index {
				before = &byReturn[next]
			}
			next++
		}
		if before != nil && before.index >= w.index {
			problems = append(problems, fmt.Sprintf("%s was called after %s returned but applied at an earlier index",
				describe(w.op), describe(before.op)))
		}
	}
	return problems
}

// describe renders an operation with its client and times.
func describe(op porcupine.Operation) string {
	ret := "never returned"
	if op.Return != math.MaxInt64 {
		ret = "returned " + time.Duration(op.Return).String()
	}
	return fmt.Sprintf("[%s; client %d, called %v, %s]", DescribeOperation(op.Input.(Input), op.Output.(Output)),
		op.ClientId, time.Duration(op.Call), ret)
}
