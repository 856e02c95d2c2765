package serverpb

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
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

	// ReasonNotMember (codes.Unavailable): the member answering is in no
	// configuration yet (it waits to be added, or has not applied the change
	// that added it), so it cannot serve or forward the request. Nothing was
	// proposed: another member may serve it, retrying is safe. The ErrorInfo's
	// metadata names the leader when the member knows it (MetadataLeaderID,
	// MetadataLeaderAddress).
	ReasonNotMember = "NOT_MEMBER"

	// ReasonHasLeader (codes.FailedPrecondition): ForceNewCluster was refused
	// because the member knows a leader: a quorum is there, the cluster needs
	// no forcing. MetadataLeaderID names it.
	ReasonHasLeader = "HAS_LEADER"

	// ReasonNotVoter (codes.FailedPrecondition): ForceNewCluster was refused
	// because the member is not a voter of the configuration it holds (a
	// learner, or a voter the configuration is removing): it may lack
	// committed entries, so it must not found the new configuration.
	ReasonNotVoter = "NOT_VOTER"

	// ReasonSenderRemoved (codes.FailedPrecondition) ends a peer stream whose
	// sender was removed from the cluster: the sender learns it is removed.
	ReasonSenderRemoved = "SENDER_REMOVED"

	// ReasonUnauthenticated (codes.Unauthenticated): the member's client port
	// verifies client certificates and the call came without one. Present a
	// certificate signed by the cluster's CA.
	ReasonUnauthenticated = "UNAUTHENTICATED"

	// ReasonPermissionDenied (codes.PermissionDenied): the caller's verified
	// certificate lacks the organization the method needs (the Admin API
	// beyond Status needs the member's admin organization, by default
	// tlsconfig.AdminOrganization). Nothing was done.
	ReasonPermissionDenied = "PERMISSION_DENIED"
)

// ErrorInfo metadata keys.
const (
	// MetadataLeaderID is the leader's member id, in hex.
	MetadataLeaderID = "leader_id"
	// MetadataLeaderAddress is the leader's client address.
	MetadataLeaderAddress = "leader_client_address"
)

// ReasonError returns a status error with code and msg that carries reason.
func ReasonError(code codes.Code, reason, msg string) error {
	return ReasonErrorWithMetadata(code, reason, msg, nil)
}

// ReasonErrorWithMetadata is ReasonError with metadata in the ErrorInfo.
func ReasonErrorWithMetadata(code codes.Code, reason, msg string, md map[string]string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: ErrorDomain, Reason: reason, Metadata: md})
	if err != nil {
		panic(fmt.Sprintf("attach error details: %v", err)) // an ErrorInfo always marshals
	}
	return st.Err()
}

// HasReason reports whether err is a status carrying reason.
func HasReason(err error, reason string) bool {
	_, ok := Reason(err, reason)
	return ok
}

// Reason returns the metadata of err's ErrorInfo with reason, and whether
// err carries it.
func Reason(err error, reason string) (map[string]string, bool) {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return nil, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain && info.GetReason() == reason {
			return info.GetMetadata(), true
		}
	}
	return nil, false
}

// NewRequestStatus is err as the status a call would have ended with, for a
// failed request of KV.Stream.
func NewRequestStatus(err error) *RequestStatus {
	st := status.Convert(err).Proto()
	return &RequestStatus{Code: st.GetCode(), Message: st.GetMessage(), Details: st.GetDetails()}
}

// Err is the status error of a failed KV.Stream request: what its call would
// have returned, ErrorInfo and all. Nil for a nil RequestStatus.
func (s *RequestStatus) Err() error {
	if s == nil {
		return nil
	}
	return status.FromProto(&spb.Status{Code: s.GetCode(), Message: s.GetMessage(), Details: s.GetDetails()}).Err()
}
