package linearizability

import (
	"context"
	"errors"
	"fmt"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// ErrUnexpected marks an answer the workload never expects, such as a Result
// applied as a no-op for bad input: the caller should fail the test.
var ErrUnexpected = errors.New("unexpected answer")

// Send sends in through c and classifies the result (see Outcome): an answer
// is Completed; a write that failed with client.ErrOutcomeUnknown is Unknown;
// everything else, failed reads included, is NotApplied — among them writes
// the server did not propose (serverpb.ReasonNotProposed, which the client
// does not call unknown). The test takes the server at its word there, and
// checks the claim: a value of such a write showing up later is a write
// nothing explains. The error is the client's, for logging; it
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
