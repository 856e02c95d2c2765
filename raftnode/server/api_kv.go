package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/transport"
)

var (
	errStopped = status.Error(codes.Unavailable, "member is shutting down")
	errRemoved = removedStatus()
)

// removedStatus says, in a way clients can match, that this member was removed.
func removedStatus() error {
	return serverpb.ReasonError(codes.FailedPrecondition, serverpb.ReasonMemberRemoved, "member was removed from the cluster")
}

// notProposed says, in a way clients can match, that the request was not
// proposed and so had no effect: retrying it is safe.
func notProposed(format string, args ...any) error {
	return serverpb.ReasonError(codes.Unavailable, serverpb.ReasonNotProposed, fmt.Sprintf(format, args...))
}

func ctxErr(ctx context.Context) error { return status.FromContextError(ctx.Err()).Err() }

// kvError maps a kv validation error to a gRPC status.
func kvError(err error) error {
	switch {
	case errors.Is(err, kv.ErrTooLarge):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, kv.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// clientStreamWorkers serve client RPCs on long-lived goroutines: a goroutine
// made per RPC starts with a small stack and grows it (copying) on every
// request, which cost a leader a tenth of its CPU under load. Handlers wait
// for their entry to commit, so it takes as many workers as requests in
// flight; past them gRPC makes a goroutine per RPC again.
const clientStreamWorkers = 256

func (s *Server) setupGRPC() {
	s.peerGRPC = grpc.NewServer(append(s.in.ServerOptions(),
		grpc.Creds(s.creds.peerServe),
		grpc.ChainStreamInterceptor(s.clusterGate),
		grpc.MaxRecvMsgSize(transport.DefaultMaxMessageBytes+64<<10))...)
	s.in.Register(s.peerGRPC)
	s.clientGRPC = grpc.NewServer(grpc.Creds(s.creds.clientServe), grpc.MaxRecvMsgSize(s.cfg.MaxRequestBytes),
		grpc.NumStreamWorkers(clientStreamWorkers),
		grpc.ChainUnaryInterceptor(s.authorizeUnary, s.refuseEarly),
		grpc.ChainStreamInterceptor(s.authorizeStream))
	serverpb.RegisterKVServer(s.clientGRPC, &kvService{s: s})
	serverpb.RegisterAdminServer(s.clientGRPC, &adminService{s: s})
}

// refuseEarly answers at once the calls this member cannot serve (see
// refusal).
func (s *Server) refuseEarly(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.refusal(info.FullMethod, req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// refusal is the answer to method when this member cannot serve it at all;
// nil when it can try.
//
// A removed member answers everything but Status, and LeaveJoint while it
// still leads: a leader removed by a joint change with explicit leave is the
// only one that can propose the leave.
//
// A member in no configuration (one waiting to be added) refuses the methods
// that need a leader (writes, linearizable reads, changes) with NOT_MEMBER:
// it would otherwise wait for a leader it cannot have, while a client could
// try the next endpoint. Serializable reads are served from whatever it
// holds, as they always are.
func (s *Server) refusal(method string, req any) error {
	if s.removed.Load() {
		if method == serverpb.Admin_Status_FullMethodName ||
			(method == serverpb.Admin_LeaveJoint_FullMethodName && s.leader.Load() == s.id) {
			return nil
		}
		return errRemoved
	}
	if !s.inConfig.Load() && needsMembership[method] && !serializable(req) {
		return s.notMember()
	}
	return nil
}

// needsMembership are the methods a member in no configuration cannot serve.
var needsMembership = map[string]bool{
	serverpb.KV_Put_FullMethodName: true, serverpb.KV_Delete_FullMethodName: true,
	serverpb.KV_CompareAndSwap_FullMethodName: true, serverpb.KV_Get_FullMethodName: true,
	serverpb.KV_Range_FullMethodName: true, serverpb.Admin_AddLearner_FullMethodName: true,
	serverpb.Admin_ChangeMembership_FullMethodName: true, serverpb.Admin_LeaveJoint_FullMethodName: true,
	serverpb.Admin_TransferLeadership_FullMethodName: true, serverpb.Admin_ForceNewCluster_FullMethodName: true,
}

func serializable(req any) bool {
	r, ok := req.(interface{ GetConsistency() serverpb.Consistency })
	return ok && r.GetConsistency() == serverpb.Consistency_CONSISTENCY_SERIALIZABLE
}

// notMember is the NOT_MEMBER refusal, naming the leader when it is known.
func (s *Server) notMember() error {
	var md map[string]string
	msg := fmt.Sprintf("member %x is not in the cluster's configuration (yet): ask another member", s.id)
	if lead := s.leader.Load(); lead != 0 {
		md = map[string]string{serverpb.MetadataLeaderID: fmt.Sprintf("%x", lead)}
		if m, ok := s.memberView(lead); ok && m.ClientAddress != "" {
			md[serverpb.MetadataLeaderAddress] = m.ClientAddress
			msg += fmt.Sprintf(" (the leader %x is at %s)", lead, m.ClientAddress)
		}
	}
	return serverpb.ReasonErrorWithMetadata(codes.Unavailable, serverpb.ReasonNotMember, msg, md)
}

func (s *Server) header() *serverpb.ResponseHeader {
	return &serverpb.ResponseHeader{
		ClusterId: s.clusterID.Load(), MemberId: s.id, LeaderId: s.leader.Load(),
		Term: s.term.Load(), AppliedIndex: s.store.Load().AppliedIndex(),
	}
}

// requestContext bounds ctx by RequestTimeout. A caller's deadline that comes
// sooner (a client's own timeout, carried by gRPC) bounds it already: no
// timer is made for it, one fewer per request.
func (s *Server) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.cfg.RequestTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// write validates cmd, proposes it and waits until this member applied it.
func (s *Server) write(ctx context.Context, cmd *kvpb.Command) (*kvpb.Result, error) {
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	ch := make(chan any, 1)
	p, err := s.prepareWrite(cmd, resultChan(ch))
	if err != nil {
		return nil, err
	}
	defer s.w.cancel(p.reqID)
	if err := s.sendProposal(ctx, p); err != nil {
		return nil, err
	}
	select {
	case v := <-ch:
		return writeOutcome(v)
	case <-ctx.Done():
		return nil, writeTimedOut(ctx.Err())
	case <-s.done:
		return nil, errStoppedWriting
	}
}

// prepareWrite validates cmd and makes its proposal, whose result goes to
// sink once applied. The caller cancels the proposal's request id if it
// stops waiting.
func (s *Server) prepareWrite(cmd *kvpb.Command, sink resultSink) (proposal, error) {
	if err := s.store.Load().Validate(cmd); err != nil {
		return proposal{}, kvError(err)
	}
	reqID := s.w.registerSink(sink)
	data, err := appendEnvelope(s.id, reqID, cmd)
	if err != nil {
		s.w.cancel(reqID)
		return proposal{}, status.Errorf(codes.InvalidArgument, "encode command: %v", err)
	}
	return proposal{reqID: reqID, data: data}, nil
}

// sendProposal hands p to the event loop.
func (s *Server) sendProposal(ctx context.Context, p proposal) error {
	select {
	case s.propc <- p:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.done:
		return errStopped
	}
}

// queueRead hands a linearizable read to the event loop.
func (s *Server) queueRead(ctx context.Context, r readSink) error {
	select {
	case s.readc <- r:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.done:
		return errStopped
	}
}

// errStoppedWriting answers a write proposed before the member shut down.
var errStoppedWriting = status.Error(codes.Unavailable, "member is shutting down; the write's outcome is unknown")

// writeTimedOut answers a write proposed but not applied before err ended
// its wait.
func writeTimedOut(err error) error {
	return status.Errorf(status.FromContextError(err).Code(),
		"the write was proposed but not applied in time; its outcome is unknown: %v", err)
}

// writeOutcome is what a write's waiter received: the applied result, or
// the error that ended it.
func writeOutcome(v any) (*kvpb.Result, error) {
	switch v := v.(type) {
	case error:
		return nil, v
	case *kvpb.Result:
		if err := kv.ResultErr(v); err != nil {
			return nil, kvError(err)
		}
		return v, nil
	}
	return nil, status.Errorf(codes.Internal, "unexpected result %T", v)
}

// linearize waits until this member applied everything committed before the
// call (ReadIndex), or returns at once for a serializable read.
func (s *Server) linearize(ctx context.Context, c serverpb.Consistency) error {
	if c == serverpb.Consistency_CONSISTENCY_SERIALIZABLE {
		return nil
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	ch := make(chan error, 1)
	if err := s.queueRead(ctx, readChan(ch)); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return status.Errorf(status.FromContextError(ctx.Err()).Code(), "no read index in time: %v", ctx.Err())
	case <-s.done:
		return errStopped
	}
}

type kvService struct {
	serverpb.UnimplementedKVServer
	s *Server
}

func (k *kvService) Put(ctx context.Context, req *serverpb.PutRequest) (*serverpb.PutResponse, error) {
	res, err := k.s.write(ctx, &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: req.GetKey(), Value: req.GetValue()}}})
	if err != nil {
		return nil, err
	}
	return &serverpb.PutResponse{Header: k.s.header(), Result: res}, nil
}

func (k *kvService) Delete(ctx context.Context, req *serverpb.DeleteRequest) (*serverpb.DeleteResponse, error) {
	res, err := k.s.write(ctx, &kvpb.Command{Op: &kvpb.Command_Delete{Delete: req.GetDelete()}})
	if err != nil {
		return nil, err
	}
	return &serverpb.DeleteResponse{Header: k.s.header(), Result: res}, nil
}

func (k *kvService) CompareAndSwap(ctx context.Context, req *serverpb.CompareAndSwapRequest) (*serverpb.CompareAndSwapResponse, error) {
	res, err := k.s.write(ctx, &kvpb.Command{Op: &kvpb.Command_Cas{Cas: req.GetCas()}})
	if err != nil {
		return nil, err
	}
	return &serverpb.CompareAndSwapResponse{Header: k.s.header(), Result: res}, nil
}

func (k *kvService) Get(ctx context.Context, req *serverpb.GetRequest) (*serverpb.GetResponse, error) {
	if err := validateGet(req); err != nil {
		return nil, err
	}
	if err := k.s.linearize(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	return k.s.get(req), nil
}

func (k *kvService) Range(ctx context.Context, req *serverpb.RangeRequest) (*serverpb.RangeResponse, error) {
	if err := validateRange(req); err != nil {
		return nil, err
	}
	if err := k.s.linearize(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	return k.s.rangeKeys(req)
}

func validateGet(req *serverpb.GetRequest) error {
	if len(req.GetKey()) == 0 {
		return status.Error(codes.InvalidArgument, "get: empty key")
	}
	return nil
}

func validateRange(req *serverpb.RangeRequest) error {
	if req.GetRange() == nil {
		return status.Error(codes.InvalidArgument, "range: no range given")
	}
	return nil
}

// get answers a Get from this member's store, once its read point is applied.
func (s *Server) get(req *serverpb.GetRequest) *serverpb.GetResponse {
	resp := &serverpb.GetResponse{Header: s.header()}
	if kvp, ok := s.store.Load().Get(req.GetKey()); ok {
		resp.Kv = kvp
	}
	return resp
}

// rangeKeys answers a Range from this member's store, once its read point is
// applied.
func (s *Server) rangeKeys(req *serverpb.RangeRequest) (*serverpb.RangeResponse, error) {
	r, err := s.store.Load().Range(req.GetRange())
	if err != nil {
		return nil, kvError(err)
	}
	return &serverpb.RangeResponse{Header: s.header(), Range: r}, nil
}
