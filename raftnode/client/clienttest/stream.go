package clienttest

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// DisableStream makes the member answer KV.Stream with Unimplemented, as a
// member of a version without it does: clients then make a call per request.
func (m *Member) DisableStream() {
	m.RefuseStream(status.Error(codes.Unimplemented, "unknown method Stream for service raftkube.node.v1.KV"))
}

// RefuseStream makes the member end every KV.Stream at once with err, as a
// member refuses a caller before any request (one without a client
// certificate); nil serves streams again.
func (m *Member) RefuseStream(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streamErr = err
}

// Stream implements serverpb.KVServer as the real member does: each request
// is served by the method it names (knobs, counts and all), each in its own
// goroutine, and answered when done, in any order. Calls("Stream") counts the
// streams opened.
func (m *Member) Stream(stream serverpb.KV_StreamServer) error {
	m.mu.Lock()
	m.calls["Stream"]++
	refusal := m.streamErr
	m.mu.Unlock()
	if refusal != nil {
		return refusal
	}
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	ctx := stream.Context()
	var sendMu sync.Mutex
	var serving sync.WaitGroup
	defer serving.Wait()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		serving.Go(func() {
			resp := m.serveStreamed(ctx, req)
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(resp)
		})
	}
}

// serveStreamed answers one request of a stream.
func (m *Member) serveStreamed(ctx context.Context, req *serverpb.StreamRequest) *serverpb.StreamResponse {
	resp := &serverpb.StreamResponse{Id: req.GetId()}
	var err error
	switch r := req.GetRequest().(type) {
	case *serverpb.StreamRequest_Put:
		var out *serverpb.PutResponse
		if out, err = m.Put(ctx, r.Put); err == nil {
			resp.Response = &serverpb.StreamResponse_Put{Put: out}
		}
	case *serverpb.StreamRequest_Get:
		var out *serverpb.GetResponse
		if out, err = m.Get(ctx, r.Get); err == nil {
			resp.Response = &serverpb.StreamResponse_Get{Get: out}
		}
	case *serverpb.StreamRequest_Delete:
		var out *serverpb.DeleteResponse
		if out, err = m.Delete(ctx, r.Delete); err == nil {
			resp.Response = &serverpb.StreamResponse_Delete{Delete: out}
		}
	case *serverpb.StreamRequest_Range:
		var out *serverpb.RangeResponse
		if out, err = m.Range(ctx, r.Range); err == nil {
			resp.Response = &serverpb.StreamResponse_Range{Range: out}
		}
	case *serverpb.StreamRequest_CompareAndSwap:
		var out *serverpb.CompareAndSwapResponse
		if out, err = m.CompareAndSwap(ctx, r.CompareAndSwap); err == nil {
			resp.Response = &serverpb.StreamResponse_CompareAndSwap{CompareAndSwap: out}
		}
	default:
		err = status.Errorf(codes.InvalidArgument, "stream request %d carries no request", req.GetId())
	}
	if err != nil {
		resp.Status = serverpb.NewRequestStatus(err)
	}
	return resp
}
