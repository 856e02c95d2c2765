package client

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// headered is every response: each carries a ResponseHeader.
type headered interface {
	GetHeader() *serverpb.ResponseHeader
}

// rpc is one attempt of a request on a ready connection.
type rpc[R headered] func(ctx context.Context, cc *grpc.ClientConn) (R, error)

// trace is what became of one attempt on the wire (see sendRecorder).
type trace struct {
	// sent is false when the request provably never left the client: the
	// connection could not be made ready, or grpc never handed the request
	// to the connection.
	sent bool
	// answered is true when the member sent anything back (headers or a
	// status): it is reachable, whatever it said.
	answered bool
}

// attempt runs fn on ep.
func attempt[R headered](ctx context.Context, c *Client, ep string, fn rpc[R]) (resp R, tr trace, err error) {
	cc, err := c.ready(ctx, ep)
	if err != nil {
		return resp, tr, err
	}
	actx := ctx
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	w := new(wire)
	resp, err = fn(context.WithValue(actx, wireKey{}, w), cc)
	if err == nil {
		c.observe(ep, resp.GetHeader())
		return resp, trace{sent: true, answered: true}, nil
	}
	return resp, trace{sent: w.wrote.Load(), answered: w.answered.Load()}, err
}

// triedList is the endpoints one call tried, in order, each once.
type triedList []string

func (t *triedList) add(ep string) {
	if !slices.Contains(*t, ep) {
		*t = append(*t, ep)
	}
}

// done stamps the list on e and returns it.
func (t triedList) done(e *Error) *Error {
	e.Tried = slices.Clone(t)
	return e
}

// notSentError describes a request that never left the client: the
// connection could not be opened, or ctx ended before the request was sent.
func notSentError(method, ep string, err error) *Error {
	if errors.Is(err, ErrClosed) {
		return &Error{Method: method, Endpoint: ep, Code: codes.Canceled, Kind: ErrClosed, NotSent: true, Err: err}
	}
	e := &Error{Method: method, Endpoint: ep, Code: codes.Unavailable, Kind: ErrUnavailable, NotSent: true, Err: err}
	if c := codeOf(err); c == codes.Canceled || c == codes.DeadlineExceeded {
		e.Code, e.Kind = c, nil
	}
	return e
}

// failure classifies a failed attempt on ep.
func failure(method, ep string, tr trace, err error, mutating bool) *Error {
	if !tr.sent {
		return notSentError(method, ep, err)
	}
	return sentError(method, ep, err, mutating)
}

// sentError describes a failure of a request that reached (or may have
// reached) ep.
func sentError(method, ep string, err error, mutating bool) *Error {
	code := codeOf(err)
	e := &Error{Method: method, Endpoint: ep, Code: code, Kind: kindOf(code, err), Err: err}
	if mutating && !refused(code) && !notProposed(err) {
		e.OutcomeUnknown = true
	}
	return e
}

// notProposed reports whether a server said the request had no effect: it
// did not propose it (no leader, a transfer in progress), or it is in no
// configuration and could not (serverpb.ReasonNotMember).
func notProposed(err error) bool {
	return serverpb.HasReason(err, serverpb.ReasonNotProposed) || serverpb.HasReason(err, serverpb.ReasonNotMember)
}

// followHint records the leader a member outside the configuration named in
// err, and returns the leader's endpoint when it is a configured one.
func (c *Client) followHint(err error) string {
	md, ok := serverpb.Reason(err, serverpb.ReasonNotMember)
	if !ok {
		return ""
	}
	id, perr := strconv.ParseUint(md[serverpb.MetadataLeaderID], 16, 64)
	if perr != nil || id == 0 {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaderID = id
	if addr := md[serverpb.MetadataLeaderAddress]; addr != "" {
		c.addressOf[id] = addr
	}
	return c.leaderEndpointLocked()
}

// read runs a request that is safe to repeat, following the package's retry
// rule: the next endpoint on Unavailable, an attempt's own timeout, a
// connection that would not open, or a removed member; backoff after every
// endpoint was tried.
func read[R headered](ctx context.Context, c *Client, method string, fn rpc[R]) (R, string, error) {
	var zero R
	var last *Error
	var tried triedList
	pause := c.cfg.BackoffBase
	attempts := 0
	for {
		c.resolveLeader(ctx)
		for _, ep := range c.candidates() {
			tried.add(ep)
			resp, tr, err := attempt(ctx, c, ep, fn)
			if err == nil {
				return resp, ep, nil
			}
			last = failure(method, ep, tr, err, false)
			if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryableRead(last) {
				return zero, ep, tried.done(last)
			}
			c.failedAt(ep, tr, last.Code)
			c.followHint(err)
			attempts++
			c.log.Debug("raftkube client: retrying read", "method", method, "endpoint", ep, "attempt", attempts, "err", err)
			if attempts >= c.cfg.MaxReadAttempts {
				return zero, ep, tried.done(last)
			}
		}
		if !c.backoff(ctx, &pause) {
			return zero, last.Endpoint, tried.done(last)
		}
	}
}

// backoff waits *pause between rounds of a retry, then doubles *pause up to
// Config.BackoffMax. It returns false, at once, when ctx is done first.
func (c *Client) backoff(ctx context.Context, pause *time.Duration) bool {
	t := time.NewTimer(*pause)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
	}
	*pause = min(2**pause, c.cfg.BackoffMax)
	return true
}

