package linearizability

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Builders of hand-made histories. Times are abstract; never means the
// operation's outcome is unknown.
const never = math.MaxInt64

func kvAt(value string, version int64, create, mod uint64) *KeyValue {
	return &KeyValue{Value: value, Version: version, CreateIndex: create, ModIndex: mod}
}

func opAt(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	if ret == never {
		out = Output{Unknown: true}
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func get(client int, call, ret int64, key string, kv *KeyValue) porcupine.Operation {
	return opAt(client, call, ret, Input{Kind: OpGet, Key: key}, Output{KV: kv})
}

// put is a Put of value applied at index over prev.
func put(client int, call, ret int64, key, value string, index uint64, prev *KeyValue) porcupine.Operation {
	return opAt(client, call, ret, Input{Kind: OpPut, Key: key, Value: value},
		Output{KV: prev, Succeeded: true, ModIndex: index, AppliedIndex: index})
}

func del(client int, call, ret int64, key string, index uint64, prev *KeyValue) porcupine.Operation {
	var deleted int64
	if prev != nil {
		deleted = 1
	}
	return opAt(client, call, ret, Input{Kind: OpDelete, Key: key},
		Output{KV: prev, Succeeded: true, Deleted: deleted, AppliedIndex: index})
}

// casValue is a CAS from expected to value; when it swapped, it did so at
// index, else index is just where it was applied.
func casValue(client int, call, ret int64, key, expected, value string, swapped bool, index uint64, prev *KeyValue) porcupine.Operation {
	return cas(client, call, ret, Input{Kind: OpCAS, Key: key, ExpectedValue: expected, Value: value}, swapped, index, prev)
}

func casMod(client int, call, ret int64, key string, expected uint64, value string, swapped bool, index uint64, prev *KeyValue) porcupine.Operation {
	return cas(client, call, ret, Input{Kind: OpCAS, Key: key, ByModIndex: true, ExpectedModIndex: expected, Value: value}, swapped, index, prev)
}

func cas(client int, call, ret int64, in Input, swapped bool, index uint64, prev *KeyValue) porcupine.Operation {
	out := Output{KV: prev, Succeeded: swapped, AppliedIndex: index}
	switch {
	case !swapped && prev != nil:
		out.ModIndex = prev.ModIndex
	case swapped && in.Delete:
		if prev != nil {
			out.Deleted = 1
		}
	case swapped:
		out.ModIndex = index
	}
	return opAt(client, call, ret, in, out)
}

func TestModel(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{
			name: "put then get",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 5, 5)),
			},
			want: true,
		},
		{
			name: "get concurrent with put may miss it",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				get(1, 5, 15, "k", nil),
				get(2, 20, 30, "k", kvAt("a", 1, 5, 5)),
			},
			want: true,
		},
		{
			name: "stale read after the put returned",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				get(1, 20, 30, "k", nil),
			},
			want: false,
		},
		{
			name: "reads go back in time",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(0, 20, 30, "k", "b", 7, kvAt("a", 1, 5, 5)),
				get(1, 21, 40, "k", kvAt("b", 2, 5, 7)),
				get(2, 41, 50, "k", kvAt("a", 1, 5, 5)),
			},
			want: false,
		},
		{
			name: "acknowledged write lost: the final read shows the value before it",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, 30, "k", "b", 9, kvAt("a", 1, 5, 5)),
				get(2, 100, 110, "k", kvAt("a", 1, 5, 5)),
			},
			want: false,
		},
		{
			name: "write applied twice: the version counts it twice",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				get(1, 20, 30, "k", kvAt("a", 2, 5, 6)),
			},
			want: false,
		},
		{
			name: "put answers with a previous value that was never there",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, kvAt("zzz", 1, 3, 3)),
			},
			want: false,
		},
		{
			name: "mod index goes backwards",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(0, 20, 30, "k", "b", 4, kvAt("a", 1, 5, 5)),
			},
			want: false,
		},
		{
			name: "read disagrees with the index the put reported",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 6, 6)),
			},
			want: false,
		},
		{
			name: "unknown put seen later",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 8, 8)),
				get(1, 40, 50, "k", kvAt("a", 1, 8, 8)),
			},
			want: true,
		},
		{
			name: "unknown put never seen",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				get(1, 20, 30, "k", nil),
				put(1, 40, 50, "k", "b", 9, nil),
				get(1, 60, 70, "k", kvAt("b", 1, 9, 9)),
			},
			want: true,
		},
		{
			name: "unknown put seen, then gone without another write",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 8, 8)),
				get(1, 40, 50, "k", nil),
			},
			want: false,
		},
		{
			name: "unknown put seen before it was called",
			history: []porcupine.Operation{
				get(1, 0, 10, "k", kvAt("a", 1, 8, 8)),
				put(0, 20, never, "k", "a", 0, nil),
			},
			want: false,
		},
		{
			name: "unknown put's index learned from one read must hold for the next",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 8, 8)),
				get(1, 40, 50, "k", kvAt("a", 1, 9, 9)),
			},
			want: false,
		},
		{
			name: "concurrent CAS: one swaps, the other sees its value",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				casValue(1, 20, 40, "k", "a", "b", true, 7, kvAt("a", 1, 5, 5)),
				casValue(2, 20, 40, "k", "a", "c", false, 8, kvAt("b", 2, 5, 7)),
				get(0, 50, 60, "k", kvAt("b", 2, 5, 7)),
			},
			want: true,
		},
		{
			name: "concurrent CAS both swap from the same value",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				casValue(1, 20, 40, "k", "a", "b", true, 7, kvAt("a", 1, 5, 5)),
				casValue(2, 20, 40, "k", "a", "c", true, 8, kvAt("a", 1, 5, 5)),
			},
			want: false,
		},
		{
			name: "CAS fails although its comparison held",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				casValue(1, 20, 40, "k", "a", "b", false, 7, kvAt("a", 1, 5, 5)),
			},
			want: false,
		},
		{
			name: "create-only CAS, then CAS on the mod index, then CAS delete",
			history: []porcupine.Operation{
				casMod(0, 0, 10, "k", 0, "a", true, 5, nil),
				casMod(1, 5, 15, "k", 0, "x", false, 6, kvAt("a", 1, 5, 5)),
				casMod(0, 20, 30, "k", 5, "b", true, 7, kvAt("a", 1, 5, 5)),
				casMod(1, 20, 30, "k", 5, "y", false, 8, kvAt("b", 2, 5, 7)),
				cas(0, 40, 50, Input{Kind: OpCAS, Key: "k", ExpectedValue: "b", Delete: true}, true, 9, kvAt("b", 2, 5, 7)),
				get(1, 60, 70, "k", nil),
			},
			want: true,
		},
		{
			name: "CAS on a stale mod index swaps",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(0, 20, 30, "k", "b", 7, kvAt("a", 1, 5, 5)),
				casMod(1, 40, 50, "k", 5, "c", true, 9, kvAt("b", 2, 5, 7)),
			},
			want: false,
		},
		{
			name: "unknown CAS whose swap is never seen",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				casMod(1, 20, never, "k", 5, "c", false, 0, nil),
				get(2, 30, 40, "k", kvAt("a", 1, 5, 5)),
			},
			want: true,
		},
		{
			name: "unknown CAS on a mod index learned only later",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				casMod(2, 10, never, "k", 8, "c", false, 0, nil),
				get(1, 20, 30, "k", kvAt("c", 2, 8, 12)),
			},
			want: true,
		},
		{
			name: "unknown CAS cannot swap on a mod index the key never had",
			history: []porcupine.Operation{
				put(0, 0, never, "k", "a", 0, nil),
				casMod(2, 10, never, "k", 8, "c", false, 0, nil),
				get(1, 20, 30, "k", kvAt("a", 1, 7, 7)),
				get(1, 40, 50, "k", kvAt("c", 2, 7, 12)),
			},
			want: false,
		},
		{
			name: "unknown CAS that cannot swap, unknown delete of an absent key",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				casValue(1, 20, never, "k", "zzz", "b", false, 0, nil),
				casMod(2, 20, never, "k", 0, "c", false, 0, nil),
				get(0, 30, 40, "k", kvAt("a", 1, 5, 5)),
				del(0, 50, 60, "k", 7, kvAt("a", 1, 5, 5)),
				del(1, 70, never, "k", 0, nil),
				get(0, 80, 90, "k", nil),
			},
			want: true,
		},
		{
			name: "unknown writes never seen, applied right before one that is",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, never, "k", "u1", 0, nil),
				casValue(2, 20, never, "k", "a", "u2", false, 0, nil),
				put(3, 20, never, "k", "x", 0, nil),
				get(0, 30, 40, "k", kvAt("x", 4, 5, 9)),
				put(0, 50, 60, "k", "y", 10, kvAt("x", 4, 5, 9)),
				get(0, 70, 80, "k", kvAt("y", 5, 5, 10)),
			},
			want: true,
		},
		{
			name: "more versions than unknown writes",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, never, "k", "u1", 0, nil),
				put(3, 20, never, "k", "x", 0, nil),
				get(0, 30, 40, "k", kvAt("x", 4, 5, 9)),
			},
			want: false,
		},
		{
			name: "an unknown write explains one version only, also across a delete",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, never, "k", "u1", 0, nil),
				put(3, 20, never, "k", "x", 0, nil),
				get(0, 30, 40, "k", kvAt("x", 3, 5, 9)),
				del(0, 50, 60, "k", 10, kvAt("x", 3, 5, 9)),
				put(3, 70, never, "k", "y", 0, nil),
				get(0, 80, 90, "k", kvAt("y", 2, 11, 12)),
			},
			want: false,
		},
		{
			name: "an unknown write called after the read cannot explain its version",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(3, 20, never, "k", "x", 0, nil),
				get(0, 30, 40, "k", kvAt("x", 3, 5, 9)),
				put(1, 50, never, "k", "u1", 0, nil),
			},
			want: false,
		},
		{
			name: "unknown writes cannot hide a version jump of a known write",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, never, "k", "u1", 0, nil),
				get(0, 30, 40, "k", kvAt("a", 2, 5, 5)),
			},
			want: false,
		},
		{
			name: "a CAS on an unseen mod index keeps every write",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(1, 20, never, "k", "u1", 0, nil),
				casMod(2, 20, never, "k", 7, "x", false, 0, nil),
				get(0, 30, 40, "k", kvAt("x", 3, 5, 9)),
			},
			want: true,
		},
		{
			name: "delete and recreate restarts the version",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				put(0, 20, 30, "k", "b", 6, kvAt("a", 1, 5, 5)),
				del(0, 40, 50, "k", 7, kvAt("b", 2, 5, 6)),
				del(1, 60, 70, "k", 8, nil),
				put(0, 80, 90, "k", "c", 9, nil),
				get(1, 100, 110, "k", kvAt("c", 1, 9, 9)),
			},
			want: true,
		},
		{
			name: "recreated key keeps the old version",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				del(0, 40, 50, "k", 7, kvAt("a", 1, 5, 5)),
				put(0, 80, 90, "k", "c", 9, nil),
				get(1, 100, 110, "k", kvAt("c", 2, 5, 9)),
			},
			want: false,
		},
		{
			name: "unknown delete seen",
			history: []porcupine.Operation{
				put(0, 0, 10, "k", "a", 5, nil),
				del(1, 20, never, "k", 0, nil),
				get(0, 30, 40, "k", nil),
				get(0, 50, 60, "k", nil),
			},
			want: true,
		},
		{
			name: "keys are independent",
			history: []porcupine.Operation{
				put(0, 0, 10, "k1", "a", 5, nil),
				put(1, 0, 10, "k2", "a", 6, nil),
				get(2, 20, 30, "k1", kvAt("a", 1, 5, 5)),
				get(2, 40, 50, "k2", kvAt("a", 1, 6, 6)),
				get(2, 60, 70, "k3", nil),
			},
			want: true,
		},
		{
			name: "violation on one key of several",
			history: []porcupine.Operation{
				put(0, 0, 10, "k1", "a", 5, nil),
				put(1, 0, 10, "k2", "a", 6, nil),
				get(2, 20, 30, "k1", kvAt("a", 1, 5, 5)),
				get(2, 40, 50, "k2", nil),
			},
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Prepare(tt.history)
			if got := porcupine.CheckOperations(Model, h); got != tt.want {
				t.Errorf("linearizable = %v, want %v; history:\n%s", got, tt.want, describeHistory(h))
			}
			if got := porcupine.CheckEvents(Model, toEvents(h)); got != tt.want {
				t.Errorf("as events: linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}

// toEvents turns operations into porcupine's event form, to check
// PartitionEvent too.
func toEvents(history []porcupine.Operation) []porcupine.Event {
	type stamped struct {
		at int64
		e  porcupine.Event
	}
	var all []stamped
	for id, op := range history {
		all = append(all,
			stamped{op.Call, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.CallEvent, Value: op.Input, Id: id}},
			stamped{op.Return, porcupine.Event{ClientId: op.ClientId, Kind: porcupine.ReturnEvent, Value: op.Output, Id: id}})
	}
	// Calls before returns at equal times, as porcupine orders operations.
	less := func(a, b stamped) bool {
		if a.at != b.at {
			return a.at < b.at
		}
		return a.e.Kind == porcupine.CallEvent && b.e.Kind == porcupine.ReturnEvent
	}
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && less(all[j], all[j-1]); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	events := make([]porcupine.Event, len(all))
	for i, s := range all {
		events[i] = s.e
	}
	return events
}

func describeHistory(history []porcupine.Operation) string {
	var b strings.Builder
	for _, op := range history {
		b.WriteString("  ")
		b.WriteString(describe(op))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestModelManyUnknowns checks that operations with unknown outcomes do not
// make the search exponential: an illegal history must be rejected, which
// means exploring every linearization. Without Prepare's and the model's
// precautions this takes longer than the timeout.
func TestModelManyUnknowns(t *testing.T) {
	history := []porcupine.Operation{put(0, 0, 10, "k", "a", 5, nil)}
	client := 1
	for i := range 20 {
		call := int64(20 + i)
		history = append(history,
			casValue(client, call, never, "k", "nope", fmt.Sprint("c", i), false, 0, nil),
			put(client+1, call, never, "k", fmt.Sprint("p", i), 0, nil),
			del(client+2, call, never, "absent", 0, nil),
			cas(client+3, call, never, Input{Kind: OpCAS, Key: "absent", ByModIndex: true, Delete: true}, false, 0, nil))
		client += 4
	}
	prev := kvAt("a", 1, 5, 5)
	for i := range 100 {
		call := int64(100 + 20*i)
		history = append(history, get(0, call, call+10, "k", prev), get(0, call, call+10, "absent", nil))
	}
	history = append(history, get(0, 5000, 5010, "k", nil)) // stale
	start := time.Now()
	if res := porcupine.CheckOperationsTimeout(Model, Prepare(history), 20*time.Second); res != porcupine.Illegal {
		t.Fatalf("check = %v after %v, want Illegal", res, time.Since(start))
	}
}

func TestDescribeOperation(t *testing.T) {
	tests := []struct {
		op   porcupine.Operation
		want string
	}{
		{get(0, 0, 1, "k", nil), `get(k) -> absent`},
		{get(0, 0, 1, "k", kvAt("a", 2, 3, 9)), `get(k) -> "a" v2 create=3 mod=9`},
		{put(0, 0, 1, "k", "b", 12, kvAt("a", 2, 3, 9)), `put(k, "b") -> ok at 12, was "a" v2 create=3 mod=9`},
		{put(0, 0, never, "k", "b", 0, nil), `put(k, "b") -> unknown`},
		{del(0, 0, 1, "k", 12, nil), `delete(k) -> deleted 0 at 12, was absent`},
		{casValue(0, 0, 1, "k", "a", "b", true, 12, kvAt("a", 1, 9, 9)), `cas(k, value=="a" -> "b") -> ok at 12, was "a" v1 create=9 mod=9`},
		{casMod(0, 0, 1, "k", 0, "b", false, 12, kvAt("a", 1, 9, 9)), `cas(k, absent -> "b") -> not swapped, is "a" v1 create=9 mod=9`},
		{casMod(0, 0, never, "k", 9, "b", false, 0, nil), `cas(k, mod==9 -> "b") -> unknown`},
		{cas(0, 0, 1, Input{Kind: OpCAS, Key: "k", ExpectedValue: "a", Delete: true}, true, 12, kvAt("a", 1, 9, 9)),
			`cas(k, value=="a" -> delete) -> deleted 1 at 12, was "a" v1 create=9 mod=9`},
	}
	for _, tt := range tests {
		if got := DescribeOperation(tt.op.Input.(Input), tt.op.Output.(Output)); got != tt.want {
			t.Errorf("DescribeOperation = %s, want %s", got, tt.want)
		}
	}
	if got, want := (keyState{Exists: true, Value: "a", Version: 2, CreateIndex: 3}).String(), `"a" v2 create=3 mod=?`; got != want {
		t.Errorf("state = %s, want %s", got, want)
	}
}

func TestCheckWritesVisualization(t *testing.T) {
	history := []porcupine.Operation{
		put(0, 0, 10, "k1", "a", 5, nil),
		get(1, 20, 30, "k1", kvAt("a", 1, 5, 5)),
		put(0, 0, 10, "k2", "a", 6, nil),
		get(1, 20, 30, "k2", nil), // stale
	}
	path := filepath.Join(t.TempDir(), "viz.html")
	v, err := Check(history, nil, 0, path)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != porcupine.Illegal || len(v.IllegalKeys) != 1 || v.IllegalKeys[0] != "k2" || v.Visualization != path {
		t.Fatalf("Check = %+v, want Illegal on k2 with a visualization", v)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `get(k2)`) {
		t.Errorf("the visualization does not describe the operations")
	}

	v, err = Check(history[:2], nil, 0, filepath.Join(t.TempDir(), "none.html"))
	if err != nil || v.Result != porcupine.Ok || v.Visualization != "" {
		t.Fatalf("Check(linearizable) = %+v, %v; want Ok without a visualization", v, err)
	}
}

func TestCheckWriteOrder(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    int
	}{
		{
			name: "indexes follow real time across keys",
			history: []porcupine.Operation{
				put(0, 0, 10, "k1", "a", 5, nil),
				put(1, 5, 15, "k2", "a", 4, nil), // concurrent: any order
				put(2, 20, 30, "k3", "a", 6, nil),
				put(3, 25, never, "k3", "b", 0, nil),
				get(3, 40, 50, "k3", kvAt("a", 1, 6, 6)),
			},
			want: 0,
		},
		{
			name: "a later write at an earlier index",
			history: []porcupine.Operation{
				put(0, 0, 10, "k1", "a", 5, nil),
				put(1, 20, 30, "k2", "a", 4, nil),
			},
			want: 1,
		},
		{
			name: "two writes at one index",
			history: []porcupine.Operation{
				put(0, 0, 10, "k1", "a", 5, nil),
				del(1, 0, 10, "k2", 5, nil),
			},
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckWriteOrder(tt.history); len(got) != tt.want {
				t.Errorf("CheckWriteOrder found %d problems, want %d: %q", len(got), tt.want, got)
			}
		})
	}
}
