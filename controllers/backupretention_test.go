package controllers

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/internal/backupresult"
)

// scheduledBackup is a scheduled RaftBackup of demo made at minute m of a
// day, in phase, its file where s3Storage keeps it.
func scheduledBackup(m int, phase raftv1.BackupPhase) raftv1.RaftBackup {
	at := time.Date(2026, 12, 5, 3, m, 0, 0, time.UTC)
	b := startedBackup(scheduledBackupName("demo", at), s3Storage(), true)
	b.UID = types.UID(b.Name)
	b.CreationTimestamp = metav1.NewTime(at)
	b.Status.Phase = phase
	return *b
}

func TestRetiredBackups(t *testing.T) {
	key := func(m int) string { return scheduledBackup(m, "").Status.Key }
	for _, tc := range []struct {
		name      string
		scheduled []raftv1.RaftBackup
		pruned    []string
		count     int
		keep      int
		want      []int // minutes of the retired backups
	}{
		{
			name:      "nothing pruned",
			scheduled: []raftv1.RaftBackup{scheduledBackup(1, raftv1.BackupSucceeded), scheduledBackup(2, raftv1.BackupSucceeded)},
			keep:      7,
		},
		{
			name: "the pruned files' backups",
			scheduled: []raftv1.RaftBackup{
				scheduledBackup(1, raftv1.BackupSucceeded), scheduledBackup(2, raftv1.BackupSucceeded), scheduledBackup(3, raftv1.BackupSucceeded),
			},
			pruned: []string{key(2), key(1)}, count: 2, keep: 1,
			want: []int{1, 2},
		},
		{
			name: "more pruned than listed: the older ones too",
			scheduled: []raftv1.RaftBackup{
				scheduledBackup(1, raftv1.BackupSucceeded), scheduledBackup(2, raftv1.BackupSucceeded),
				scheduledBackup(3, raftv1.BackupSucceeded), scheduledBackup(4, raftv1.BackupSucceeded),
			},
			pruned: []string{key(3)}, count: 3, keep: 1,
			want: []int{1, 2, 3},
		},
		{
			name:      "a pruned key of a running backup is not its file",
			scheduled: []raftv1.RaftBackup{scheduledBackup(1, raftv1.BackupRunning)},
			pruned:    []string{key(1)}, count: 1, keep: 7,
		},
		{
			name: "failed ones beyond keep, oldest first",
			scheduled: []raftv1.RaftBackup{
				scheduledBackup(1, raftv1.BackupFailed), scheduledBackup(4, raftv1.BackupFailed), scheduledBackup(2, raftv1.BackupFailed),
				scheduledBackup(3, raftv1.BackupSucceeded),
			},
			keep: 2,
			want: []int{1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := scheduledBackup(59, raftv1.BackupRunning)
			all := append(slices.Clone(tc.scheduled), done)
			got := retiredBackups(&done, backupresult.Result{Pruned: tc.pruned, PrunedCount: tc.count}, all, tc.keep)
			var names, want []string
			for _, b := range got {
				names = append(names, b.Name)
			}
			for _, m := range tc.want {
				want = append(want, scheduledBackup(m, "").Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, want) {
				t.Errorf("retired %v, want %v", names, want)
			}
		})
	}
}

func TestRetiredBackupsOnlyOfTheSameStorage(t *testing.T) {
	elsewhere := scheduledBackup(1, raftv1.BackupSucceeded)
	other := s3Storage()
	other.S3.Bucket = "old-bucket"
	elsewhere.Status.Storage = &other
	done := scheduledBackup(2, raftv1.BackupRunning)
	if got := retiredBackups(&done, backupresult.Result{Pruned: []string{elsewhere.Status.Key}, PrunedCount: 1}, []raftv1.RaftBackup{elsewhere}, 7); len(got) != 0 {
		t.Errorf("retired %s, whose file is in another bucket", got[0].Name)
	}
}