func retryableRead(e *Error) bool {
	switch e.Code {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return errors.Is(e.Kind, ErrRemoved)
}

// write runs a request that must not be repeated once it may have reached a
// server: it is repeated only when the servers said they did not propose it
// (serverpb.ReasonNotProposed: no leader, a transfer in progress;
// serverpb.ReasonNotMember), a round of endpoints after a backoff, up to
// MaxReadAttempts rounds in all.
func write[R headered](ctx context.Context, c *Client, method string, eps []string, fn rpc[R]) (R, string, error) {
	pause := c.cfg.BackoffBase
	var tried triedList
	for attempts := 1; ; attempts++ {
		resp, ep, e := writeOnce(ctx, c, method, eps, fn, &tried)
		if e == nil {
			return resp, ep, nil
		}
		if e.OutcomeUnknown || !notProposed(e.Err) || attempts >= c.cfg.MaxReadAttempts {
			return resp, ep, tried.done(e)
		}
		c.log.Debug("raftkube client: write not proposed, retrying", "method", method, "endpoint", ep, "attempt", attempts, "err", e)
		if !c.backoff(ctx, &pause) {
			return resp, ep, tried.done(e)
		}
	}
}

// writeOnce makes one round of a write: the next endpoint is tried only when
// the request never left the client, or the member said it was removed or
// did not propose the write. The leader is tried next: the one a member
// outside the configuration names, else the one the members answer Status
// with. eps nil means the leader's endpoint first, then the others; each
// endpoint is tried once a round. Every endpoint tried is added to tried.
func writeOnce[R headered](ctx context.Context, c *Client, method string, eps []string, fn rpc[R], tried *triedList) (R, string, *Error) {
	var zero R
	var last *Error
	follow := eps == nil
	if follow {
		c.resolveLeader(ctx)
		eps = c.candidates()
	}
	done := make(map[string]bool, len(eps))
	answered := false
	for len(eps) > 0 {
		ep := eps[0]
		eps = eps[1:]
		// Once a member answered this round, one that recently did not
		// is not worth a write that may hang there: the round ends, and
		// the next one, after the backoff, asks again.
		if done[ep] || (follow && answered && c.suspected(ep)) {
			continue
		}
		done[ep] = true
		tried.add(ep)
		resp, tr, err := attempt(ctx, c, ep, fn)
		if err == nil {
			return resp, ep, nil
		}
		answered = answered || tr.answered
		last = failure(method, ep, tr, err, true)
		if !tr.answered || !refused(last.Code) {
			c.failedAt(ep, tr, last.Code)
		}
		switch {
		case ctx.Err() != nil || errors.Is(err, ErrClosed):
			return zero, ep, last
		case last.NotSent || notProposed(err) || errors.Is(last.Kind, ErrRemoved):
		default:
			return zero, ep, last
		}
		c.log.Debug("raftkube client: write had no effect, trying the next endpoint", "method", method, "endpoint", ep, "err", err)
		if !follow {
			continue
		}
		lead := c.followHint(err)
		if lead == "" {
			lead = c.resolveLeader(ctx)
		}
		if lead != "" && !done[lead] {
			eps = append([]string{lead}, eps...)
		}
	}
	return zero, last.Endpoint, last
}

// wireKey keys an attempt's wire in its context.
type wireKey struct{}

// wire is what sendRecorder saw of one attempt.
type wire struct {
	// wrote: grpc handed the request message to the connection. Until
	// then a failed call certainly never reached a server.
	wrote atomic.Bool
	// answered: headers or a status came back from the member.
	answered atomic.Bool
}

// sendRecorder is a stats.Handler that fills in the wire of each attempt.
type sendRecorder struct{}

func (sendRecorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (sendRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	w, ok := ctx.Value(wireKey{}).(*wire)
	if !ok {
		return
	}
	switch s.(type) {
	case *stats.OutPayload:
		w.wrote.Store(true)
	case *stats.InHeader, *stats.InTrailer:
		w.answered.Store(true)
	}
}

func (sendRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (sendRecorder) HandleConn(context.Context, stats.ConnStats) {}
