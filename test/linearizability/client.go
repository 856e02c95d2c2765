package linearizability

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// ErrUnexpected marks an answer the workload never expects, such as a Result
// applied as a no-op for bad input: the caller should fail the test.
var ErrUnexpected = errors.New("unexpected answer")

// Send sends in through c and classifies the result (see Outcome): an answer
// is Completed; a write that failed with client.ErrOutcomeUnknown is Unknown,
// unless the server said Raft dropped its proposal; everything else, failed
// reads included, is NotApplied. The error is the client's, for logging; it
// wraps ErrUnexpected when the answer is not one a correct workload can get.
func Send(ctx context.Context, c *client.Client, in Input) (Output, Outcome, error) {
	key := []byte(in.Key)
	var (
		res *kvpb.Result
		err error
	)
	switch in.Kind {
	case OpGet:
		kv, found, gerr := c.Get(ctx, key)
		if gerr != nil {
			// A read changes nothing, so a failed one is simply left out.
			return Output{}, NotApplied, gerr
		}
		if !found {
			return Output{}, Completed, nil
		}
		return Output{KV: fromProto(kv)}, Completed, nil
	case OpPut:
		res, err = c.Put(ctx, key, []byte(in.Value))
	case OpDelete:
		res, err = c.Delete(ctx, key)
	case OpCAS:
		res, err = c.CompareAndSwap(ctx, casRequest(in))
	default:
		return Output{}, NotApplied, fmt.Errorf("%w: unknown op kind %v", ErrUnexpected, in.Kind)
	}
	switch {
	case err == nil:
		return fromResult(res), Completed, nil
	case errors.Is(err, client.ErrOutcomeUnknown) && proposalDropped(err):
		return Output{}, NotApplied, err
	case errors.Is(err, client.ErrOutcomeUnknown):
		return Output{Unknown: true}, Unknown, err
	case res != nil, errors.Is(err, client.ErrInvalidArgument), errors.Is(err, client.ErrTooLarge):
		// A Result with an error code (applied as a no-op) or a refused
		// request: the workload sends only valid requests.
		return Output{}, NotApplied, fmt.Errorf("%w: %w", ErrUnexpected, err)
	default:
		// Not sent, or refused by the server in a way that says it was not
		// applied (FailedPrecondition, NotFound, ...).
		return Output{}, NotApplied, err
	}
}

// proposalDropped reports whether err is the server saying that Raft dropped
// the proposal (no leader, or a leadership transfer under way): the entry was
// never appended to any log, so the write was not applied. The client cannot
// tell this codes.Unavailable from one sent after the request was proposed
// and reports the outcome as unknown; the test takes the server at its word,
// which keeps elections from filling the history with unknown outcomes, and
// checks the claim: a dropped write whose value shows up later is a write
// nothing explains.
func proposalDropped(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "proposal dropped")
}

func casRequest(in Input) *kvpb.CompareAndSwap {
	cas := &kvpb.CompareAndSwap{Key: []byte(in.Key), Delete: in.Delete}
	if !in.Delete {
		cas.Value = []byte(in.Value)
	}
	if in.ByModIndex {
		cas.Expected = &kvpb.CompareAndSwap_ExpectedModIndex{ExpectedModIndex: in.ExpectedModIndex}
	} else {
		cas.Expected = &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte(in.ExpectedValue)}
	}
	return cas
}

func fromProto(kv *kvpb.KeyValue) *KeyValue {
	if kv == nil {
		return nil
	}
	return &KeyValue{Value: string(kv.GetValue()), Version: kv.GetVersion(),
		CreateIndex: kv.GetCreateIndex(), ModIndex: kv.GetModIndex()}
}

func fromResult(r *kvpb.Result) Output {
	return Output{
		KV:           fromProto(r.GetPrev()),
		Succeeded:    r.GetSucceeded(),
		ModIndex:     r.GetModIndex(),
		Deleted:      r.GetDeleted(),
		AppliedIndex: r.GetAppliedIndex(),
	}
}
