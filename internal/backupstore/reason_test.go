package backupstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("put: %w: denied", ErrAccessDenied), ReasonStorageAccessDenied},
		{fmt.Errorf("put: %w", ErrStorageNotFound), ReasonStorageNotFound},
		{fmt.Errorf("get: %w", ErrObjectNotFound), ReasonStorageNotFound},
		{fmt.Errorf("put: %w: %w", ErrUnreachable, context.DeadlineExceeded), ReasonStorageUnreachable},
		{fmt.Errorf("flags: %w", ErrInvalidConfig), ReasonInvalidConfig},
		{ValidateKey("/abs"), ReasonInvalidConfig},
		{&client.Error{Method: "Admin.SaveSnapshot", Code: codes.Unavailable, Kind: client.ErrUnavailable}, ReasonClusterUnreachable},
		{&client.Error{Method: "Admin.SaveSnapshot", Code: codes.DeadlineExceeded, Err: context.DeadlineExceeded}, ReasonClusterUnreachable},
		{&client.Error{Method: "Admin.SaveSnapshot", Code: codes.PermissionDenied, Kind: client.ErrPermissionDenied}, ReasonClusterUnreachable},
		{fmt.Errorf("save: %w", &client.Error{Method: "Admin.SaveSnapshot", Code: codes.Internal}), ReasonSnapshotFailed},
		{fmt.Errorf("save snapshot: %w", snapfile.ErrChecksumMismatch), ReasonSnapshotFailed},
		{errors.New("disk full"), ReasonSnapshotFailed},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
