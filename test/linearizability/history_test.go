package linearizability

import (
	"math"
	"testing"
)

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	s := r.Session()
	other := r.Session()

	s.Do(Input{Kind: OpPut, Key: "k", Value: "a"}, func() (Output, Outcome, string) {
		return Output{Succeeded: true, ModIndex: 5, AppliedIndex: 5}, Completed, ""
	})
	s.Do(Input{Kind: OpPut, Key: "k", Value: "b"}, func() (Output, Outcome, string) {
		return Output{}, NotApplied, "not sent"
	})
	s.Do(Input{Kind: OpPut, Key: "k", Value: "c"}, func() (Output, Outcome, string) {
		// Whatever the caller had is replaced: nothing is known.
		return Output{Succeeded: true, ModIndex: 9}, Unknown, "deadline exceeded"
	})
	s.Do(Input{Kind: OpGet, Key: "k"}, func() (Output, Outcome, string) {
		return Output{KV: kvAt("c", 2, 5, 9)}, Completed, ""
	})
	other.Do(Input{Kind: OpGet, Key: "k"}, func() (Output, Outcome, string) {
		return Output{}, NotApplied, "unavailable"
	})

	h := r.History()
	if len(h) != 3 {
		t.Fatalf("history has %d operations, want 3 (the not-applied ones dropped): %s", len(h), describeHistory(h))
	}
	for i, op := range h {
		if op.Call > op.Return {
			t.Errorf("operation %d returns (%d) before its call (%d)", i, op.Return, op.Call)
		}
		if i > 0 && op.Call < h[i-1].Call {
			t.Errorf("operation %d called before operation %d of the same session", i, i-1)
		}
	}
	unknown := h[1]
	if unknown.Return != math.MaxInt64 || unknown.Output != (Output{Unknown: true}) || unknown.Metadata != "deadline exceeded" {
		t.Errorf("unknown outcome recorded as %+v, want a never-returning operation with an unknown output and its note", unknown)
	}
	if h[0].ClientId != h[1].ClientId || h[2].ClientId == h[1].ClientId || h[2].ClientId == other.client {
		t.Errorf("client ids %d %d %d (other session %d): want the session to move to a new id after an unknown outcome",
			h[0].ClientId, h[1].ClientId, h[2].ClientId, other.client)
	}
	st := r.Stats()
	if st.Completed != 2 || st.Unknown != 1 || st.NotApplied != 2 || st.ByKind[OpPut] != 2 || st.ByKind[OpGet] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if v, err := Check(h, nil, 0, ""); err != nil || v.Result != "Ok" {
		t.Errorf("Check = %+v, %v; want Ok", v, err)
	}
}
