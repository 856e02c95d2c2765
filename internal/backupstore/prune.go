package backupstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SnapshotSuffix ends the keys of backups; Prune considers no other object.
const SnapshotSuffix = ".snap"

// Prune applies a retention policy to the backups under prefix (objects
// whose key ends SnapshotSuffix), newest first by key: their names sort by
// time. It keeps the newest keep of them (keep <= 0: no count limit) and
// also deletes any whose Modified time is more than maxAge before now
// (maxAge 0: no age limit). It never deletes protect (the backup just
// written, which a listing may not show yet) nor the newest backup, so a
// policy can never leave no backup at all. It returns the deleted keys,
// oldest last; on a failed delete, those deleted before it and the error.
func Prune(ctx context.Context, store Store, prefix string, keep int, maxAge time.Duration, now time.Time, protect string) ([]string, error) {
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("prune %s: %w", store.Location(prefix), err)
	}
	var backups []Object
	for _, o := range objs {
		if strings.HasSuffix(o.Key, SnapshotSuffix) {
			backups = append(backups, o)
		}
	}
	slices.Reverse(backups) // List sorts them by key: now newest first
	var deleted []string
	for i, o := range backups {
		tooMany := keep > 0 && i >= keep
		tooOld := maxAge > 0 && now.Sub(o.Modified) > maxAge
		if i == 0 || o.Key == protect || (!tooMany && !tooOld) {
			continue
		}
		if err := store.Delete(ctx, o.Key); err != nil {
			return deleted, fmt.Errorf("prune: %w", err)
		}
		deleted = append(deleted, o.Key)
	}
	return deleted, nil
}
