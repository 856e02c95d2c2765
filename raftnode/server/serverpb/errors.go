package serverpb

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
)
