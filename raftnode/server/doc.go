// Package server runs one raftkube member: it owns the Raft core (raftnode/raft),
// its durable log (raftnode/wal), the key-value state machine (raftnode/kv) and
// the peer transport (raftnode/transport), and serves the client (KV) and Admin
// gRPC APIs of serverpb.
//
// # Data directory
//
//	member.json        identity: member id, cluster id (0 until known), name, removed
//	wal/               the Raft log (package wal)
//	snap/              kv snapshot files, named by applied index (kv.SnapshotDir)
//	members/           the membership table at each kv snapshot's index,
//	                   "<16 hex digits>.json", written before the kv snapshot
//
// A data dir without member.json is empty: anything else in it is left over from
// an interrupted first start, which acknowledged nothing, and is removed.
//
// # Start modes
//
// Bootstrap on an empty data dir makes a random member id and cluster id, and
// writes a snapshot at index 1 term 1 whose ConfState has only this member, with
// this member's metadata in the membership table; the member then elects itself.
// member.json is written last, so a crash during bootstrap leaves an empty dir.
// A non-empty data dir ignores Bootstrap.
//
// RestoreFrom on an empty data dir founds a new cluster the same way, but from a
// snapshot file (raftnode/snapfile): the file is read and verified whole first,
// then the snapshot is written at the file's index (term 1, committed) with the
// file's kv store and this member alone in the table and the configuration,
// under a new random cluster id. A data dir holding a member refuses RestoreFrom
// (ErrDataDirNotEmpty), unless member.json records that the member was founded
// from this very file (its trailer's SHA-256): a restart with the flag still set.
// A member founded from a file that is no longer there restarts too (the file
// was fetched into a pod's emptyDir, gone once the pod is re-created); another
// file at that path is refused.
//
// Without Bootstrap an empty data dir starts with an empty log, no configuration
// and cluster id 0, and waits to be added.
//
// # Cluster id: adopt on first contact
//
// The transport refuses batches whose cluster id differs from its own, and its
// cluster id is fixed when it is made. A member that does not know its cluster
// yet must nevertheless accept the first leader that contacts it, and must be
// able to answer it before it has the membership table (which arrives with the
// first snapshot). So the server checks cluster ids itself, in a gRPC stream
// interceptor on the peer server, and the transport that receives runs with
// cluster id 0 (the interceptor rewrites checked batches to 0):
//
//   - a member that knows its cluster refuses any other cluster id with
//     codes.FailedPrecondition, exactly as the transport would;
//   - a member that does not know it yet refuses everything except a batch or
//     snapshot carrying a leader's message (MsgApp, MsgHeartbeat, MsgSnap), and
//     adopts that batch's cluster id: it writes it to member.json before the
//     message is processed, and from then on behaves as above;
//   - every outgoing stream carries the sender's advertised peer address in
//     gRPC metadata ("raftkube-peer-address"); a member uses it to reach a
//     sender it has no table entry for, which is how a new member answers the
//     leader's first messages. The membership table overrides such hints.
//
// Outgoing messages go through a second transport made with the real cluster
// id (when the member starts knowing it, or when it adopts it).
//
// # Members outside the configuration
//
// A member in no configuration (one waiting to be added, or one that has not
// yet applied the change that added it) cannot serve a write, a linearizable
// read or a membership change: it has no leader to forward to. It answers
// them at once with codes.Unavailable and reason serverpb.ReasonNotMember,
// naming the leader in the ErrorInfo metadata when it knows it, so that a
// client goes on to another endpoint instead of waiting. Status and
// serializable reads are served as always.
//
// # Removed members and ForceNewCluster
//
// A member refuses the peer streams of a member its table records as removed
// and that is in no configuration in force (serverpb.ReasonSenderRemoved);
// the refused member learns from it that it was removed (as from a removal
// probe, see removal.go) and stops taking part in Raft: it no longer ticks or
// steps messages, so it neither leads nor votes for members still in the old
// configuration. The Admin ForceNewCluster makes a voter that knows no leader
// the only voter of a new configuration (raft.RawNode.ForceNewConfiguration):
// the forced change is written synchronously (it commits entries on this
// member's copy alone), its application records every other member of the
// configuration before it as removed, and the member campaigns at once.
//
// # Log entries
//
// Normal entries carry an envelope: the magic byte 'R', the proposing member's
// id and a request id (both uint64 big-endian), then the kvpb.Command bytes. The
// proposer answers its waiting request once it applies the entry, also when the
// proposal was forwarded to the leader by Raft. Conf change entries carry the
// same identification and the metadata of added members as JSON in the
// ConfChangeV2 Context.
//
// # The member core and its shell
//
// The member's state machine is memberCore (core*.go): the Raft core, the
// log, the kv store, the membership table and the requests waiting on them.
// It takes events (ticks, peer messages, batches of writes and reads, sync
// reports, delivery reports, finished snapshot files) and handles every Ready
// they make; it starts no goroutine and reads no clock, socket or file, and
// asks its shell (memberShell: send, request a sync, write snapshot files,
// record a removal) for the rest. The Server is that shell: its event loop
// (loop.go) turns channels, the ticker, the syncer and the snapshot writers
// into the core's events, one at a time. So the core is tested under a
// deterministic harness (core_harness_test.go) that crashes members at
// every persistence point, loses what they had not synced, and reorders,
// drops and repeats messages and sync reports.
//
// Request ids and ReadIndex contexts start at the clock in each process: an
// answer meant for the process before a restart (an entry it proposed, a
// ReadIndex answer in flight through the restart) must match nothing in the
// new one.
//
// # Persistence
//
// The event loop never waits for the disk: each Ready's records are written to
// the wal's file (wal.Write) and a syncer goroutine fsyncs in the background
// (wal.Sync), one fsync covering every write made while the previous one ran.
// The Raft core runs with AsyncPersistence: the loop reports each sync with
// RawNode.Persisted, and only then does a leader count its own copy toward
// commit; a Ready's Messages (acknowledgements, votes) are held until the
// writes before them are durable. A leader's appends go out before its own
// write (§10.2.1), and committed entries are applied at once, since committed
// means durable on a quorum. A Ready with a snapshot is persisted synchronously.
//
// # Snapshots
//
// Every Config.SnapshotEntries applied entries, or sooner once the entries
// applied since the last snapshot hold Config.SnapshotBytes of data (and on
// the Snapshot RPC), the member writes the membership table, then the kv snapshot, then the snapshot
// metadata to the wal (wal.SaveSnapshot with the ConfState), and compacts the
// wal. A snapshot sent to a follower carries, as Snapshot.Data, the table and
// the kv snapshot file of the snapshot's index:
//
//	magic "RKSNAP1\x00", uint32 big-endian length n, n bytes of table JSON,
//	then the kv snapshot stream (kv's own format, with its own checksum)
//
// On restart the newest valid kv snapshot and the table of its index are
// loaded; the log after the wal's snapshot is replayed through Raft, with
// entries at or below the kv snapshot's index passed over by the store (conf
// changes among them still reach the Raft core, whose configuration starts from
// the wal's snapshot). Until the Raft core has handed out every entry up to the
// store's index, the member takes no snapshot (a Snapshot RPC or a backup
// answers codes.Unavailable): it would compact entries the core has yet to
// hand out.
//
// # Requests on one stream
//
// KV.Stream carries many KV requests on one gRPC stream (one message each
// way per request, answered by id in the order the answers are ready), which
// is how raftnode/client sends them: a unary call costs an HTTP/2 stream,
// headers and trailers, and a goroutine on both sides, about half of what a
// write costs at 100 concurrent requests. A request on the stream means what
// its own call means and is refused or fails alone, with the status its call
// would return (serverpb.RequestStatus). The stream's reader starts each
// request without waiting for it; the event loop hands results to the
// stream's sender through sinks (resultSink, readSink), which batch the
// answers ready together. A request waits at most RequestTimeout, then is
// answered DeadlineExceeded (a write's outcome then unknown); when the member
// shuts down, every request it received is answered before the stream ends.
//
// # Shutdown
//
// When Run's context ends, a leader first hands leadership to the most
// up-to-date other voter (unless the configuration is joint) and waits for it,
// up to twice the election timeout or RequestTimeout, whichever is shorter:
// deleting the leader's pod costs the cluster a transfer, not an election
// timeout. Then the member stops accepting, finishes the loop and closes.
//
// # HTTP endpoints
//
// Server.Handler serves /healthz (the event loop answers), /readyz (the member
// is in the configuration, not removed, knows a leader and completes a
// ReadIndex round; ?serializable=true skips the round) and /metrics (Prometheus,
// from a registry of the Server's own, with the Go and process collectors).
// Run serves it when Config.HTTPListenAddr or Config.HTTPListener is set. It
// is always plain HTTP: the kubelet probes it.
//
// # TLS
//
// Config.PeerTLS makes the peer port mutual TLS: a member serves and dials with
// the same certificate and accepts only peers its trusted CA verifies, so a
// process without such a certificate can neither send Raft messages nor be
// sent them. With Config.PeerAllowedOrganization the other side's certificate
// must also carry that organization (tlsconfig.MemberOrganization), on
// accepting and on dialing: an application's certificate of the same CA is
// refused in the handshake, and a joining member follows only a leader with a
// member's certificate. Config.ClientTLS secures the client port; a member's
// own calls to other members' client ports (forwarding to the leader, removal
// probes) use the same files as a client.
//
// Certificates and trusted CA bundles are read through tlsconfig.Source:
// changed files take effect at the next handshake, without a restart, so a
// CA is rotated by trusting old and new, re-issuing the leaves, then trusting
// the new alone. Connections already open stay open. Status reports what is
// in force (serverpb.TLSStatus: fingerprints of the trusted CAs and served
// leaf of each port), looking at the files first, at most once per
// Config.TLSCheckInterval.
//
// # Who may call what
//
// When the client port verifies client certificates (ClientTLS with a
// TrustedCAFile and not NoClientCertAuth), every call is authorized by the
// caller's verified certificate, in one interceptor (authz.go):
//
//   - no certificate: codes.Unauthenticated, serverpb.ReasonUnauthenticated,
//     on every method; a certificate of another CA fails the handshake;
//   - any certificate of the CA: the KV API and Admin Status;
//   - a certificate whose Subject.Organization holds
//     Config.ClientAdminOrganization (tlsconfig.AdminOrganization by default):
//     every Admin method; without it, the others are refused with
//     codes.PermissionDenied, serverpb.ReasonPermissionDenied.
//
// Members forward admin calls with their own client certificate, so theirs
// carries the admin organization too. Plaintext and server-only TLS check no
// identity and authorize nothing: every caller that reaches the port may call
// everything (an explicit opt-out, for a port only trusted callers reach).
package server
