package controllers

import (
	"cmp"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// +kubebuilder:rbac:groups=raftkube.io,resources=raftbackups,verbs=get;list;watch

// How the first member of a restored cluster gets its backup: an init
// container fetches it (raftctl backup fetch) into an emptyDir, and raftnode
// founds the cluster from it (--bootstrap-from). Both act only in the pod the
// bootstrap ConfigMap names, on an empty volume; the other pods skip them.
const (
	restoreVolume    = "restore"
	restoreDir       = "/restore"
	restoreFile      = restoreDir + "/snapshot"
	restoreContainer = "restore"

	// Event actions of a restore.
	actionRestore  = "Restore"
	actionRestored = "Restored"
)

// restoreSource is the backup a new cluster's first member founds it from.
type restoreSource struct {
	// Backup is the RaftBackup spec.restore named; empty when it gave a
	// storage and key.
	Backup  string
	Storage raftv1.BackupStorage
	Key     string
	// Location is the backup for people: s3://BUCKET/KEY or
	// volume://CLAIM/KEY.
	Location string
}

func (s *restoreSource) String() string {
	if s.Backup == "" {
		return s.Location
	}
	return fmt.Sprintf("RaftBackup %s (%s)", s.Backup, s.Location)
}

// restoreState is what a pass made of spec.restore.
type restoreState struct {
	// founding: spec.restore is set and the bootstrap ConfigMap names the
	// pod that founds the cluster, so it founds it from the backup.
	founding bool
	// source is the backup, when founding and it is ready to be read.
	source *restoreSource
	// notReady says why the backup cannot be read yet, when founding.
	// No pod may then start or change: a pod that founds the cluster
	// without it would found an empty one.
	notReady string
	// ignored: spec.restore is set, but claims of an earlier cluster are
	// adopted (the ConfigMap names nobody); nothing is restored.
	ignored bool
	// held: the planner's step would have started pods, and the pass
	// waits for the backup instead.
	held bool
}

// resolveRestore fills p.restore once the bootstrap ConfigMap cm is in
// shape: until the cluster is bootstrapped, spec.restore.backup is looked
// up every pass (it may still be running), spec.restore.storage is used as
// it is. Once status.clusterID is recorded, nothing of it is read again.
func (r *RaftClusterReconciler) resolveRestore(ctx context.Context, p *pass, cm *corev1.ConfigMap) error {
	rc := p.cluster
	spec := rc.Spec.Restore
	if spec == nil || rc.Status.ClusterID != "" {
		return nil
	}
	if cm.Data[bootstrapKey] == "" {
		p.restore.ignored = true
		return nil
	}
	p.restore.founding = true
	if spec.Backup == "" {
		if spec.Storage == nil {
			// The API's validation requires one of them.
			p.restore.notReady = "spec.restore names neither a backup nor a storage"
			return nil
		}
		p.restore.source = &restoreSource{Storage: *spec.Storage.DeepCopy(), Key: spec.Key, Location: backupLocation(*spec.Storage, spec.Key)}
		return nil
	}
	b := &raftv1.RaftBackup{}
	err := r.Get(ctx, client.ObjectKey{Namespace: rc.Namespace, Name: spec.Backup}, b)
	switch {
	case apierrors.IsNotFound(err):
		p.restore.notReady = fmt.Sprintf("RaftBackup %s does not exist: the cluster starts once it exists and has succeeded", spec.Backup)
	case err != nil:
		return fmt.Errorf("get RaftBackup %s: %w", spec.Backup, err)
	case b.Status.Phase == raftv1.BackupFailed:
		p.restore.notReady = fmt.Sprintf("RaftBackup %s is Failed (%s): nothing can be restored from it; delete this RaftCluster and create it with another spec.restore",
			b.Name, b.Status.Reason)
	case b.Status.Phase != raftv1.BackupSucceeded:
		phase := string(b.Status.Phase)
		if phase == "" {
			phase = "new"
		}
		p.restore.notReady = fmt.Sprintf("RaftBackup %s is %s: the cluster starts once it has succeeded", b.Name, phase)
	case b.Status.Storage == nil || b.Status.Key == "":
		p.restore.notReady = fmt.Sprintf("RaftBackup %s succeeded but its status names no storage and key to read it from", b.Name)
	default:
		loc := cmp.Or(b.Status.Location, backupLocation(*b.Status.Storage, b.Status.Key))
		p.restore.source = &restoreSource{Backup: b.Name, Storage: *b.Status.Storage.DeepCopy(), Key: b.Status.Key, Location: loc}
	}
	return nil
}

// holdForRestore replaces a step that would start pods, or change their
// template, by a wait while the backup is not ready: the StatefulSet is
// created (or pod 0 restarted to found the cluster) only with the backup
// in its template. Steps on pods that run already go on: a first member
// may have founded the cluster from a backup deleted since.
func holdForRestore(p *pass) {
	if p.restore.notReady == "" {
		return
	}
	switch p.action.Kind {
	case plan.SetReplicas, plan.StartBootstrap:
	default:
		return
	}
	p.restore.held = true
	p.action = plan.Action{Kind: plan.Wait, Cause: plan.CauseBootstrapping, Reason: p.restore.notReady}
}

// withRestore adds to a member pod template what founds the cluster from
// src: the restore emptyDir, the init container that fetches the backup
// into it, and RAFTNODE_BOOTSTRAP_FROM. The fetch and raftnode both act
// only in the pod the bootstrap ConfigMap names, on an empty data volume,
// so every pod can share the template.
func withRestore(tmpl *corev1.PodTemplateSpec, src *restoreSource) {
	spec := &tmpl.Spec
	main := &spec.Containers[0]
	access := accessStorage(src.Storage, true)

	// The init container reads the variables of the member's own name and
	// the ConfigMap's bootstrap member, which its arguments expand.
	var env []corev1.EnvVar
	for _, e := range main.Env {
		switch e.Name {
		case "POD_NAME", "RAFTNODE_NAME", "RAFTNODE_BOOTSTRAP_MEMBER":
			env = append(env, e)
		}
	}
	env = append(env, access.Env...)
	args := append([]string{"backup", "fetch",
		"--key=" + src.Key,
		"--to=" + restoreFile,
		"--name=$(RAFTNODE_NAME)",
		"--bootstrap-member=$(RAFTNODE_BOOTSTRAP_MEMBER)",
		"--data-dir=" + dataDir,
	}, access.Args...)
	mounts := append([]corev1.VolumeMount{
		{Name: restoreVolume, MountPath: restoreDir},
		// Only to see whether it holds a member: never written.
		{Name: dataVolume, MountPath: dataDir, ReadOnly: true},
	}, access.Mounts...)

	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: restoreVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	spec.Volumes = append(spec.Volumes, access.Volumes...)
	spec.InitContainers = append(spec.InitContainers, corev1.Container{
		Name:            restoreContainer,
		Image:           main.Image,
		ImagePullPolicy: main.ImagePullPolicy,
		Command:         []string{raftctlPath},
		Args:            args,
		Env:             env,
		VolumeMounts:    mounts,
		SecurityContext: containerSecurityContext(),
		// A download streamed to a file: little CPU, a bounded buffer.
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
	})
	main.Env = append(main.Env, corev1.EnvVar{Name: "RAFTNODE_BOOTSTRAP_FROM", Value: restoreFile})
	main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: restoreVolume, MountPath: restoreDir, ReadOnly: true})
}

