// Package snapfile is the file format of a snapshot saved out of a live
// cluster (raftctl snapshot save, Admin SaveSnapshot) and read back to found
// a new cluster from it (raftnode --restore-from).
//
// A snapshot file is, all integers little-endian:
//
//	magic      8 bytes  "RKSNAPF\x00"
//	version    uint32   FormatVersion (1)
//	meta len   uint32   length of the metadata, at most MaxMetadataBytes
//	metadata   JSON     Metadata: index, term, cluster id, configuration,
//	                    members, creation time, the data's format version
//	chunks     repeated uint32 length (1..ChunkSize) then that many data bytes
//	end        uint32   0: no more chunks
//	trailer    32 bytes SHA-256 of every byte before it
//
// The data is the state machine as raftnode/kv writes a snapshot stream
// (kv.Store.WriteSnapshot, with its own CRC-32C), cut into chunks of
// ChunkSize bytes but the last: the file's bytes, and so its checksum,
// depend only on the metadata and the data, not on how they were handed to
// the Writer. A stream of the same metadata and data carries the same
// SHA-256 wherever it is written again.
//
// Reading tells apart, by sentinel error: a file that is no snapshot file
// (ErrNotSnapshot: another magic), one of a version this build does not read
// (ErrUnsupportedVersion), one that ends early (ErrTruncated), one whose
// bytes do not match its trailer (ErrChecksumMismatch), and one whose
// framing is impossible (ErrCorrupt: a metadata or chunk length out of
// bounds, metadata that does not decode, bytes after the trailer). A
// damaged length is reported as what it looks like when it is met (often
// ErrCorrupt or ErrTruncated), before the checksum can be computed.
package snapfile
