// Package client is the Go client of a raftkube cluster: the KV API (Put, Get,
// Delete, Range, CompareAndSwap) and the Admin API (Status, membership changes,
// leadership transfer, snapshots) of raftnode/server/serverpb.
//
// # Endpoints and the leader
//
// A Client is given the client addresses of some members (Config.Endpoints) and
// only ever dials those. Every response header names the member that answered
// and the leader it knows of; Status also gives the leader's client address. The
// client remembers which endpoint is which member and sends every request to the
// leader's endpoint first when it is known, then to the other endpoints in the
// configured order. Any member accepts writes and membership changes (followers
// forward them), so following the leader saves a hop; it is not needed for
// correctness.
//
// An endpoint on which an attempt got no answer (no connection, the
// attempt's timeout, a connection that broke, or only DeadlineExceeded) is
// suspect for Config.SuspectFor, or until it answers: it is tried after every
// other endpoint, even while members name it leader, as they do for a frozen
// or cut-off leader until they elect another, and a write round skips it
// once another member answered. When the leader's endpoint fails, or a member
// answers that it knows no leader while the leader is unknown, the client
// forgets the leader and asks the members that are not suspect for their
// Status before the next attempt, so a write goes next to the leader they
// name. Measured on three raftnode processes with a one-second election
// timeout and a RequestTimeout of half of it (test/cluster
// TestClientWritesFailOverFromCutOffLeader), writes through a client whose
// first endpoint was the leader succeed again 1.0 to 2.0 s after that
// leader is frozen (SIGSTOP) or killed.
//
// Status(ctx, "") answers from any member, which may lag or not yet be in the
// configuration; LeaderStatus answers from the leader, or fails with
// ErrNoLeader when the members that answered know none.
//
// # One stream per member
//
// Put, Get, Delete, Range and CompareAndSwap travel on one KV.Stream per
// connection, opened by the first of them and shared by every request in
// flight on it: no HTTP/2 stream per request, and answers come back as they
// are ready, so a slow request holds up no other. The retry and error rules
// below are the same as for a call per request: a request handed to the
// stream is sent; one that could not be (the stream had ended) is not. A
// member of a version without KV.Stream gets a call per request, and is asked
// again a minute later.
//
// # What is retried
//
// The rule is: a request is sent again only when sending it twice cannot change
// the outcome.
//
//   - Reads (Get, Range, Status without an endpoint, LeaderStatus, Leader) are
//     retried on the next endpoint when an attempt fails with
//     codes.Unavailable, with codes.DeadlineExceeded from its own per-attempt
//     timeout (Config.RequestTimeout), with a connection that could not be
//     opened, or from a member that was removed (ErrRemoved). After every
//     endpoint was tried the client backs off (Config.BackoffBase doubling up
//     to Config.BackoffMax) and tries again, up to Config.MaxReadAttempts
//     attempts or until ctx ends.
//   - Writes (Put, Delete, CompareAndSwap) and membership changes (AddLearner,
//     ChangeMembership, LeaveJoint, TransferLeadership, Snapshot) are tried on
//     the next endpoint only when the attempt provably never reached a server:
//     the connection to the endpoint could not be made ready within
//     Config.DialTimeout, or grpc never handed the request to the connection
//     (ErrNotSent), or the member answered that it was removed (it serves
//     nothing, so it did nothing), or that it did not propose the request
//     (serverpb.ReasonNotProposed: it knows no leader;
//     serverpb.ReasonNotMember: it is in no configuration yet). The leader is
//     tried next: the one a member outside the configuration names, else the
//     one the members not suspect answer Status with, else the next endpoint.
//     When every endpoint said it did not propose the request, the round is
//     repeated after the backoff, up to Config.MaxReadAttempts rounds. Once
//     the request may have reached a server, a failure that does not say the
//     request was refused (Unavailable, DeadlineExceeded, Canceled, Unknown,
//     Internal, Aborted, DataLoss) is returned at once wrapped with
//     ErrOutcomeUnknown: the write may or may not have been applied, and only
//     the caller knows whether repeating it is safe (a CompareAndSwap with
//     ExpectedModIndex is; a blind Put usually is; an append is not).
//   - ForceNewCluster (disaster recovery) goes to the one endpoint given, once,
//     and is never retried.
//   - SaveSnapshot (a backup) asks the followers first, then the leader, and
//     moves to the next endpoint as a read does, but only until the stream
//     began: once the caller's writer got bytes it is not retried. It is not
//     bounded by Config.RequestTimeout; ctx bounds it. Its own failures (a
//     stream cut short, a checksum that differs) wrap snapfile's sentinel
//     errors and are not *Error.
//
// # Errors
//
// Every error from a call is an *Error naming the method, the endpoint of the
// last attempt and every endpoint tried (Error.Tried), with the gRPC code;
// errors.Is matches the sentinel errors below (ErrOutcomeUnknown, ErrNotSent,
// ErrRemoved, ErrNotFound, ...) and status.Code still finds the code. A failed
// write is one of three: ErrOutcomeUnknown (it may have been applied),
// ErrNotSent (it never left the client: no connection could be made, or ctx
// ended before grpc handed it to the connection, as a stats handler the client
// installs observes), or a member's answer that it did not apply it.
package client