// restoreEvents records the restore's milestones after the pass's step:
// the StatefulSet created to restore (or created adopting claims, when
// spec.restore is not used), and the cluster founded from the backup.
func (r *RaftClusterReconciler) restoreEvents(p *pass) {
	if r.Recorder == nil || p.cluster.Spec.Restore == nil {
		return
	}
	rc, a := p.cluster, p.action
	switch {
	case a.Kind == plan.SetReplicas && p.sts == nil && p.restore.source != nil:
		r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, raftv1.ReasonRestoring, actionRestore,
			"%s founds the cluster from %s", podName(rc, 0), p.restore.source)
	case a.Kind == plan.SetReplicas && p.sts == nil && p.restore.ignored:
		r.Recorder.Eventf(rc, nil, corev1.EventTypeWarning, raftv1.ReasonRetainedData, actionRestore,
			"spec.restore is not used: claims of an earlier cluster of this name exist and are adopted (spec.bootstrap Adopt); "+
				"to restore, delete the RaftCluster and those claims and create it again, or set spec.bootstrap to Fresh to be stopped instead")
	case a.Kind == plan.FinishBootstrap && p.restore.founding:
		from := "spec.restore"
		if p.restore.source != nil {
			from = p.restore.source.String()
		}
		r.Recorder.Eventf(rc, nil, corev1.EventTypeNormal, raftv1.ReasonRestoring, actionRestored,
			"cluster %s founded from %s; pods start without the backup from now on", formatID(a.ClusterID), from)
	}
}

// warnRestoreSource records a Warning when a pass waits for the backup to
// restore from, once per change of the Progressing condition (its message
// carries the backup's phase).
func (r *RaftClusterReconciler) warnRestoreSource(p *pass) {
	if r.Recorder == nil || !p.restore.held {
		return
	}
	r.Recorder.Eventf(p.cluster, nil, corev1.EventTypeWarning, raftv1.ReasonRestoreSourceNotReady, "Wait", "%s", p.restore.notReady)
}

// clustersRestoringFrom maps a RaftBackup to the clusters of its namespace
// that wait to be restored from it, so they start as soon as it succeeds.
func (r *RaftClusterReconciler) clustersRestoringFrom(ctx context.Context, o client.Object) []reconcile.Request {
	var list raftv1.RaftClusterList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list RaftClusters to restore from a RaftBackup", "backup", o.GetName())
		return nil
	}
	var out []reconcile.Request
	for _, rc := range list.Items {
		if rc.Spec.Restore != nil && rc.Spec.Restore.Backup == o.GetName() && rc.Status.ClusterID == "" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rc)})
		}
	}
	return out
}
