package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/internal/backupresult"
)

// How long a backup waits, and how often it looks again.
const (
	// podStartTimeout bounds how long a backup pod may stay unstarted (an
	// image that cannot be pulled, no node that fits) before the backup
	// fails and the pod is deleted.
	podStartTimeout = 10 * time.Minute
	// requeuePending is how often a waiting backup looks again; the
	// cluster's changes wake it sooner.
	requeuePending = 10 * time.Second
	// eventAction is the action of every backup event.
	eventAction = "Backup"
)

// RaftBackupReconciler takes RaftBackups: it resolves where a backup goes,
// runs one pod per backup that streams a snapshot of the cluster there
// (`raftctl backup save`), reads the pod's result into the RaftBackup's and
// the RaftCluster's status, applies the retention of scheduled backups, and
// deletes the pod. A cluster takes one backup at a time, oldest first.
type RaftBackupReconciler struct {
	client.Client
	// APIReader reads what the manager's cache does not hold or may not
	// have seen yet: the users' credentials Secrets (the cache holds the
	// operator's own only), a pod just created, the RaftCluster whose
	// status is written.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  recorder.EventRecorder
	// Metrics counts finished backups; nil counts nothing.
	Metrics *Metrics
	// Settings are the operator-wide defaults (the node image).
	Settings Settings
	// Clock stamps startedAt and finishedAt and times the pod's start.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=raftkube.io,resources=raftbackups,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=raftkube.io,resources=raftbackups/status,verbs=update
// +kubebuilder:rbac:groups=raftkube.io,resources=raftbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;create

// Reconcile moves a RaftBackup one phase on: Pending (waiting for its
// cluster or its turn) to Running (its pod created) to Succeeded or Failed
// (the pod's result read, the pod deleted).
func (r *RaftBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &raftv1.RaftBackup{}
	if err := r.Get(ctx, req.NamespacedName, b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector deletes its pod
	}
	switch b.Status.Phase {
	case raftv1.BackupSucceeded, raftv1.BackupFailed:
		return ctrl.Result{}, r.deletePod(ctx, b)
	case raftv1.BackupRunning:
		return r.watchPod(ctx, b)
	}
	return r.start(ctx, b)
}

// SetupWithManager registers the reconciler: RaftBackups, their pods, and
// their clusters, whose changes (created, a backup finished) may let a
// waiting backup start.
func (r *RaftBackupReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&raftv1.RaftBackup{}).
		Owns(&corev1.Pod{}).
		Watches(&raftv1.RaftCluster{}, handler.EnqueueRequestsFromMapFunc(r.waitingBackups)).
		WithOptions(opts).
		Named("raftbackup").
		Complete(r)
}

// waitingBackups are the unfinished RaftBackups of cluster o.
func (r *RaftBackupReconciler) waitingBackups(ctx context.Context, o client.Object) []reconcile.Request {
	var list raftv1.RaftBackupList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list RaftBackups")
		return nil
	}
	var reqs []reconcile.Request
	for _, b := range list.Items {
		if b.Spec.Cluster == o.GetName() && !finished(&b) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&b)})
		}
	}
	return reqs
}

func finished(b *raftv1.RaftBackup) bool {
	return b.Status.Phase == raftv1.BackupSucceeded || b.Status.Phase == raftv1.BackupFailed
}

