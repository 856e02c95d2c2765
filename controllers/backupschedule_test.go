package controllers

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		{name: "too late: skipped", schedule: "0 3 * * *", last: "01:00:00", now: "03:11:00", next: "2026-12-06 03:00:00"},
		{name: "a schedule added to an old cluster", schedule: "@every 15s", last: "2020-01-01 00:00:00", now: "03:00:07", due: "03:00:07", run: true, next: "03:00:22"},
		{name: "already run", schedule: "0 3 * * *", last: "03:00:00", now: "03:05:00", next: "2026-12-06 03:00:00"},
		{name: "every 15s", schedule: "@every 15s", last: "03:00:00", now: "03:00:15", due: "03:00:15", run: true, next: "03:00:30"},
		{
			name: "missed runs are not queued: only the latest counts", schedule: "@every 15s", last: "03:00:00", now: "03:01:07",
			due: "03:01:00", run: true, next: "03:01:15",
		},
		{name: "descriptor", schedule: "@hourly", last: "03:00:00", now: "04:00:01", due: "04:00:00", run: true, next: "05:00:00"},
		{name: "suspended", schedule: "@every 15s", last: "03:00:00", now: "03:00:20", suspended: true, due: "03:00:15"},
		{
			name: "a backup under way at the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:16",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "")}, due: "03:00:15", next: "03:00:30",
		},
		{
			name: "it finished after the run's time: still skipped", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "03:00:18")}, due: "03:00:15", next: "03:00:30",
		},
		{
			name: "it finished before the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:00", "03:00:10")}, due: "03:00:15", run: true, next: "03:00:30",
		},
		{
			name: "created after the run's time", schedule: "@every 15s", last: "03:00:00", now: "03:00:20",
			backups: []raftv1.RaftBackup{backup("demo", "03:00:16", "")}, due: "03:00:15", run: true, next: "03:00:30",
		},
		{
			name: "another cluster's backup", schedule: "@every 15s", last: "03:00:00", now: "03:00:16",
			backups: []raftv1.RaftBackup{backup("other", "03:00:00", "")}, due: "03:00:15", run: true, next: "03:00:30",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := scheduleParser.Parse(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			last, err := time.Parse("2006-01-02 15:04:05", tc.last)
			if err != nil {
				last = at(tc.last)
			}
			d := decideSchedule(sched, last, at(tc.now), tc.suspended, "demo", tc.backups)
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

// TestDecideScheduleWalksFromTheLateWindow checks that a year of missed
// runs of a frequent schedule yields the run of now and the next one: the
// walk starts no earlier than lateWindow ago.
func TestDecideScheduleWalksFromTheLateWindow(t *testing.T) {
	sched, err := scheduleParser.Parse("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	now := last.Add(365 * 24 * time.Hour)
	d := decideSchedule(sched, last, now, false, "demo", nil)
	if !d.Due.Equal(now) || !d.Run || !d.Next.Equal(now.Add(time.Second)) {
		t.Errorf("a year of missed runs: %+v, want the run of now and the next", d)
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

func (h *backupHarness) reconcileSchedule() ctrl.Result {
	h.t.Helper()
	res, err := h.sched.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("demo")})
	if err != nil {
		h.t.Fatalf("reconcile the schedule: %v", err)
	}
	return res
}

// scheduledNames are the names of the cluster's scheduled RaftBackups.
func (h *backupHarness) scheduledNames() []string {
	h.t.Helper()
	var list raftv1.RaftBackupList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns), client.MatchingLabels{raftv1.LabelScheduledBackup: "true"}); err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, b := range list.Items {
		names = append(names, b.Name)
	}
	return names
}

func TestBackupScheduleCreatesBackups(t *testing.T) {
	h := newBackupHarness(t, func(rc *raftv1.RaftCluster) { rc.Spec.Backup.Schedule = "@every 15s" })
	created := h.cluster().CreationTimestamp.Time
	h.clock.SetTime(created.Add(10 * time.Second))
	if res := h.reconcileSchedule(); res.RequeueAfter != 5*time.Second {
		t.Errorf("requeue after %v, want until the first run", res.RequeueAfter)
	}
	if names := h.scheduledNames(); len(names) != 0 {
		t.Fatalf("backups %v before the first run", names)
	}
	if bs := h.cluster().Status.Backup; bs == nil || bs.NextScheduleTime == nil || !bs.NextScheduleTime.Time.Equal(created.Add(15*time.Second)) {
		t.Errorf("status.backup %+v, want the first run next", bs)
	}

	h.clock.SetTime(created.Add(16 * time.Second))
	if res := h.reconcileSchedule(); res.RequeueAfter != 14*time.Second {
		t.Errorf("requeue after %v, want until the next run, 15s after this one", res.RequeueAfter)
	}
	run := created.Add(15 * time.Second)
	name := scheduledBackupName("demo", run)
	if names := h.scheduledNames(); !slices.Equal(names, []string{name}) {
		t.Fatalf("scheduled backups %v, want %s", names, name)
	}
	b := h.backup(name)
	if b.Spec.Cluster != "demo" || b.Labels[raftv1.LabelCluster] != "demo" || len(b.OwnerReferences) != 0 {
		t.Errorf("backup %s: spec %+v labels %v owners %v: want demo's, not owned by it", name, b.Spec, b.Labels, b.OwnerReferences)
	}
	bs := h.cluster().Status.Backup
	if bs == nil || !bs.LastScheduleTime.Time.Equal(run) || !bs.NextScheduleTime.Time.Equal(created.Add(30*time.Second)) {
		t.Errorf("status.backup %+v", bs)
	}
	if got := h.eventReasons(); !slices.Equal(got, []string{"Normal BackupScheduled"}) {
		t.Errorf("events %v", got)
	}
	// The same moment again: nothing new.
	h.reconcileSchedule()
	if names := h.scheduledNames(); len(names) != 1 {
		t.Errorf("scheduled backups %v after a second pass", names)
	}

	// The next run, while that backup is still under way: skipped, not
	// queued behind it.
	h.clock.SetTime(created.Add(31 * time.Second))
	h.reconcileSchedule()
	if names := h.scheduledNames(); len(names) != 1 {
		t.Errorf("scheduled backups %v: a run was taken while one was under way", names)
	}
	h.reconcile(name)
	h.endPod(name, true, `{"key":"k.snap","size":1}`)
	h.reconcile(name)
	h.reconcileSchedule()
	if names := h.scheduledNames(); len(names) != 1 {
		t.Errorf("scheduled backups %v: the skipped run was queued", names)
	}
	// The one after runs.
	h.clock.SetTime(created.Add(46 * time.Second))
	h.reconcileSchedule()
	if names := h.scheduledNames(); len(names) != 2 {
		t.Errorf("scheduled backups %v, want a second run", names)
	}
}

func TestBackupScheduleSuspendedOrInvalid(t *testing.T) {
	h := newBackupHarness(t, func(rc *raftv1.RaftCluster) {
		rc.Spec.Backup.Schedule = "@every 15s"
		rc.Spec.Backup.Suspend = true
	})
	h.clock.SetTime(h.cluster().CreationTimestamp.Add(time.Minute))
	if res := h.reconcileSchedule(); res.RequeueAfter != 0 {
		t.Errorf("suspended: requeue after %v", res.RequeueAfter)
	}
	if names := h.scheduledNames(); len(names) != 0 {
		t.Errorf("suspended: backups %v", names)
	}
	if bs := h.cluster().Status.Backup; bs != nil && bs.NextScheduleTime != nil {
		t.Errorf("suspended: next schedule %v", bs.NextScheduleTime)
	}

	rc := h.cluster()
	rc.Spec.Backup.Suspend = false
	rc.Spec.Backup.Schedule = "61 * * * *" // of the right form: the API server lets it through
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	if res := h.reconcileSchedule(); res.RequeueAfter != 0 {
		t.Errorf("invalid schedule: requeue after %v", res.RequeueAfter)
	}
	if got := h.eventReasons(); !slices.Equal(got, []string{"Warning InvalidSchedule"}) {
		t.Errorf("events %v, want an InvalidSchedule warning", got)
	}
}

func TestBackupScheduleForgetsADeletedClustersMetrics(t *testing.T) {
	h := newBackupHarness(t)
	rc := h.cluster()
	rc.Status.Backup = &raftv1.BackupStatus{LastSuccessfulBackup: "b", LastSuccessTime: &metav1.Time{Time: h.clock.Now().Add(-time.Hour)}}
	if err := h.c.Status().Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	// A restarted manager learns the last success from the status.
	h.reconcileSchedule()
	labels := map[string]string{"namespace": h.ns, "cluster": "demo"}
	if v, ok := h.metric("raftkube_backup_last_success_age_seconds", labels); !ok || v != 3600 {
		t.Errorf("age %v (%v), want 3600", v, ok)
	}
	h.backups.Metrics.backupFinished(h.key("demo"), false, h.clock.Now())
	if err := h.c.Delete(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.reconcileSchedule()
	for _, name := range []string{"raftkube_backup_last_success_age_seconds", "raftkube_backup_last_success_timestamp_seconds", "raftkube_backups_total"} {
		if _, ok := h.metric(name, labels); ok {
			t.Errorf("%s still reported for a deleted cluster", name)
		}
	}
}
