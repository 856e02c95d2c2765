package serverpb

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Servers attach a google.rpc.ErrorInfo with this domain and one of these
// reasons to a status whose cause a client must tell apart from others of the
// same code; the message is for people and may change.
const (
	ErrorDomain = "raftkube.io"

	// ReasonMemberRemoved (codes.FailedPrecondition): the member answering was
	// removed from the cluster and serves nothing but Status. Another member
	// may serve the request.
	ReasonMemberRemoved = "MEMBER_REMOVED"

	// ReasonNotProposed (codes.Unavailable): the request was not proposed, so
	// it had no effect (no leader, a leadership transfer in progress, the
	// leader unreachable for forwarding). Retrying it is safe, even a write.
	ReasonNotProposed = "NOT_PROPOSED"

	// ReasonChangeInProgress (codes.FailedPrecondition): a configuration
	// change was refused because another is not yet applied, or the
	// configuration is still joint. Nothing changed; retry once it is done.
	ReasonChangeInProgress = "CHANGE_IN_PROGRESS"
)

// ReasonError returns a status error with code and msg that carries reason.
func ReasonError(code codes.Code, reason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: ErrorDomain, Reason: reason})
	if err != nil {
		panic(fmt.Sprintf("attach error details: %v", err)) // an ErrorInfo always marshals
	}
	return st.Err()
}

// HasReason reports whether err is a status carrying reason.
func HasReason(err error, reason string) bool {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain && info.GetReason() == reason {
			return true
		}
	}
	return false
}
