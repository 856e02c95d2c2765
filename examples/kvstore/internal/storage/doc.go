// Package storage keeps one member's Raft state on disk: its log, its hard
// state and its snapshots. It implements raft.Storage over an in-memory copy
// (a raft.MemoryStorage) and makes every change durable before it is visible
// there, so the caller can follow the Ready contract: persist, then send.
//
// # Files
//
// A member's data dir holds:
//
//	log                          the log: records, appended in order
//	log.tmp                      a log being rewritten; removed at Open
//	snap-<term>-<index>.snap     a snapshot (term and index in 16 hex digits)
//	*.snap.tmp                   a snapshot being written; removed at Open
//
// # Records
//
// The log and the snapshot files are sequences of records, each framed as
//
//	length       uint32, little endian: bytes of kind and body
//	body CRC     uint32, little endian: CRC-32C of kind and body
//	header CRC   uint32, little endian: CRC-32C of the 8 bytes above
//	kind         1 byte
//	body         length-1 bytes
//
// The header has its own checksum so that a damaged length is never trusted:
// read as the length of a record running past the end of the file, it would
// otherwise pass for a torn write and cut off every record after it.
//
// Kinds: an entry (a marshaled raftpb.Entry), a hard state (raftpb.HardState),
// a snapshot mark (raftpb.SnapshotMetadata: from here on the log starts after
// that snapshot, whose data is in its snap file), and, in snap files only, a
// snapshot (raftpb.Snapshot with its data).
//
// # Recovery
//
// Open replays the log. An entry at index i replaces any entry at i or after
// (a new leader's log overrides an old one's), a hard state replaces the
// previous one, and a snapshot mark drops every entry before it, as
// MemoryStorage.ApplySnapshot does. Each Ready's write appends its entries
// before its hard state, so any prefix of the log is consistent: the hard
// state read never commits an entry that is not there.
//
// A log whose end was torn by a crash is truncated to its last whole record:
// the file ends within a record's header or body, or, where a header should
// be, holds only zero bytes (a file extended but never written). Nothing
// truncated was synced, so nothing truncated was acknowledged. A whole record
// whose checksum does not match is corruption, not a torn write: Open returns
// an error wrapping ErrCorrupt and the member does not start, since going on
// without a record it may have acknowledged could break Raft's safety.
//
// # Durability
//
// A snapshot file is written as a .tmp file, synced, renamed into place, and
// the directory synced; then its mark is appended to the log and synced.
// Taking a snapshot of the member's own state machine rewrites the log the
// same way (log.tmp, then rename): hard state, mark, and the entries after the
// snapshot. Older snapshot files are removed only once the newer one is
// recorded in the log.
package storage
