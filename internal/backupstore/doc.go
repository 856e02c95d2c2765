// Package backupstore is where backups of a cluster live, and the contract
// between the operator and the pods that take and fetch them.
//
// A Store keeps snapshot files (raftnode/snapfile) under slash-separated
// keys: Dir on a mounted volume, S3 in a bucket of an S3-compatible service.
// Either one makes an object visible only whole, so a reader never sees a
// partial backup. Prune applies a retention policy to the objects under a
// prefix.
//
// Failures are told apart with errors.Is against the sentinel errors
// (ErrAccessDenied, ErrStorageNotFound, ErrUnreachable, ErrObjectNotFound,
// ErrInvalidKey, ErrInvalidConfig); Reason maps any error, including the
// raft client's, to the reason the operator puts into a condition. What a
// backup pod reports is internal/backupresult's.
package backupstore
