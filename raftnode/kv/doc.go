// Package kv is the replicated key-value state machine of a raftkube node: an
// ordered in-memory store (a github.com/google/btree B-tree) that applies the
// commands of committed raft entries, answers reads, and writes and restores
// snapshots as streams.
//
// # Commands and revisions
//
// Commands are kvpb.Command protobuf messages (Put, Delete of a key, interval or
// prefix, CompareAndSwap) carried as the data of normal raft entries. The raft
// index of the applying entry is the revision: a key keeps the index that
// created it (create_index), the index that last wrote it (mod_index) and its
// number of writes (version), as etcd does. A delete forgets all three.
//
// Apply takes entries strictly in index order: the index must be
// AppliedIndex()+1, and anything else fails with ErrAlreadyApplied or ErrGap
// without changing the store. A malformed or oversized command is still an
// applied entry: it advances the applied index as a no-op and its Result
// carries an error code (see ResultErr), because every member must apply the
// same committed log identically. Servers call Store.Validate before proposing
// so that such commands are normally refused before they reach the log.
//
// # Snapshot stream format
//
// WriteSnapshot and Restore use one stream format (integers little-endian):
//
//	header   magic "RKVSNAP\x00" (8 bytes)
//	         format version   uint32 (SnapshotFormatVersion, 1)
//	         applied index    uint64
//	         key count        uint64
//	records  key count times, in strictly ascending key order:
//	         length           uint32 (at most 1 GiB)
//	         kvpb.KeyValue    length bytes, canonical protobuf encoding
//	trailer  CRC-32C (Castagnoli) uint32 of every byte before it
//	         and then the end of the stream
//
// Writing needs one record in memory at a time; reading keeps only the tree it
// builds. Restore rejects, with ErrCorruptSnapshot and no store, a stream that is
// truncated, has a bad magic, checksum, record or key order, a key whose
// indexes are inconsistent with the applied index, or bytes after the trailer.
//
// # Snapshot files
//
// SnapshotDir keeps snapshot files named after their applied index as 16 hex
// digits ("00000000000004d2.snap"), so names sort like indexes. Save writes a
// temp file, fsyncs it, renames it into place and fsyncs the directory.
// LoadNewest uses the newest valid file, skipping (and reporting in LoadInfo) a
// corrupt newer one; Prune deletes all but the newest few.
//
// # Restart procedure
//
// A member restarts its state machine from its snapshot directory and its
// durable raft log, never applying an entry twice and never skipping one:
//
//  1. s, info, err := dir.LoadNewest(); log info.Skipped as warnings.
//  2. For each committed log entry e, in index order, with e.Index >
//     s.AppliedIndex(): s.ApplyEntry(e). Entries at or below the applied index
//     are already reflected in the snapshot and are passed over.
//  3. Any ErrGap means the log does not reach back to the snapshot (for example
//     a corrupt newest snapshot was skipped and the log was compacted past the
//     older one); it is fatal, never ignored. ErrAlreadyApplied means the
//     caller replayed an entry and is a bug.
//
// TestRestartReplaysLogAfterSnapshot runs this procedure.
package kv