// start resolves b's storage and starts its pod once its cluster can be
// backed up and no other backup of it runs; a backup that cannot work
// fails before any pod.
func (r *RaftBackupReconciler) start(ctx context.Context, b *raftv1.RaftBackup) (ctrl.Result, error) {
	rc := &raftv1.RaftCluster{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}, rc); err != nil {
		if apierrors.IsNotFound(err) {
			return r.pending(ctx, b, fmt.Sprintf("RaftCluster %s does not exist", b.Spec.Cluster))
		}
		return ctrl.Result{}, fmt.Errorf("get RaftCluster %s: %w", b.Spec.Cluster, err)
	}
	st := b.Spec.Storage
	if st == nil && rc.Spec.Backup != nil {
		st = &rc.Spec.Backup.Storage
	}
	if st == nil {
		return ctrl.Result{}, r.finish(ctx, b, nil, backupOutcome{Reason: raftv1.ReasonInvalidBackupConfig,
			Message: fmt.Sprintf("no storage: set spec.storage of the RaftBackup or spec.backup.storage of RaftCluster %s", rc.Name)})
	}
	if msg, err := r.checkSecrets(ctx, b.Namespace, *st); err != nil {
		return ctrl.Result{}, err
	} else if msg != "" {
		return ctrl.Result{}, r.finish(ctx, b, nil, backupOutcome{Reason: raftv1.ReasonInvalidBackupConfig, Message: msg})
	}
	if msg, err := r.waitFor(ctx, rc, b); err != nil {
		return ctrl.Result{}, err
	} else if msg != "" {
		return r.pending(ctx, b, msg)
	}

	b.Status.Storage = st.DeepCopy()
	b.Status.Key = backupKey(*st, b)
	b.Status.Location = backupLocation(*st, b.Status.Key)
	pod := backupPod(rc, b, r.Settings)
	if err := controllerutil.SetControllerReference(b, pod, r.Scheme); err != nil {
		return ctrl.Result{}, fmt.Errorf("own pod %s: %w", pod.Name, err)
	}
	if err := r.Create(ctx, pod); apierrors.IsAlreadyExists(err) {
		// Created by an earlier pass that failed to record it, or left by
		// a deleted RaftBackup of the same name, which the garbage
		// collector is about to remove.
		old := &corev1.Pod{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), old); err != nil {
			return ctrl.Result{}, fmt.Errorf("get pod %s: %w", pod.Name, client.IgnoreNotFound(err))
		}
		if !metav1.IsControlledBy(old, b) {
			return r.pending(ctx, b, fmt.Sprintf("pod %s of an earlier RaftBackup of this name still exists", pod.Name))
		}
	} else if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
		// A quota, a Pod Security admission level, spec.pod settings the
		// API server refuses: retrying does not help until someone acts.
		b.Status.Storage, b.Status.Key, b.Status.Location = nil, "", ""
		return ctrl.Result{}, r.finish(ctx, b, nil, backupOutcome{Reason: raftv1.ReasonBackupPodFailed,
			Message: fmt.Sprintf("the API server refused pod %s: %v", pod.Name, err)})
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	now := metav1.NewTime(r.Clock.Now())
	b.Status.Phase = raftv1.BackupRunning
	b.Status.StartedAt = &now
	b.Status.Reason = raftv1.ReasonBackupStarted
	b.Status.Message = fmt.Sprintf("pod %s writes the backup to %s", pod.Name, b.Status.Location)
	if err := r.Status().Update(ctx, b); err != nil {
		return ctrl.Result{}, fmt.Errorf("record RaftBackup %s started: %w", b.Name, err)
	}
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, raftv1.ReasonBackupStarted, eventAction, "%s", b.Status.Message)
	r.Recorder.Eventf(rc, b, corev1.EventTypeNormal, raftv1.ReasonBackupStarted, eventAction, "RaftBackup %s: %s", b.Name, b.Status.Message)
	return ctrl.Result{RequeueAfter: podStartTimeout}, nil
}

