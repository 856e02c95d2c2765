package transport

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// sendSnapshot starts sending the MsgSnap m on a SendSnapshot call of its own and
// reports whether it was started; the outcome goes to Handler.ReportSnapshot.
func (p *peer) sendSnapshot(m pb.Message) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.snaps.Add(1)
	go func() {
		defer p.snaps.Done()
		status := raft.SnapshotFinish
		if err := p.streamSnapshot(m); err != nil {
			p.t.cfg.Logger.Warn("sending snapshot failed", "peer", p.id, "addr", p.addr, "err", err)
			status = raft.SnapshotFailure
		}
		p.t.cfg.Handler.ReportSnapshot(p.id, status)
	}()
	return true
}

// streamSnapshot sends m: the message without the snapshot data in the first
// chunk, then the data in chunks of SnapshotChunkBytes.
func (p *peer) streamSnapshot(m pb.Message) error {
	if m.Snapshot == nil {
		return errors.New("MsgSnap without a snapshot")
	}
	data := m.Snapshot.Data
	head := *m.Snapshot
	head.Data = nil
	m.Snapshot = &head
	msg, _ := m.Marshal() // never fails
	if len(msg) > p.t.cfg.MaxMessageBytes {
		return fmt.Errorf("snapshot message of %d bytes exceeds the limit of %d", len(msg), p.t.cfg.MaxMessageBytes)
	}
	c, err := p.client()
	if err != nil {
		return err
	}
	st, err := c.SendSnapshot(p.ctx)
	if err != nil {
		return fmt.Errorf("open snapshot stream to member %x at %s: %w", p.id, p.addr, err)
	}
	total := uint64(len(data))
	chunk := &transportpb.SnapshotChunk{Message: msg}
	for last := false; !last; {
		n := min(len(data), p.t.cfg.SnapshotChunkBytes)
		last = n == len(data)
		chunk.ClusterId, chunk.From, chunk.To = p.t.cfg.ClusterID, p.t.cfg.ID, p.id
		chunk.Data, chunk.Last, data = data[:n], last, data[n:]
		if err := st.Send(chunk); err != nil {
			if errors.Is(err, io.EOF) { // the peer ended the call: its status says why
				_, err = st.CloseAndRecv()
			}
			return fmt.Errorf("send snapshot chunk to member %x: %w", p.id, err)
		}
		chunk = &transportpb.SnapshotChunk{} // gRPC may still read the one sent
	}
	ack, err := st.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("finish snapshot to member %x: %w", p.id, err)
	}
	if ack.GetBytes() != total {
		return fmt.Errorf("member %x acknowledged %d snapshot bytes of %d", p.id, ack.GetBytes(), total)
	}
	return nil
}
