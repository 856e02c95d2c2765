package controllers

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/internal/backupresult"
)

// retiredBackups are the scheduled RaftBackups of done's cluster that
// retention removes once done, a scheduled backup, succeeded with res:
//   - the succeeded ones whose file raftctl pruned (status.key in
//     res.Pruned, same storage). res lists only the newest pruned keys when
//     there were many (PrunedCount says how many); the others sort below
//     the last one listed, since raftctl prunes the oldest by key.
//   - the failed ones beyond the newest keep: they hold no file, but would
//     pile up under a schedule that keeps failing.
//
// scheduled are the cluster's RaftBackups labelled as scheduled; done
// itself is never retired.
func retiredBackups(done *raftv1.RaftBackup, res backupresult.Result, scheduled []raftv1.RaftBackup, keep int) []*raftv1.RaftBackup {
	var oldestListed string
	if res.PrunedCount > len(res.Pruned) && len(res.Pruned) > 0 {
		oldestListed = slices.Min(res.Pruned)
	}
	pruned := func(b *raftv1.RaftBackup) bool {
		if b.Status.Key == "" || !equality.Semantic.DeepEqual(b.Status.Storage, done.Status.Storage) {
			return false
		}
		return slices.Contains(res.Pruned, b.Status.Key) || (oldestListed != "" && b.Status.Key < oldestListed)
	}
	var out, failed []*raftv1.RaftBackup
	for i := range scheduled {
		b := &scheduled[i]
		if b.UID == done.UID || b.Name == done.Name || b.Spec.Cluster != done.Spec.Cluster {
			continue
		}
		switch b.Status.Phase {
		case raftv1.BackupSucceeded:
			if pruned(b) {
				out = append(out, b)
			}
		case raftv1.BackupFailed:
			failed = append(failed, b)
		}
	}
	// Newest first: by creation, then by name (CLUSTER-TIME sorts by time).
	slices.SortFunc(failed, func(a, b *raftv1.RaftBackup) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(b.Name, a.Name))
	})
	if len(failed) > keep {
		out = append(out, failed[keep:]...)
	}
	return out
}
