package tracker

import (
	"reflect"
	"testing"
)

// ring builds the buffer contents from index/bytes pairs.
func ring(pairs ...uint64) []inflight {
	out := make([]inflight, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, inflight{index: pairs[i], bytes: pairs[i+1]})
	}
	return out
}

// checkInflights compares every field of got with want.
func checkInflights(t *testing.T, step string, got *Inflights, want Inflights) {
	t.Helper()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", step, *got, want)
	}
}

func TestInflightsAdd(t *testing.T) {
	in := NewInflights(10, 0)
	for i := uint64(0); i < 5; i++ {
		in.Add(i, 100+i)
	}
	checkInflights(t, "after 5 adds", in, Inflights{
		start: 0, count: 5, bytes: 510, size: 10,
		// The buffer grows 1, 2, 4, 8.
		buffer: append(ring(0, 100, 1, 101, 2, 102, 3, 103, 4, 104), make([]inflight, 3)...),
	})
	for i := uint64(5); i < 10; i++ {
		in.Add(i, 100+i)
	}
	checkInflights(t, "after 10 adds", in, Inflights{
		start: 0, count: 10, bytes: 1045, size: 10,
		buffer: ring(0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105, 6, 106, 7, 107, 8, 108, 9, 109),
	})
	if !in.Full() {
		t.Fatal("window of 10 with 10 in flight is not full")
	}
}

func TestInflightsWrapAround(t *testing.T) {
	in := &Inflights{size: 10, start: 5, buffer: make([]inflight, 10)}
	for i := uint64(0); i < 5; i++ {
		in.Add(i, 100+i)
	}
	checkInflights(t, "after 5 adds from start 5", in, Inflights{
		start: 5, count: 5, bytes: 510, size: 10,
		buffer: append(make([]inflight, 5), ring(0, 100, 1, 101, 2, 102, 3, 103, 4, 104)...),
	})
	for i := uint64(5); i < 10; i++ {
		in.Add(i, 100+i)
	}
	checkInflights(t, "after wrapping", in, Inflights{
		start: 5, count: 10, bytes: 1045, size: 10,
		buffer: ring(5, 105, 6, 106, 7, 107, 8, 108, 9, 109, 0, 100, 1, 101, 2, 102, 3, 103, 4, 104),
	})
	in.FreeLE(6)
	if in.start != 2 || in.count != 3 || in.bytes != 7+8+9+300 {
		t.Fatalf("after FreeLE(6) across the wrap: start=%d count=%d bytes=%d", in.start, in.count, in.bytes)
	}
}

// TestInflightsGrowWhileWrapped grows a lazily allocated buffer while the
// window wraps at size, which must keep every position in place.
func TestInflightsGrowWhileWrapped(t *testing.T) {
	in := NewInflights(4, 0)
	for i := uint64(1); i <= 4; i++ {
		in.Add(i, 1)
	}
	in.FreeLE(3)
	in.Add(5, 1) // position 0
	in.Add(6, 1) // position 1
	in.Add(7, 1) // position 2
	if !in.Full() || in.Count() != 4 {
		t.Fatalf("want full window of 4, got count %d", in.Count())
	}
	in.FreeLE(6)
	checkInflights(t, "after wrapping", in, Inflights{
		start: 2, count: 1, bytes: 1, size: 4,
		buffer: ring(5, 1, 6, 1, 7, 1, 4, 1),
	})

	// A buffer that grew only part way.
	in = NewInflights(8, 0)
	in.Add(1, 1)
	in.Add(2, 1)
	in.FreeLE(1) // start=1, len(buffer)=2
	in.Add(3, 1) // position 2: grows to 4
	in.Add(4, 1) // position 3
	in.Add(5, 1) // position 4: grows to 8
	checkInflights(t, "after growing with start=1", in, Inflights{
		start: 1, count: 4, bytes: 4, size: 8,
		buffer: append(ring(1, 1, 2, 1, 3, 1, 4, 1, 5, 1), make([]inflight, 3)...),
	})
}

