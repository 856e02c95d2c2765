package transport

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// server serves the Raft service for a Transport.
//
// Ownership of received bytes: raftpb's Unmarshal aliases its input, so a decoded
// Message points into the bytes of the Batch or SnapshotChunk it came from. That is
// safe to hand on without a copy because gRPC's proto codec (protobuf-go's
// Unmarshal) copies bytes fields out of the receive buffer into fresh slices, which
// gRPC then may reuse; the fresh slices belong to the one received message, which
// the server never reuses.
type server struct {
	transportpb.UnimplementedRaftServer
	t *Transport
}

// Stream delivers the batches of one peer in order until it closes the stream or
// sends one that is refused.
func (s *server) Stream(stream transportpb.Raft_StreamServer) error {
	var sum transportpb.StreamSummary
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&sum)
		}
		if err != nil {
			return err
		}
		if err := s.deliver(stream.Context(), b); err != nil {
			s.t.cfg.Logger.Warn("refused batch", "from", b.GetFrom(), "err", err)
			return err
		}
		if sum.Batches == 0 {
			// An accepted batch tells where its sender is now.
			if p, ok := grpcpeer.FromContext(stream.Context()); ok {
				s.t.noteSource(b.GetFrom(), p.Addr)
			}
		}
		sum.Batches++
		sum.Messages += uint64(len(b.GetMessages()))
	}
}

// deliver checks b and hands its messages to the Handler, in order.
func (s *server) deliver(ctx context.Context, b *transportpb.Batch) error {
	if err := s.checkHeader(b.GetClusterId(), b.GetTo()); err != nil {
		return err
	}
	for i, raw := range b.GetMessages() {
		m, err := s.decode(raw, b.GetFrom())
		if err != nil {
			return status.Errorf(status.Code(err), "message %d of batch: %s", i, status.Convert(err).Message())
		}
		if err := s.process(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// SendSnapshot reassembles one snapshot and hands its MsgSnap to the Handler.
func (s *server) SendSnapshot(stream transportpb.Raft_SendSnapshotServer) error {
	err := s.receiveSnapshot(stream)
	if err != nil {
		s.t.cfg.Logger.Warn("refused snapshot", "err", err)
	}
	return err
}

func (s *server) receiveSnapshot(stream transportpb.Raft_SendSnapshotServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "snapshot stream without chunks")
	}
	if err != nil {
		return err
	}
	if err := s.checkHeader(first.GetClusterId(), first.GetTo()); err != nil {
		return err
	}
	m, err := s.decode(first.GetMessage(), first.GetFrom())
	if err != nil {
		return err
	}
	if m.Type != pb.MsgSnap || m.Snapshot == nil {
		return status.Errorf(codes.InvalidArgument, "first snapshot chunk carries a %v, not a MsgSnap with a snapshot", m.Type)
	}
	data, err := s.receiveData(stream, first)
	if err != nil {
		return err
	}
	m.Snapshot.Data = data
	if err := s.process(stream.Context(), m); err != nil {
		return err
	}
	return stream.SendAndClose(&transportpb.SnapshotAck{Bytes: uint64(len(data))})
}

// receiveData gathers the data of first and the chunks after it, up to the last.
func (s *server) receiveData(stream transportpb.Raft_SendSnapshotServer, first *transportpb.SnapshotChunk) ([]byte, error) {
	var data []byte
	for c := first; ; {
		if n := len(c.GetData()); n > s.t.cfg.MaxMessageBytes {
			return nil, status.Errorf(codes.ResourceExhausted, "snapshot chunk of %d bytes exceeds the limit of %d", n, s.t.cfg.MaxMessageBytes)
		}
		data = append(data, c.GetData()...)
		if c.GetLast() {
			return data, nil
		}
		var err error
		if c, err = stream.Recv(); errors.Is(err, io.EOF) {
			return nil, status.Error(codes.InvalidArgument, "snapshot stream ended before its last chunk")
		} else if err != nil {
			return nil, err
		}
		if err := s.checkHeader(c.GetClusterId(), c.GetTo()); err != nil {
			return nil, err
		}
	}
}

// checkHeader refuses what was sent by another cluster or to another member.
func (s *server) checkHeader(clusterID, to uint64) error {
	cfg := &s.t.cfg
	switch {
	case s.t.isClosed():
		return status.Error(codes.Unavailable, "transport closed")
	case clusterID != cfg.ClusterID:
		return status.Errorf(codes.FailedPrecondition,
			"cluster id mismatch: sender is in cluster %x, this member (%x) in cluster %x", clusterID, cfg.ID, cfg.ClusterID)
	case to != cfg.ID:
		return status.Errorf(codes.InvalidArgument, "sent to member %x, but this is member %x", to, cfg.ID)
	}
	return nil
}

// decode unmarshals one message sent by from.
func (s *server) decode(raw []byte, from uint64) (pb.Message, error) {
	var m pb.Message
	if len(raw) > s.t.cfg.MaxMessageBytes {
		return m, status.Errorf(codes.ResourceExhausted, "message of %d bytes exceeds the limit of %d", len(raw), s.t.cfg.MaxMessageBytes)
	}
	if err := m.Unmarshal(raw); err != nil {
		return m, status.Errorf(codes.InvalidArgument, "malformed message from member %x: %v", from, err)
	}
	if m.To != s.t.cfg.ID || m.From != from {
		return m, status.Errorf(codes.InvalidArgument, "message from %x to %x in a batch from %x to %x", m.From, m.To, from, s.t.cfg.ID)
	}
	return m, nil
}

// process hands m to the Handler; an error becomes the stream's status.
func (s *server) process(ctx context.Context, m pb.Message) error {
	err := s.t.cfg.Handler.Process(ctx, m)
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "process %v from member %x: %v", m.Type, m.From, err)
}
