package backupstore

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
)

// Reasons a backup or a fetch failed, as the operator puts them into
// conditions and events.
const (
	// ReasonStorageAccessDenied: the storage refused the credentials.
	ReasonStorageAccessDenied = "StorageAccessDenied"
	// ReasonStorageNotFound: no such bucket, volume root or backup object.
	ReasonStorageNotFound = "StorageNotFound"
	// ReasonStorageUnreachable: the storage did not answer, or not over a
	// TLS session the client trusts.
	ReasonStorageUnreachable = "StorageUnreachable"
	// ReasonClusterUnreachable: no member of the cluster could be reached,
	// or none would serve the snapshot to these credentials.
	ReasonClusterUnreachable = "ClusterUnreachable"
	// ReasonInvalidConfig: the command's flags, key or storage settings
	// cannot work; retrying the same does not help.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonSnapshotFailed: anything else, such as a snapshot stream that
	// failed its checksum or a member's error while saving.
	ReasonSnapshotFailed = "SnapshotFailed"
)

// Reason maps err to one of the Reason constants; "" for nil.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrInvalidKey):
		return ReasonInvalidConfig
	case errors.Is(err, ErrAccessDenied):
		return ReasonStorageAccessDenied
	case errors.Is(err, ErrStorageNotFound), errors.Is(err, ErrObjectNotFound):
		return ReasonStorageNotFound
	case errors.Is(err, ErrUnreachable):
		return ReasonStorageUnreachable
	case clusterUnreachable(err):
		return ReasonClusterUnreachable
	}
	return ReasonSnapshotFailed
}

// clusterUnreachable reports whether err is the raft client's failure to
// get a snapshot from any member: none answered in time, or the members
// refused the caller's certificate. A member's own failure while saving
// (Internal, a stream cut short) is a failed snapshot instead.
func clusterUnreachable(err error) bool {
	switch {
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrUnauthenticated),
		errors.Is(err, client.ErrPermissionDenied), errors.Is(err, client.ErrRemoved):
		return true
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		switch ce.Code {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Unauthenticated, codes.PermissionDenied:
			return true
		}
	}
	return false
}
