package client

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// headered is every response: each carries a ResponseHeader.
type headered interface {
	GetHeader() *serverpb.ResponseHeader
}

// rpc is one attempt of a request on a ready connection.
type rpc[R headered] func(ctx context.Context, cc *grpc.ClientConn) (R, error)

// attempt runs fn on ep. sent is false when the request provably never left
// the client (the connection could not be made ready).
func attempt[R headered](ctx context.Context, c *Client, ep string, fn rpc[R]) (resp R, sent bool, err error) {
	cc, err := c.ready(ctx, ep)
	if err != nil {
		return resp, false, err
	}
	actx := ctx
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	resp, err = fn(actx, cc)
	if err == nil {
		c.observe(ep, resp.GetHeader())
	}
	return resp, true, err
}

// notSentError describes a connection that could not be opened.
func notSentError(method, ep string, err error) *Error {
	code := codes.Unavailable
	if errors.Is(err, ErrClosed) {
		return &Error{Method: method, Endpoint: ep, Code: codes.Canceled, Kind: ErrClosed, Err: err}
	}
	if c := codeOf(err); c == codes.Canceled || c == codes.DeadlineExceeded {
		code = c
	}
	return &Error{Method: method, Endpoint: ep, Code: code, Kind: ErrUnavailable, Err: err}
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
	pause := c.cfg.BackoffBase
	attempts := 0
	for {
		c.resolveLeader(ctx)
		for _, ep := range c.candidates() {
			resp, sent, err := attempt(ctx, c, ep, fn)
			if err == nil {
				return resp, ep, nil
			}
			if !sent {
				last = notSentError(method, ep, err)
			} else {
				last = sentError(method, ep, err, false)
			}
			if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryableRead(last) {
				return zero, ep, last
			}
			c.suspect(ep)
			c.followHint(err)
			attempts++
			c.log.Debug("raftkube client: retrying read", "method", method, "endpoint", ep, "attempt", attempts, "err", err)
			if attempts >= c.cfg.MaxReadAttempts {
				return zero, ep, last
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, last.Endpoint, last
		case <-t.C:
		}
		pause = min(2*pause, c.cfg.BackoffMax)
	}
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
	for attempts := 1; ; attempts++ {
		resp, ep, err := writeOnce(ctx, c, method, eps, fn)
		var e *Error
		if err == nil || !errors.As(err, &e) || e.OutcomeUnknown || !notProposed(e.Err) ||
			attempts >= c.cfg.MaxReadAttempts {
			return resp, ep, err
		}
		c.log.Debug("raftkube client: write not proposed, retrying", "method", method, "endpoint", ep, "attempt", attempts, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, ep, err
		case <-t.C:
		}
		pause = min(2*pause, c.cfg.BackoffMax)
	}
}

// writeOnce makes one round of a write: the next endpoint is tried only when
// the connection could not be opened, or the member said it was removed or
// did not propose the write (then the leader it names, if any, is next). eps
// nil means the leader's endpoint first, then the others.
func writeOnce[R headered](ctx context.Context, c *Client, method string, eps []string, fn rpc[R]) (R, string, error) {
	var zero R
	var last *Error
	follow := eps == nil
	if follow {
		c.resolveLeader(ctx)
		eps = c.candidates()
	}
	tried := make(map[string]bool, len(eps))
	for len(eps) > 0 {
		ep := eps[0]
		eps = eps[1:]
		if tried[ep] {
			continue
		}
		tried[ep] = true
		resp, sent, err := attempt(ctx, c, ep, fn)
		if err == nil {
			return resp, ep, nil
		}
		if sent {
			last = sentError(method, ep, err, true)
			if notProposed(err) {
				c.suspect(ep)
				if lead := c.followHint(err); follow && lead != "" && !tried[lead] {
					eps = append([]string{lead}, eps...)
				}
				c.log.Debug("raftkube client: write not proposed, trying next endpoint", "method", method, "endpoint", ep, "err", err)
				continue
			}
			if !errors.Is(last.Kind, ErrRemoved) {
				if last.OutcomeUnknown {
					c.suspect(ep)
				}
				return zero, ep, last
			}
		} else {
			last = notSentError(method, ep, err)
			c.suspect(ep)
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return zero, ep, last
			}
		}
		c.log.Debug("raftkube client: write not sent, trying next endpoint", "method", method, "endpoint", ep, "err", err)
	}
	return zero, last.Endpoint, last
}
