// Package wal is the durable Raft log of a member: entries, hard state and snapshot
// metadata in segmented, append-only, checksummed files. A *Log implements
// raft.Storage, so the consensus core reads straight from it.
//
// # Files
//
// A log directory holds segment files named
//
//	NNNNNNNNNNNNNNNN-IIIIIIIIIIIIIIII.wal
//
// where N is the segment's sequence number and I the Raft index the segment was
// started for (the last index plus one at the time it was created), both as 16
// lower-case hex digits. Sequence numbers are contiguous from the oldest segment
// still kept; a gap means a segment was lost and Open refuses the directory.
// A new segment is written as NNNN-IIII.wal.tmp, synced, renamed into place and
// the directory synced, so a segment file never exists without its header;
// leftover .tmp files are removed by Open.
//
// # Records
//
// A segment is a sequence of records, with no padding or alignment:
//
//	+----------------+----------------+------+-------------------+
//	| length  uint32 | crc     uint32 | type | payload           |
//	| little-endian  | little-endian  | byte | length bytes      |
//	+----------------+----------------+------+-------------------+
//
// length is the payload's length. crc is the CRC-32C (Castagnoli) of the length
// field, the type byte and the payload, computed by continuing (crc32.Update) from
// the crc of the record before it. The chain makes a record valid only in its
// place: a record copied from another position or another log does not verify.
// The first record of every segment is chained from 0.
//
// Record types and their payloads (the raftpb protobuf encodings):
//
//	1 segment header   seq uint64, first index uint64, previous crc uint32 (little-endian)
//	2 entry            raftpb.Entry
//	3 hard state       raftpb.HardState
//	4 snapshot         raftpb.SnapshotMetadata
//
// The segment header carries the running crc of the end of the previous segment:
// Open checks it against what it computed, which ties the segments into one
// chain. After the header a segment repeats the latest snapshot metadata and hard
// state, so that dropping older segments (Compact) never loses them.
//
// AppendRecord and DecodeRecord are the framing as pure functions. DecodeRecord
// tells apart a clean end (io.EOF), a torn record (ErrTornRecord: the header or
// payload is cut short, or the header is zero, as in zero-filled space) and a
// checksum mismatch (ErrChecksum).
//
// # Replay
//
// Open applies the records of all segments in order. An entry at index i
// replaces the entry at i and every entry after it, which is how Save writes a
// conflicting suffix: the replacing entries are simply appended as new records.
// A snapshot record drops the entries up to its index (all of them when the log
// does not hold the snapshot's entry with the same term) and raises the hard
// state to commit it (a snapshot is committed state: a member that crashed
// between a received snapshot's record and the hard state that came with it
// must start again); a hard state record replaces the hard state.
//
// # Recovery
//
// The last segment is preallocated (see Durability): zeros from the end of its
// last record to the end of the file are space never written, and the log ends
// there. Only the last segment may end badly: a crash in the middle of a write
// leaves a record cut short or zero-filled (unwritten sectors). Such a torn
// tail is truncated to the last good record and the cut is logged with its byte
// offsets.
// A checksum mismatch without zero-filled sectors, a bad record followed by a
// valid one, a bad record in an earlier segment, a malformed payload, a header
// that does not match its file or chain, or a missing segment is corruption:
// Open fails with an error wrapping ErrCorrupt that names the file and byte
// offset. Corruption is never skipped.
//
// # Durability
//
// Save writes a batch of records with one write and one fsync (group commit);
// Write and Sync split it, so that writes go on while a sync runs. A new
// segment is preallocated to the segment size (fallocate on Linux) and synced
// once, so that appends overwrite reserved space and their sync is an
// fdatasync that need not grow the file; a segment that stops being the last
// (or a closed log) is cut back to its last record first. Creating and
// removing segment files fsyncs the directory. After a failed write
// or sync the Log refuses further writes: what reached the disk is unknown, and
// only a new Open can tell.
package wal
