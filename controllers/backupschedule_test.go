package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

func TestDecideSchedule(t *testing.T) {
	at := func(hms string) time.Time {
		t, err := time.Parse("2006-01-02 15:04:05", "2026-12-05 "+hms)
		if err != nil {
			panic(err)
		}
		return t
	}
	// backup is a backup of cluster made at created, finished at
	// finishedAt ("" while unfinished).
	backup := func(cluster, created, finishedAt string) raftv1.RaftBackup {
		b := raftv1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Name: cluster + "-" + created, CreationTimestamp: metav1.NewTime(at(created))},
			Spec: raftv1.RaftBackupSpec{Cluster: cluster}, Status: raftv1.RaftBackupStatus{Phase: raftv1.BackupRunning}}
		if finishedAt != "" {
			f := metav1.NewTime(at(finishedAt))
			b.Status.Phase, b.Status.FinishedAt = raftv1.BackupSucceeded, &f
		}
		return b
	}
	for _, tc := range []struct {
		name      string
		schedule  string
		last, now string
		suspended bool
		backups   []raftv1.RaftBackup
		// want: the due run ("" none), whether it runs, the next run.
		due  string
		run  bool
		next string
	}{
		{name: "not yet", schedule: "0 3 * * *", last: "01:00:00", now: "02:59:59", next: "03:00:00"},
		{name: "on time", schedule: "0 3 * * *", last: "01:00:00", now: "03:00:00", due: "03:00:00", run: true, next: "2026-12-06 03:00:00"},
		{name: "a little late", schedule: "0 3 * * *", last: "01:00:00", now: "03:09:00", due: "03:00:00", run: true, next: "2026-12-06 03:00:00"},
		{name: "too late: skipped", schedule: "0 3 * * *", last: "01:00:00", now: "03:11:00", due: "03:00:00", next: "2026-12-06 03:00:00"},
		{name: "already run", schedule: "0 3 * * *", last: "03:00:00", now: "03:05:00", next: "2026-12-06 03:00:00"},
		{name: "every 15s", schedule: "@every 15s", last: "03:00:00", now: "03:00:15", due: "03:00:15", run: true, next: "03:00:30"},
		{
			name: "missed runs are not queued: only the latest counts", schedule: "@every 15s", last: "03:00:00", now: "03:01:07",
			due: "03:01:00", run: true, next: "03:01:22",
		},
		{name: "descriptor", schedule: "@hourly", last: "03:00:00", now: "04:00:01", due: "04:00:00", run: true, next: "05:00:00"},
		{name: "suspended", schedule: "@every 15s", last: "03:00:00", now: "03:00:20", suspended: true, due: "03:00:15"},
		{
			name: "a backup under way at the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:16",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "")}, due: "03:00:15", next: "03:00:31",
		},
		{
			name: "it finished after the run's time: still skipped", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "03:00:18")}, due: "03:00:15", next: "03:00:35",
		},
		{
			name: "it finished before the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "03:00:10")}, due: "03:00:15", run: true, next: "03:00:35",
		},
		{
			name: "created after the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:16", "")}, due: "03:00:15", run: true, next: "03:00:35",
		},
		{
			name: "another cluster's backup", schedule: "@every 15s", last: "03:00:00", now: "03:00:16",
			backups: []raftv1.RaftBackup{backup("other", "03:00:00", "")}, due: "03:00:15", run: true, next: "03:00:31",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := scheduleParser.Parse(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			d := decideSchedule(sched, at(tc.last), at(tc.now), tc.suspended, "demo", tc.backups)
			var wantDue, wantNext time.Time
			if tc.due != "" {
				wantDue = at(tc.due)
			}
			switch {
			case len(tc.next) > 8:
				wantNext, _ = time.Parse("2006-01-02 15:04:05", tc.next)
			case tc.next != "":
				wantNext = at(tc.next)
			}
			if !d.Due.Equal(wantDue) || d.Run != tc.run || !d.Next.Equal(wantNext) {
				t.Errorf("due %v run %v next %v (skip %q), want due %v run %v next %v", d.Due, d.Run, d.Next, d.Skip, wantDue, tc.run, wantNext)
			}
			if d.Due.IsZero() == false && !d.Run && d.Skip == "" {
				t.Error("a due run neither runs nor says why it is skipped")
			}
		})
	}
}

func TestDecideScheduleBoundsTheWalk(t *testing.T) {
	sched, err := scheduleParser.Parse("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	now := last.Add(365 * 24 * time.Hour)
	d := decideSchedule(sched, last, now, false, "demo", nil)
	if d.Due.IsZero() || d.Run || d.Skip == "" {
		t.Errorf("a year of missed runs: %+v, want the walk to stop and the run skipped as late", d)
	}
}

func TestScheduleParser(t *testing.T) {
	for _, s := range []string{"0 3 * * *", "*/5 * * * *", "@daily", "@every 6h", "CRON_TZ=UTC 0 3 * * *"} {
		if _, err := scheduleParser.Parse(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"0 0 3 * * *", "every day", "@every", "61 * * * *"} {
		if _, err := scheduleParser.Parse(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestScheduledBackupName(t *testing.T) {
	at := time.Date(2026, 12, 5, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	if got := scheduledBackupName("demo", at); got != "demo-20261205-020405" {
		t.Errorf("name %s, want the time in UTC", got)
	}
}