func TestInflightsFreeLE(t *testing.T) {
	in := NewInflights(10, 0)
	for i := uint64(0); i < 10; i++ {
		in.Add(i, 100+i)
	}
	tests := []struct {
		to        uint64
		wantStart int
		wantCount int
		wantBytes uint64
	}{
		{to: 0, wantStart: 1, wantCount: 9, wantBytes: 945},
		{to: 0, wantStart: 1, wantCount: 9, wantBytes: 945}, // stale
		{to: 4, wantStart: 5, wantCount: 5, wantBytes: 535},
		{to: 8, wantStart: 9, wantCount: 1, wantBytes: 109},
		{to: 100, wantStart: 0, wantCount: 0, wantBytes: 0}, // beyond everything
		{to: 200, wantStart: 0, wantCount: 0, wantBytes: 0}, // on an empty window
	}
	for _, tt := range tests {
		in.FreeLE(tt.to)
		if in.start != tt.wantStart || in.count != tt.wantCount || in.bytes != tt.wantBytes {
			t.Fatalf("FreeLE(%d): start=%d count=%d bytes=%d, want %d %d %d", tt.to,
				in.start, in.count, in.bytes, tt.wantStart, tt.wantCount, tt.wantBytes)
		}
	}

	// A window freed to empty starts over at the front.
	for i := uint64(10); i < 15; i++ {
		in.Add(i, 1)
	}
	if in.start != 0 || in.count != 5 {
		t.Fatalf("start=%d count=%d, want 0 5", in.start, in.count)
	}
}

func TestInflightsFull(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		maxBytes uint64
		adds     []uint64 // bytes of each Add; indexes are 1, 2, ...
		freeLE   uint64
		want     bool
	}{
		{"empty", 3, 0, nil, 0, false},
		{"count below size", 3, 0, []uint64{1, 1}, 0, false},
		{"count at size", 3, 0, []uint64{1, 1, 1}, 0, true},
		{"freed below size", 3, 0, []uint64{1, 1, 1}, 1, false},
		{"bytes below limit", 10, 100, []uint64{30, 30, 39}, 0, false},
		{"bytes at limit", 10, 100, []uint64{30, 30, 40}, 0, true},
		{"bytes above limit", 10, 100, []uint64{30, 30, 300}, 0, true},
		{"bytes freed below limit", 10, 100, []uint64{30, 30, 40}, 1, false},
		{"no byte limit", 10, 0, []uint64{1 << 40, 1 << 40}, 0, false},
		{"zero-byte messages", 2, 10, []uint64{0, 0}, 0, true},
		{"size zero is always full", 0, 0, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewInflights(tt.size, tt.maxBytes)
			for i, b := range tt.adds {
				in.Add(uint64(i+1), b)
			}
			in.FreeLE(tt.freeLE)
			if got := in.Full(); got != tt.want {
				t.Errorf("Full() = %t, want %t (count=%d bytes=%d)", got, tt.want, in.Count(), in.Bytes())
			}
		})
	}
}

func TestInflightsAddPanicsWhenFull(t *testing.T) {
	for _, in := range []*Inflights{NewInflights(1, 0), NewInflights(5, 10)} {
		in.Add(1, 10)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add on a full window did not panic")
				}
			}()
			in.Add(2, 1)
		}()
	}
}

func TestInflightsResetAndClone(t *testing.T) {
	in := NewInflights(4, 100)
	in.Add(1, 10)
	in.Add(2, 20)
	c := in.Clone()
	in.Reset()
	if in.Count() != 0 || in.Bytes() != 0 || in.Full() {
		t.Fatalf("after Reset: count=%d bytes=%d full=%t", in.Count(), in.Bytes(), in.Full())
	}
	if len(in.buffer) != 2 {
		t.Errorf("Reset dropped the buffer: len %d", len(in.buffer))
	}
	if c.Count() != 2 || c.Bytes() != 30 {
		t.Fatalf("clone changed by Reset of the original: count=%d bytes=%d", c.Count(), c.Bytes())
	}
	in.Add(7, 1)
	if c.buffer[0].index != 1 {
		t.Fatalf("clone shares its buffer with the original")
	}
	if (*Inflights)(nil).Clone() != nil {
		t.Fatalf("nil.Clone() != nil")
	}
}
