package transport

import (
	"context"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// tokenHandler lets at most cap(tokens) messages be in flight: the sender puts a
// token in before each Send, and Process takes one out.
type tokenHandler struct {
	*recorder
	tokens chan struct{}
}

func (h tokenHandler) Process(context.Context, pb.Message) error {
	<-h.tokens
	return nil
}

// BenchmarkSendMsgApp sends MsgApps of 16 entries of 256 bytes from one transport
// to another over loopback, one message per Send as a leader's Ready would, with
// at most half a queue in flight so that nothing is dropped.
func BenchmarkSendMsgApp(b *testing.B) {
	h := tokenHandler{recorder: newRecorder(), tokens: make(chan struct{}, DefaultQueueSize/2)}
	a := newNode(b, 1, 7)
	dst := newNode(b, 2, 7, func(c *Config) { c.Handler = h })
	a.tr.AddPeer(2, dst.addr)
	msgs := []pb.Message{msgApp(1, 2, 1, 16, 256)}
	b.SetBytes(int64(msgs[0].Size()))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.tokens <- struct{}{}
		a.tr.Send(msgs)
	}
	for range cap(h.tokens) { // room for all: the receiver took every message
		h.tokens <- struct{}{}
	}
	b.StopTimer()
	if len(a.rec.unreachable) > 0 {
		b.Fatal("messages were dropped")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
