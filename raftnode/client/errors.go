package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// Sentinel errors, matched with errors.Is against any error a Client returns.
var (
	// ErrOutcomeUnknown: a write or membership change may have reached a server
	// and failed without saying whether it was applied. It was not retried.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrRemoved: the member was removed from the cluster and serves nothing but
	// Status (codes.FailedPrecondition with reason serverpb.ReasonMemberRemoved).
	ErrRemoved = errors.New("member was removed")
	// ErrNotSent: the request never left the client (no connection to the
	// endpoint could be made, or ctx ended before it was sent), so it was
	// certainly not applied. Set with ErrUnavailable when connecting failed.
	ErrNotSent = errors.New("not sent")
	// ErrUnavailable: the last endpoint tried did not answer (down,
	// unreachable, timing out, a connection that broke, or a member that
	// could not serve for want of a leader); Error.Tried lists the endpoints
	// the call tried.
	ErrUnavailable = errors.New("unavailable")
	// ErrNoLeader: the members that answered know no leader (LeaderStatus).
	ErrNoLeader = errors.New("no leader")
	// ErrNotFound: the request names something the cluster does not know, such
	// as an unknown member id (codes.NotFound).
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the request was malformed (codes.InvalidArgument, or a
	// Result with ERROR_CODE_INVALID).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrTooLarge: a key, value or message exceeds a limit
	// (codes.ResourceExhausted, or a Result with ERROR_CODE_TOO_LARGE).
	ErrTooLarge = errors.New("too large")
	// ErrFailedPrecondition: the cluster's state does not allow the request now,
	// for example a membership change while another one is pending.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnauthenticated: the member requires a client certificate signed by
	// the cluster's CA and the call came without one (codes.Unauthenticated,
	// reason serverpb.ReasonUnauthenticated). Nothing was done.
	ErrUnauthenticated = errors.New("unauthenticated: no client certificate")
	// ErrPermissionDenied: the client certificate lacks the organization the
	// method needs, such as the admin organization for membership changes
	// (codes.PermissionDenied, reason serverpb.ReasonPermissionDenied).
	// Nothing was done.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
)

// Error is a failed call on one endpoint.
type Error struct {
	// Method is the RPC, as "KV.Put" or "Admin.Status".
	Method string
	// Endpoint is the address the last attempt went to; empty when no attempt
	// could be made.
	Endpoint string
	// Code is the gRPC code of the failure (codes.Unavailable for a connection
	// that could not be opened).
	Code codes.Code
	// Kind is the sentinel the failure matches, or nil.
	Kind error
	// OutcomeUnknown is set when the request may have been applied.
	OutcomeUnknown bool
	// NotSent is set when the request never left the client, so it was
	// not applied (errors.Is matches ErrNotSent).
	NotSent bool
	// Tried are the endpoints the call tried, in order, each once.
	Tried []string
	// Err is the underlying error (a gRPC status error, a context error, ...).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	if e.Endpoint != "" {
		b.WriteString(" on ")
		b.WriteString(e.Endpoint)
	}
	b.WriteString(": ")
	switch {
	case e.OutcomeUnknown:
		b.WriteString("outcome unknown: ")
	case e.NotSent:
		b.WriteString("not sent: ")
	}
	// ErrUnavailable adds nothing to the code or the cause printed next.
	if e.Kind != nil && !errors.Is(e.Kind, ErrOutcomeUnknown) && !errors.Is(e.Kind, ErrUnavailable) {
		b.WriteString(e.Kind.Error())
		b.WriteString(": ")
	}
	if st, ok := status.FromError(e.Err); ok && e.Err != nil {
		fmt.Fprintf(&b, "%s: %s", st.Code(), st.Message())
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if len(e.Tried) > 1 {
		fmt.Fprintf(&b, " (tried %s; this error is from the last)", strings.Join(e.Tried, ", "))
	}
	return b.String()
}

// Unwrap lets errors.Is match the sentinel, ErrOutcomeUnknown and the cause.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 4)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.OutcomeUnknown {
		errs = append(errs, ErrOutcomeUnknown)
	}
	if e.NotSent {
		errs = append(errs, ErrNotSent)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// GRPCStatus makes status.Code and status.FromError see the original code.
func (e *Error) GRPCStatus() *status.Status {
	if st, ok := status.FromError(e.Err); ok && e.Err != nil {
		return st
	}
	return status.New(e.Code, e.Error())
}

// codeOf is the gRPC code of err, turning context errors into their codes.
func codeOf(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return status.Code(err)
}

// kindOf maps a failure to its sentinel error, nil when none fits.
func kindOf(code codes.Code, err error) error {
	switch code {
	case codes.FailedPrecondition:
		if serverpb.HasReason(err, serverpb.ReasonMemberRemoved) {
			return ErrRemoved
		}
		return ErrFailedPrecondition
	case codes.NotFound:
		return ErrNotFound
	case codes.InvalidArgument:
		return ErrInvalidArgument
	case codes.ResourceExhausted:
		return ErrTooLarge
	case codes.Unavailable:
		return ErrUnavailable
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.PermissionDenied:
		return ErrPermissionDenied
	}
	return nil
}

// refused reports whether a server's answer with this code says the request
// was not applied. The other codes (Unavailable, DeadlineExceeded, Canceled,
// Unknown, Internal, Aborted, DataLoss) can come from a server or a proxy
// after the request was proposed, so they say nothing about the outcome.
func refused(code codes.Code) bool {
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.ResourceExhausted, codes.FailedPrecondition, codes.OutOfRange,
		codes.Unimplemented, codes.Unauthenticated:
		return true
	}
	return false
}

// resultError turns a Result applied as a no-op into an error; nil otherwise.
func resultError(method, endpoint string, r *kvpb.Result) error {
	if r == nil || r.GetErrorCode() == kvpb.ErrorCode_ERROR_CODE_NONE {
		return nil
	}
	kind := ErrInvalidArgument
	if r.GetErrorCode() == kvpb.ErrorCode_ERROR_CODE_TOO_LARGE {
		kind = ErrTooLarge
	}
	code := codes.InvalidArgument
	if errors.Is(kind, ErrTooLarge) {
		code = codes.ResourceExhausted
	}
	return &Error{Method: method, Endpoint: endpoint, Code: code, Kind: kind,
		Err: status.Error(code, r.GetErrorMessage())}
}
