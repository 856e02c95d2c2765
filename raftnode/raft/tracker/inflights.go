package tracker

// inflight is one MsgApp sent to a follower and not yet acknowledged.
type inflight struct {
	index uint64 // the last entry index the MsgApp carried
	bytes uint64 // the payload size of the MsgApp's entries
}

// Inflights bounds the MsgApps in flight to one follower, by count and by
// bytes, so that a leader does not flood a slow follower (or its own outgoing
// buffers). It is a ring buffer of the MsgApps sent, in increasing index
// order; an acknowledgement frees every MsgApp up to the acknowledged index.
//
// The ring buffer grows lazily, doubling up to size: most followers keep only a
// few messages in flight, and preallocating size slots for each of them would
// waste memory in large clusters with generous limits.
type Inflights struct {
	// start is the buffer position of the oldest inflight.
	// Invariant: 0 <= start < size, or start == 0 when count == 0.
	start int
	// count is how many MsgApps are in flight.
	// Invariant: 0 <= count <= size.
	count int
	// bytes is the sum of the bytes of the MsgApps in flight.
	bytes uint64

	// size is the most MsgApps allowed in flight.
	size int
	// maxBytes is the most bytes allowed in flight; 0 means no limit. The limit
	// is soft: a single MsgApp is admitted whenever the window is not yet full,
	// so bytes may end up above maxBytes by at most one message.
	maxBytes uint64

	// buffer holds the inflights at positions start, start+1, ... modulo size.
	// Invariant: len(buffer) <= size; a position at or beyond len(buffer) is
	// never in use (the buffer grows before such a position is written).
	// Invariant: the indexes in flight are strictly increasing from start.
	buffer []inflight
}

// NewInflights returns an empty window admitting size MsgApps and maxBytes
// bytes in flight (maxBytes 0: no byte limit).
func NewInflights(size int, maxBytes uint64) *Inflights {
	return &Inflights{size: size, maxBytes: maxBytes}
}

// Clone returns a deep copy of in, or nil for a nil in.
func (in *Inflights) Clone() *Inflights {
	if in == nil {
		return nil
	}
	c := *in
	c.buffer = append([]inflight(nil), in.buffer...)
	return &c
}

// Add records a MsgApp whose last entry is index and whose entries weigh bytes.
// The index must be above every index in flight. Add panics if the window is
// Full: the caller must check before sending.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		panic("tracker: Inflights.Add called on a full window")
	}
	next := in.start + in.count
	if next >= in.size {
		next -= in.size
	}
	if next >= len(in.buffer) {
		in.grow()
	}
	in.buffer[next] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// grow doubles the buffer, up to size. Positions do not move: the ring wraps at
// size, not at len(buffer), so the used positions are the same before and after.
func (in *Inflights) grow() {
	newSize := len(in.buffer) * 2
	if newSize == 0 {
		newSize = 1
	}
	if newSize > in.size {
		newSize = in.size
	}
	buf := make([]inflight, newSize)
	copy(buf, in.buffer)
	in.buffer = buf
}

// FreeLE frees the MsgApps whose last index is at most to: the follower has
// acknowledged them. Indexes beyond everything in flight free everything.
func (in *Inflights) FreeLE(to uint64) {
	if in.count == 0 || to < in.buffer[in.start].index {
		return // nothing to free, or a stale acknowledgement
	}
	pos := in.start
	freed := 0
	var bytes uint64
	for freed < in.count && in.buffer[pos].index <= to {
		bytes += in.buffer[pos].bytes
		freed++
		if pos++; pos >= in.size {
			pos -= in.size
		}
	}
	in.count -= freed
	in.bytes -= bytes
	in.start = pos
	if in.count == 0 {
		// Start over at the front so that a window that keeps emptying
		// stays within the part of the buffer already grown.
		in.start = 0
	}
}

// Full reports whether no more MsgApps may be sent: size of them are in flight,
// or (with a byte limit) their bytes reached maxBytes.
func (in *Inflights) Full() bool {
	return in.count == in.size || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

// Count returns how many MsgApps are in flight.
func (in *Inflights) Count() int { return in.count }

// Bytes returns the bytes of the MsgApps in flight.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// Reset frees everything in flight. The buffer is kept for reuse.
func (in *Inflights) Reset() {
	in.start = 0
	in.count = 0
	in.bytes = 0
}