// pending records why b waits, and looks again later.
func (r *RaftBackupReconciler) pending(ctx context.Context, b *raftv1.RaftBackup, msg string) (ctrl.Result, error) {
	msg = "waiting: " + msg
	if b.Status.Phase != raftv1.BackupPending || b.Status.Message != msg {
		b.Status.Phase = raftv1.BackupPending
		b.Status.Reason = ""
		b.Status.Message = msg
		if err := r.Status().Update(ctx, b); err != nil {
			return ctrl.Result{}, fmt.Errorf("record RaftBackup %s pending: %w", b.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: requeuePending}, nil
}

// checkSecrets says what is wrong with the Secrets st names, "" if
// nothing: a pod naming a missing Secret or key would wait in
// CreateContainerConfigError instead of failing.
func (r *RaftBackupReconciler) checkSecrets(ctx context.Context, ns string, st raftv1.BackupStorage) (string, error) {
	if st.S3 == nil {
		return "", nil
	}
	need := map[string][]string{st.S3.CredentialsSecret.Name: {envAccessKeyID, envSecretAccessKey}}
	if ca := st.S3.CASecret; ca != nil {
		need[ca.Name] = append(need[ca.Name], caSecretKey(ca))
	}
	var problems []string
	for name, keys := range need {
		sec := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sec); apierrors.IsNotFound(err) {
			problems = append(problems, fmt.Sprintf("Secret %s does not exist: create it with the keys %s", name, strings.Join(keys, ", ")))
			continue
		} else if err != nil {
			return "", fmt.Errorf("get Secret %s: %w", name, err)
		}
		for _, k := range keys {
			if len(sec.Data[k]) == 0 {
				problems = append(problems, fmt.Sprintf("Secret %s has no key %s", name, k))
			}
		}
	}
	// Map order: sorted, so the message is the same on every pass.
	slices.Sort(problems)
	return strings.Join(problems, "; "), nil
}

// waitFor says what b waits for before its pod may start, "" if nothing:
// the cluster to exist as a Raft cluster, its admin certificate, and its
// turn. Backups of a cluster run one at a time, oldest first: a second
// snapshot at once would only slow the members.
func (r *RaftBackupReconciler) waitFor(ctx context.Context, rc *raftv1.RaftCluster, b *raftv1.RaftBackup) (string, error) {
	if rc.Status.ClusterID == "" {
		return fmt.Sprintf("RaftCluster %s has not formed a Raft cluster yet", rc.Name), nil
	}
	if rc.Spec.TLS.IsEnabled() {
		sec := &corev1.Secret{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: rc.Namespace, Name: adminSecret(rc)}, sec); apierrors.IsNotFound(err) {
			return fmt.Sprintf("the admin certificate Secret %s of RaftCluster %s", adminSecret(rc), rc.Name), nil
		} else if err != nil {
			return "", fmt.Errorf("get Secret %s: %w", adminSecret(rc), err)
		}
	}
	var list raftv1.RaftBackupList
	if err := r.List(ctx, &list, client.InNamespace(b.Namespace)); err != nil {
		return "", fmt.Errorf("list RaftBackups: %w", err)
	}
	if other := blockingBackup(b, list.Items); other != nil {
		if other.Status.Phase == raftv1.BackupRunning {
			return fmt.Sprintf("RaftBackup %s of the cluster is running", other.Name), nil
		}
		return fmt.Sprintf("RaftBackup %s of the cluster, created earlier, goes first", other.Name), nil
	}
	return "", nil
}

// blockingBackup is a backup of b's cluster that must finish before b
// starts: a running one, else an older unfinished one; nil if none.
func blockingBackup(b *raftv1.RaftBackup, all []raftv1.RaftBackup) *raftv1.RaftBackup {
	var older *raftv1.RaftBackup
	for i := range all {
		o := &all[i]
		if o.Name == b.Name || o.Spec.Cluster != b.Spec.Cluster || finished(o) {
			continue
		}
		if o.Status.Phase == raftv1.BackupRunning {
			return o
		}
		if older == nil && createdBefore(o, b) {
			older = o
		}
	}
	return older
}

// createdBefore orders backups by creation, then name.
func createdBefore(a, b *raftv1.RaftBackup) bool {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name)) < 0
}

