package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

const (
	// lateWindow is how late a scheduled run may still start (the
	// operator was down, or the run's time has just passed when a
	// suspension is lifted). Runs later than that are skipped, never
	// queued: the next one comes in its time.
	lateWindow = 10 * time.Minute
	// reasonInvalidSchedule is the Warning event of a spec.backup.schedule
	// the operator cannot parse.
	reasonInvalidSchedule = "InvalidSchedule"
	// backupNameTime is the time in a scheduled RaftBackup's name
	// (CLUSTER-YYYYMMDD-HHMMSS, UTC), so names sort by time.
	backupNameTime = "20060102-150405"
)

// scheduleParser reads spec.backup.schedule: five cron fields or a
// descriptor (@daily, @every 15m).
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// BackupScheduleReconciler creates a RaftCluster's scheduled RaftBackups
// from spec.backup.schedule, and keeps status.backup's schedule times and
// the backup metrics of the cluster.
type BackupScheduleReconciler struct {
	client.Client
	// APIReader reads the RaftCluster whose status is written, so the
	// write is not made from a stale copy.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  recorder.EventRecorder
	// Metrics holds the clusters' backup metrics; nil keeps none.
	Metrics *Metrics
	// Clock says when runs are due.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=raftkube.io,resources=raftbackups,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=raftkube.io,resources=raftclusters/status,verbs=update

// Reconcile creates the cluster's due scheduled backup, if any, records the
// schedule's times, and wakes up again at the next run.
func (r *BackupScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rc := &raftv1.RaftCluster{}
	if err := r.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forgetCluster(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if bs := rc.Status.Backup; bs != nil && bs.LastSuccessTime != nil {
		r.Metrics.observeLastSuccess(req.NamespacedName, bs.LastSuccessTime.Time)
	}
	if !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	spec := rc.Spec.Backup
	if spec == nil || spec.Schedule == "" {
		return ctrl.Result{}, r.recordSchedule(ctx, rc, time.Time{}, time.Time{})
	}
	sched, err := scheduleParser.Parse(spec.Schedule)
	if err != nil {
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, reasonInvalidSchedule, eventAction,
			"spec.backup.schedule %q: %v; no backup is scheduled until it is fixed", spec.Schedule, err)
		return ctrl.Result{}, r.recordSchedule(ctx, rc, time.Time{}, time.Time{})
	}
	var backups raftv1.RaftBackupList
	if err := r.List(ctx, &backups, client.InNamespace(rc.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list RaftBackups: %w", err)
	}
	last := rc.CreationTimestamp.Time
	if bs := rc.Status.Backup; bs != nil && bs.LastScheduleTime != nil {
		last = bs.LastScheduleTime.Time
	}
	now := r.Clock.Now()
	d := decideSchedule(sched, last, now, spec.Suspend, rc.Name, backups.Items)
	if d.Skip != "" {
		log.FromContext(ctx).Info("scheduled backup skipped", "due", d.Due, "why", d.Skip)
	}
	ran := time.Time{}
	if d.Run {
		if err := r.createBackup(ctx, rc, d.Due); err != nil {
			return ctrl.Result{}, err
		}
		ran = d.Due
	}
	if err := r.recordSchedule(ctx, rc, ran, d.Next); err != nil {
		return ctrl.Result{}, err
	}
	if d.Next.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: d.Next.Sub(now)}, nil
}

// SetupWithManager registers the reconciler on RaftClusters' creation,
// spec changes and deletion; between them it wakes itself for each run.
func (r *BackupScheduleReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&raftv1.RaftCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Named("backupschedule").
		Complete(r)
}

// scheduleDecision is what the schedule does at a moment.
type scheduleDecision struct {
	// Due is the latest run since the last one, zero if none is due.
	Due time.Time
	// Run: create Due's backup now.
	Run bool
	// Skip says why Due is not run, empty if it is or none is due.
	Skip string
	// Next is the run after now; zero while suspended.
	Next time.Time
}

// decideSchedule decides, at now, about the runs of sched after last (the
// latest run taken). Only the latest due run counts: the ones before it are
// missed, not queued. It is skipped while suspended, or when a backup of
// the cluster was already under way at its time; a run more than
// lateWindow late is not even due.
func decideSchedule(sched cron.Schedule, last, now time.Time, suspended bool, cluster string, backups []raftv1.RaftBackup) scheduleDecision {
	var d scheduleDecision
	// Walk the runs from last: an @every schedule counts from its runs,
	// not from now. Runs more than lateWindow ago would be skipped anyway:
	// the walk starts no earlier, so a schedule added to an old cluster
	// does not walk from its creation, and the walk is short (runs are at
	// least a second apart).
	t := sched.Next(maxTime(last, now.Add(-lateWindow)))
	for !t.IsZero() && !t.After(now) {
		d.Due, t = t, sched.Next(t)
	}
	if t.IsZero() {
		t = sched.Next(now) // no run after the walk's last one
	}
	if !suspended {
		d.Next = t
	}
	switch {
	case d.Due.IsZero():
	case suspended:
		d.Skip = "spec.backup.suspend is true"
	default:
		if b := busyAt(d.Due, cluster, backups); b != nil {
			d.Skip = fmt.Sprintf("RaftBackup %s was under way", b.Name)
		} else {
			d.Run = true
		}
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// busyAt is a backup of cluster under way at t: created by then and not
// finished before; nil if none.
func busyAt(t time.Time, cluster string, backups []raftv1.RaftBackup) *raftv1.RaftBackup {
	for i := range backups {
		b := &backups[i]
		if b.Spec.Cluster != cluster || b.CreationTimestamp.After(t) {
			continue
		}
		if !finished(b) || (b.Status.FinishedAt != nil && b.Status.FinishedAt.After(t)) {
			return b
		}
	}
	return nil
}

// scheduledBackupName is the name of the run at t.
func scheduledBackupName(cluster string, t time.Time) string {
	return cluster + "-" + t.UTC().Format(backupNameTime)
}

// createBackup creates the RaftBackup of the run at t. It is not owned by
// the cluster: backups must outlive it, to restore it. One that exists
// already was created by a pass that failed to record it.
func (r *BackupScheduleReconciler) createBackup(ctx context.Context, rc *raftv1.RaftCluster, t time.Time) error {
	b := &raftv1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rc.Namespace,
			Name:      scheduledBackupName(rc.Name, t),
			Labels: map[string]string{
				raftv1.LabelCluster:         rc.Name,
				raftv1.LabelScheduledBackup: "true",
				raftv1.LabelManagedBy:       managerName,
			},
		},
		Spec: raftv1.RaftBackupSpec{Cluster: rc.Name},
	}
	if err := r.Create(ctx, b); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("create RaftBackup %s: %w", b.Name, err)
	}
	r.Recorder.Eventf(rc, b, corev1.EventTypeNormal, raftv1.ReasonBackupScheduled, eventAction,
		"created RaftBackup %s for the run of %s", b.Name, t.UTC().Format(time.RFC3339))
	return nil
}

// recordSchedule writes status.backup's schedule times: ran, unless zero,
// as the last run, and next (zero: none).
func (r *BackupScheduleReconciler) recordSchedule(ctx context.Context, rc *raftv1.RaftCluster, ran, next time.Time) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rc), rc); err != nil {
			return err
		}
		before := rc.Status.Backup.DeepCopy()
		bs := ptrOr(rc.Status.Backup, raftv1.BackupStatus{})
		if !ran.IsZero() {
			bs.LastScheduleTime = &metav1.Time{Time: ran}
		}
		bs.NextScheduleTime = nil
		if !next.IsZero() {
			bs.NextScheduleTime = &metav1.Time{Time: next}
		}
		if equality.Semantic.DeepEqual(before, &bs) || (before == nil && bs == raftv1.BackupStatus{}) {
			return nil
		}
		rc.Status.Backup = &bs
		return r.Status().Update(ctx, rc)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("record the backup schedule of RaftCluster %s: %w", rc.Name, err)
	}
	return nil
}
