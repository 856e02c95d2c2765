package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
)

const (
	envelopeMagic  = 'R'
	envelopeHeader = 1 + 8 + 8
)

// appendEnvelope marshals cmd into the data of a normal entry: the envelope
// header, then the command, in one buffer.
func appendEnvelope(proposer, reqID uint64, cmd proto.Message) ([]byte, error) {
	opts := proto.MarshalOptions{}
	b := make([]byte, 0, envelopeHeader+opts.Size(cmd))
	b = append(b, envelopeMagic)
	b = binary.BigEndian.AppendUint64(b, proposer)
	b = binary.BigEndian.AppendUint64(b, reqID)
	return opts.MarshalAppend(b, cmd)
}

// decodeEnvelope splits a normal entry's data.
func decodeEnvelope(data []byte) (proposer, reqID uint64, cmd []byte, err error) {
	if len(data) < envelopeHeader || data[0] != envelopeMagic {
		return 0, 0, nil, errors.New("entry data is not a request envelope")
	}
	return binary.BigEndian.Uint64(data[1:]), binary.BigEndian.Uint64(data[9:]), data[envelopeHeader:], nil
}

// ccContext is the Context of the conf changes this server proposes.
type ccContext struct {
	Proposer  uint64       `json:"proposer"`
	RequestID uint64       `json:"request_id"`
	Members   []memberInfo `json:"members,omitempty"`
}

func (c ccContext) encode() []byte {
	b, _ := json.Marshal(c) // cannot fail: plain fields
	return b
}

func decodeCCContext(b []byte) (ccContext, error) {
	var c ccContext
	if len(b) == 0 {
		return c, nil // the core's own auto-leave carries no context
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decode conf change context: %w", err)
	}
	return c, nil
}

// resultSink receives the result of one write (a *kvpb.Result, a
// confApplied, or an error). It is called on the event loop, so it must not
// block.
type resultSink interface{ deliver(v any) }

// resultChan is the sink of a call whose handler waits for its result; it
// has room for the one result.
type resultChan chan any

func (c resultChan) deliver(v any) { c <- v }

// waiters hands results from the event loop to the requests waiting for them.
type waiters struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]resultSink
}

func newWaiters(start uint64) *waiters { return &waiters{next: start, m: map[uint64]resultSink{}} }

// register returns a new request id and the channel its result arrives on.
func (w *waiters) register() (uint64, chan any) {
	ch := make(chan any, 1)
	return w.registerSink(resultChan(ch)), ch
}

// registerSink returns a new request id whose result goes to sink.
func (w *waiters) registerSink(sink resultSink) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	w.m[w.next] = sink
	return w.next
}

// trigger delivers v to the request id, if it still waits.
func (w *waiters) trigger(id uint64, v any) {
	w.mu.Lock()
	sink := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if sink != nil {
		sink.deliver(v)
	}
}

// waiting reports whether the request id still waits for its result.
func (w *waiters) waiting(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.m[id]
	return ok
}

// cancel forgets the request id.
func (w *waiters) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}
