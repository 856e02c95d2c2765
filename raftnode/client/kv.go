package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// ReadOption changes how Get reads.
type ReadOption interface{ applyRead(*readOptions) }

// RangeOption changes what Range reads and how.
type RangeOption interface{ applyRange(*rangeOptions) }

// DeleteOption changes which keys Delete removes.
type DeleteOption interface{ applyDelete(*kvpb.Delete) }

type readOptions struct{ consistency serverpb.Consistency }

type rangeOptions struct {
	req         kvpb.RangeRequest
	consistency serverpb.Consistency
}

type serializable struct{}

// Serializable reads from the answering member's applied state, which may lag
// behind the leader, instead of a linearizable read.
func Serializable() interface {
	ReadOption
	RangeOption
} {
	return serializable{}
}

func (serializable) applyRead(o *readOptions) {
	o.consistency = serverpb.Consistency_CONSISTENCY_SERIALIZABLE
}
func (serializable) applyRange(o *rangeOptions) {
	o.consistency = serverpb.Consistency_CONSISTENCY_SERIALIZABLE
}

type prefix struct{}

// WithPrefix makes Delete or Range act on every key starting with key.
func WithPrefix() interface {
	DeleteOption
	RangeOption
} {
	return prefix{}
}

func (prefix) applyDelete(d *kvpb.Delete) { d.Prefix = true }
func (prefix) applyRange(o *rangeOptions) { o.req.Prefix = true }

type rangeEnd []byte

// WithRange makes Delete or Range act on [key, end); end "\x00" means every
// key >= key.
func WithRange(end []byte) interface {
	DeleteOption
	RangeOption
} {
	return rangeEnd(end)
}

func (r rangeEnd) applyDelete(d *kvpb.Delete) { d.RangeEnd = r }
func (r rangeEnd) applyRange(o *rangeOptions) { o.req.RangeEnd = r }

type limit int64

// WithLimit caps the number of keys Range returns (0: no cap).
func WithLimit(n int64) RangeOption { return limit(n) }

func (l limit) applyRange(o *rangeOptions) { o.req.Limit = int64(l) }

// Put writes value at key. Not retried once sent (see the package doc). A
// Result applied as a no-op (bad or oversized input) is returned together with
// an error matching ErrInvalidArgument or ErrTooLarge.
func (c *Client) Put(ctx context.Context, key, value []byte) (*kvpb.Result, error) {
	const method = "KV.Put"
	req := &serverpb.PutRequest{Key: key, Value: value}
	resp, ep, err := write(ctx, c, method, nil, streamed(c,
		func() *serverpb.StreamRequest {
			return &serverpb.StreamRequest{Request: &serverpb.StreamRequest_Put{Put: req}}
		},
		(*serverpb.StreamResponse).GetPut,
		func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.PutResponse, error) {
			return serverpb.NewKVClient(cc).Put(ctx, req)
		}))
	if err != nil {
		return nil, err
	}
	return resp.GetResult(), resultError(method, ep, resp.GetResult())
}

// Get reads key; found is false when it does not exist. Retried on another
// endpoint on failure.
func (c *Client) Get(ctx context.Context, key []byte, opts ...ReadOption) (kv *kvpb.KeyValue, found bool, err error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	req := &serverpb.GetRequest{Key: key, Consistency: o.consistency}
	resp, _, err := read(ctx, c, "KV.Get", streamed(c,
		func() *serverpb.StreamRequest {
			return &serverpb.StreamRequest{Request: &serverpb.StreamRequest_Get{Get: req}}
		},
		(*serverpb.StreamResponse).GetGet,
		func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.GetResponse, error) {
			return serverpb.NewKVClient(cc).Get(ctx, req)
		}))
	if err != nil {
		return nil, false, err
	}
	return resp.GetKv(), resp.GetKv() != nil, nil
}

// Delete removes key, or the keys chosen by WithPrefix or WithRange. Not
// retried once sent.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...DeleteOption) (*kvpb.Result, error) {
	const method = "KV.Delete"
	d := &kvpb.Delete{Key: key}
	for _, opt := range opts {
		opt.applyDelete(d)
	}
	req := &serverpb.DeleteRequest{Delete: d}
	resp, ep, err := write(ctx, c, method, nil, streamed(c,
		func() *serverpb.StreamRequest {
			return &serverpb.StreamRequest{Request: &serverpb.StreamRequest_Delete{Delete: req}}
		},
		(*serverpb.StreamResponse).GetDelete,
		func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.DeleteResponse, error) {
			return serverpb.NewKVClient(cc).Delete(ctx, req)
		}))
	if err != nil {
		return nil, err
	}
	return resp.GetResult(), resultError(method, ep, resp.GetResult())
}

// Range reads key, or the keys chosen by WithPrefix or WithRange, in key
// order. Retried on another endpoint on failure.
func (c *Client) Range(ctx context.Context, key []byte, opts ...RangeOption) (*kvpb.RangeResponse, error) {
	o := rangeOptions{req: kvpb.RangeRequest{Key: key}}
	for _, opt := range opts {
		opt.applyRange(&o)
	}
	req := &serverpb.RangeRequest{Range: &o.req, Consistency: o.consistency}
	resp, _, err := read(ctx, c, "KV.Range", streamed(c,
		func() *serverpb.StreamRequest {
			return &serverpb.StreamRequest{Request: &serverpb.StreamRequest_Range{Range: req}}
		},
		(*serverpb.StreamResponse).GetRange,
		func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.RangeResponse, error) {
			return serverpb.NewKVClient(cc).Range(ctx, req)
		}))
	if err != nil {
		return nil, err
	}
	return resp.GetRange(), nil
}

// CompareAndSwap writes or deletes cas.Key if it matches the expectation;
// Result.Succeeded says whether it did. Not retried once sent: on
// ErrOutcomeUnknown a caller may repeat a CAS with ExpectedModIndex safely.
func (c *Client) CompareAndSwap(ctx context.Context, cas *kvpb.CompareAndSwap) (*kvpb.Result, error) {
	const method = "KV.CompareAndSwap"
	req := &serverpb.CompareAndSwapRequest{Cas: cas}
	resp, ep, err := write(ctx, c, method, nil, streamed(c,
		func() *serverpb.StreamRequest {
			return &serverpb.StreamRequest{Request: &serverpb.StreamRequest_CompareAndSwap{CompareAndSwap: req}}
		},
		(*serverpb.StreamResponse).GetCompareAndSwap,
		func(ctx context.Context, cc *grpc.ClientConn) (*serverpb.CompareAndSwapResponse, error) {
			return serverpb.NewKVClient(cc).CompareAndSwap(ctx, req)
		}))
	if err != nil {
		return nil, err
	}
	return resp.GetResult(), resultError(method, ep, resp.GetResult())
}
