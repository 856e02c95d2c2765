package server

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// mdPeerAddress is the gRPC metadata key carrying a sender's advertised peer
// address on its outgoing transport streams.
const mdPeerAddress = "raftkube-peer-address"

// Process implements transport.Handler: it queues m for the event loop. A
// snapshot is decoded first, and refused if it does not decode.
func (s *Server) Process(ctx context.Context, m pb.Message) error {
	if m.Type == pb.MsgSnap {
		if err := s.checkReceivedSnapshot(m); err != nil {
			s.log.Warn("refused a snapshot", "from", fmt.Sprintf("%x", m.From), "err", err)
			return status.Errorf(codes.InvalidArgument, "refused snapshot: %v", err)
		}
	}
	select {
	case s.recvc <- m:
		return nil
	case <-s.done:
		return status.Error(codes.Unavailable, "member is shutting down")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReportUnreachable implements transport.Handler.
func (s *Server) ReportUnreachable(id uint64) { s.queueReport(report{id: id}) }

// ReportRefused implements transport.RefusalReporter: a member that refuses
// this member's stream as that of a removed member (it is in the same
// cluster: the refusal comes after the cluster id check) says this member was
// removed, as a removal probe would learn.
func (s *Server) ReportRefused(id uint64, err error) {
	if serverpb.HasReason(err, serverpb.ReasonSenderRemoved) {
		s.queueReport(report{id: id, removedBy: true})
	}
}

// ReportSnapshot implements transport.Handler.
func (s *Server) ReportSnapshot(id uint64, st raft.SnapshotStatus) {
	s.queueReport(report{id: id, snapshot: true, status: st})
}

// queueReport never blocks: the loop itself calls Send, which may report.
func (s *Server) queueReport(r report) {
	s.reportMu.Lock()
	s.reports = append(s.reports, r)
	s.reportMu.Unlock()
	select {
	case s.reportc <- struct{}{}:
	default:
	}
}

func (s *Server) takeReports() []report {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	r := s.reports
	s.reports = nil
	return r
}

// peerDialOptions are the outgoing transport's: the peer credentials, and the advertised
// peer address in every stream's metadata.
func (s *Server) peerDialOptions() []grpc.DialOption {
	addr := s.peerAddr
	return []grpc.DialOption{
		grpc.WithTransportCredentials(s.creds.peerDial),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn,
			method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			ctx = metadata.AppendToOutgoingContext(ctx, mdPeerAddress, addr)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}

// clusterGate is the peer server's stream interceptor: it checks (or, on a new
// member, adopts) the cluster id of every batch and snapshot chunk before the
// receiving transport sees it. See the package doc.
func (s *Server) clusterGate(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &gatedStream{ServerStream: ss, s: s})
}

type gatedStream struct {
	grpc.ServerStream
	s *Server
}

func (g *gatedStream) RecvMsg(m any) error {
	if err := g.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	switch msg := m.(type) {
	case *transportpb.Batch:
		return g.s.admit(g.Context(), &msg.ClusterId, msg.GetFrom(), msg.GetMessages())
	case *transportpb.SnapshotChunk:
		var raws [][]byte
		if len(msg.GetMessage()) > 0 {
			raws = [][]byte{msg.GetMessage()}
		}
		return g.s.admit(g.Context(), &msg.ClusterId, msg.GetFrom(), raws)
	}
	return nil
}

// admit checks *clusterID, adopting it on first leader contact, learns the
// sender's address if it is not in the table, and rewrites *clusterID to the
// receiving transport's 0.
func (s *Server) admit(ctx context.Context, clusterID *uint64, from uint64, raws [][]byte) error {
	known := s.clusterID.Load()
	if known == 0 {
		// Only a leader's messages make a member adopt their cluster.
		if !carriesType(raws, pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap) {
			return status.Errorf(codes.FailedPrecondition, "member %x has not joined a cluster yet and waits for a leader", s.id)
		}
		if err := s.adoptCluster(*clusterID); err != nil {
			return status.Errorf(codes.Unavailable, "adopt cluster %x: %v", *clusterID, err)
		}
		known = s.clusterID.Load()
	}
	if *clusterID != known {
		return status.Errorf(codes.FailedPrecondition,
			"cluster id mismatch: sender is in cluster %x, this member (%x) in cluster %x", *clusterID, s.id, known)
	}
	*clusterID = 0
	if s.removedOutsideConfig(from) && !carriesType(raws, pb.MsgTimeoutNow) {
		// Typically an old member that comes back after ForceNewCluster:
		// the refusal tells it (see ReportRefused). A leader that removed
		// itself still hands over with MsgTimeoutNow as it steps down.
		return serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonSenderRemoved,
			fmt.Sprintf("member %x was removed from cluster %x", from, known))
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if addrs := md.Get(mdPeerAddress); len(addrs) == 1 && addrs[0] != "" {
			s.learnPeerHint(from, addrs[0])
		}
	}
	return nil
}

// carriesType reports whether one of raws is a message of one of types.
func carriesType(raws [][]byte, types ...pb.MessageType) bool {
	for _, raw := range raws {
		var m pb.Message
		if m.Unmarshal(raw) == nil && slices.Contains(types, m.Type) {
			return true
		}
	}
	return false
}

// adoptCluster makes cid this member's cluster, durably, once.
func (s *Server) adoptCluster(cid uint64) error {
	s.identMu.Lock()
	defer s.identMu.Unlock()
	if s.ident.ClusterID != 0 {
		return nil // adopted meanwhile by another stream
	}
	next := s.ident
	next.ClusterID = cid
	if err := saveIdentity(s.cfg.DataDir, next); err != nil {
		return err
	}
	s.ident = next
	if err := s.startOutbound(cid); err != nil {
		return err
	}
	s.clusterID.Store(cid)
	s.log.Info("joined cluster on first contact from its leader", "cluster", fmt.Sprintf("%x", cid))
	return nil
}

// learnPeerHint adds a sender the table does not know to the sending transport.
func (s *Server) learnPeerHint(from uint64, addr string) {
	if _, ok := s.memberView(from); ok {
		return
	}
	if out := s.out.Load(); out != nil {
		out.AddPeer(from, addr)
	}
}