// watchPod finishes b once its pod has ended, or when it could not start
// within podStartTimeout.
func (r *RaftBackupReconciler) watchPod(ctx context.Context, b *raftv1.RaftBackup) (ctrl.Result, error) {
	pod, err := r.getPod(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	st := ptrOr(b.Status.Storage, raftv1.BackupStorage{})
	switch {
	case pod == nil:
		return ctrl.Result{}, r.finish(ctx, b, nil, backupOutcome{Reason: raftv1.ReasonBackupPodFailed,
			Message: fmt.Sprintf("pod %s was deleted before it finished", backupPodName(b.Name))})
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return ctrl.Result{}, r.finish(ctx, b, pod, podOutcome(pod, st, b.Spec.Cluster))
	case pod.Status.Phase == corev1.PodRunning:
		return ctrl.Result{}, nil // its end is a pod event
	}
	waited := r.Clock.Since(ptrOr(b.Status.StartedAt, pod.CreationTimestamp).Time)
	if waited < podStartTimeout {
		return ctrl.Result{RequeueAfter: podStartTimeout - waited}, nil
	}
	return ctrl.Result{}, r.finish(ctx, b, pod, backupOutcome{Reason: raftv1.ReasonBackupPodFailed,
		Message: fmt.Sprintf("pod %s did not start within %v: %s", pod.Name, podStartTimeout, describePod(pod))})
}

// getPod is b's pod, nil if there is none. A pod the cache has not seen
// yet is looked up on the API server before it is declared gone.
func (r *RaftBackupReconciler) getPod(ctx context.Context, b *raftv1.RaftBackup) (*corev1.Pod, error) {
	key := types.NamespacedName{Namespace: b.Namespace, Name: backupPodName(b.Name)}
	pod := &corev1.Pod{}
	err := r.Get(ctx, key, pod)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, pod)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get pod %s: %w", key.Name, err)
	case !metav1.IsControlledBy(pod, b):
		return nil, nil
	}
	return pod, nil
}

// finish records b's outcome: on its cluster (condition, last success),
// by retention, on b itself, in events and metrics; then deletes its pod.
// Each write is idempotent, so a pass that fails half-way is redone.
func (r *RaftBackupReconciler) finish(ctx context.Context, b *raftv1.RaftBackup, pod *corev1.Pod, out backupOutcome) error {
	// The cache may lag behind a pass that finished b already and deleted
	// its pod: finishing it again would record a wrong outcome on the
	// cluster. The newer b's event brings the next pass.
	fresh := &raftv1.RaftBackup{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(b), fresh); err != nil {
		return client.IgnoreNotFound(err)
	}
	if fresh.ResourceVersion != b.ResourceVersion {
		return nil
	}
	now := metav1.NewTime(r.Clock.Now())
	rc, err := r.recordOnCluster(ctx, b, out, now)
	if err != nil {
		return err
	}
	if b.Labels[raftv1.LabelScheduledBackup] == "true" {
		if err := r.retire(ctx, rc, b, out.Result); err != nil {
			return err
		}
	}
	s := &b.Status
	s.FinishedAt = &now
	s.Reason, s.Message = out.Reason, out.Message
	s.Phase = raftv1.BackupFailed
	if out.Succeeded {
		res := out.Result
		s.Phase = raftv1.BackupSucceeded
		s.SizeBytes, s.Index, s.Term = res.Size, int64(res.Index), int64(res.Term)
		s.ClusterID, s.SHA256 = res.ClusterID, res.SHA256
		s.Location = cmp.Or(res.Location, s.Location)
	}
	if err := r.Status().Update(ctx, b); err != nil {
		return fmt.Errorf("record RaftBackup %s %s: %w", b.Name, strings.ToLower(string(s.Phase)), err)
	}
	kind := corev1.EventTypeNormal
	if !out.Succeeded {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(b, nil, kind, out.Reason, eventAction, "%s", out.Message)
	// A deleted cluster's series are gone with it, and stay gone.
	if rc != nil {
		r.Recorder.Eventf(rc, b, kind, out.Reason, eventAction, "RaftBackup %s: %s", b.Name, out.Message)
		r.Metrics.backupFinished(client.ObjectKeyFromObject(rc), out.Succeeded, now.Time)
	}
	log.FromContext(ctx).Info("backup finished", "phase", s.Phase, "reason", s.Reason, "message", s.Message)
	if pod == nil {
		return nil
	}
	return r.removePod(ctx, pod)
}

// recordOnCluster sets the cluster's LastBackupSucceeded condition and, on
// success, status.backup's last success. It returns the cluster, nil if it
// is gone. The status is read from the API server and written with its
// resourceVersion, so nothing the cluster's reconciler wrote is lost.
func (r *RaftBackupReconciler) recordOnCluster(ctx context.Context, b *raftv1.RaftBackup, out backupOutcome, now metav1.Time) (*raftv1.RaftCluster, error) {
	rc := &raftv1.RaftCluster{}
	key := types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.APIReader.Get(ctx, key, rc); err != nil {
			return err
		}
		before := rc.Status.DeepCopy()
		rc.Status.SetCondition(cond(raftv1.ConditionLastBackupSucceeded, out.Succeeded, out.Reason,
			fmt.Sprintf("RaftBackup %s: %s", b.Name, out.Message)), rc.Generation)
		if out.Succeeded {
			bs := ptrOr(rc.Status.Backup, raftv1.BackupStatus{})
			if bs.LastSuccessTime == nil || bs.LastSuccessTime.Before(&now) {
				bs.LastSuccessfulBackup, bs.LastSuccessTime = b.Name, &now
			}
			rc.Status.Backup = &bs
		}
		if equality.Semantic.DeepEqual(before, &rc.Status) {
			return nil
		}
		return r.Status().Update(ctx, rc)
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("record backup %s on RaftCluster %s: %w", b.Name, key.Name, err)
	}
	return rc, nil
}

// retire deletes the scheduled RaftBackups of b's cluster that retention
// removed (see retiredBackups).
func (r *RaftBackupReconciler) retire(ctx context.Context, rc *raftv1.RaftCluster, b *raftv1.RaftBackup, res backupresult.Result) error {
	keep := defaultKeep
	if rc != nil && rc.Spec.Backup != nil && rc.Spec.Backup.Retention.Keep != nil {
		keep = int(*rc.Spec.Backup.Retention.Keep)
	}
	var list raftv1.RaftBackupList
	if err := r.List(ctx, &list, client.InNamespace(b.Namespace),
		client.MatchingLabels{raftv1.LabelCluster: b.Spec.Cluster, raftv1.LabelScheduledBackup: "true"}); err != nil {
		return fmt.Errorf("list scheduled RaftBackups: %w", err)
	}
	var names []string
	for _, old := range retiredBackups(b, res, list.Items, keep) {
		if err := r.Delete(ctx, old, client.Preconditions{UID: &old.UID}); err != nil && !isGoneOrReplaced(err) {
			return fmt.Errorf("delete RaftBackup %s: %w", old.Name, err)
		}
		names = append(names, old.Name)
	}
	if len(names) > 0 && rc != nil {
		r.Recorder.Eventf(rc, b, corev1.EventTypeNormal, raftv1.ReasonBackupsPruned, eventAction,
			"retention deleted RaftBackups %s", strings.Join(names, ", "))
	}
	return nil
}

// deletePod deletes b's pod, if it still has one: a finished backup keeps
// the gist of its log in status.message, and scheduled runs leave no pods.
func (r *RaftBackupReconciler) deletePod(ctx context.Context, b *raftv1.RaftBackup) error {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: backupPodName(b.Name)}, pod); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(pod, b) {
		return nil
	}
	return r.removePod(ctx, pod)
}

// removePod deletes pod, unless it is gone or replaced already.
func (r *RaftBackupReconciler) removePod(ctx context.Context, pod *corev1.Pod) error {
	if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); err != nil && !isGoneOrReplaced(err) {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return nil
}
