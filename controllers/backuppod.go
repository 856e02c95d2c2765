package controllers

import (
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// The backup pod: one container running `raftctl backup save` from the
// members' image, which holds raftctl beside raftnode and no shell.
const (
	backupContainerName = "backup"
	// raftctlPath is where hack/images.sh puts raftctl in the image.
	raftctlPath = "/usr/local/bin/raftctl"
	// backupAppName is the app.kubernetes.io/name of backup pods: not
	// appName, so no selector of the members' ever picks them up.
	backupAppName = "raftkube-backup"
	// adminTLSVolume and adminTLSDir hold the cluster's admin certificate,
	// which SaveSnapshot requires.
	adminTLSVolume = "admin-tls"
	adminTLSDir    = "/etc/raftkube/admin-tls"
	// terminationLog is where the kubelet reads the container's termination
	// message; raftctl writes its result there.
	terminationLog = "/dev/termination-log"
	// defaultKeep is spec.backup.retention.keep when the API server did
	// not default it (an object written before the field existed).
	defaultKeep = 7
)

// backupPodName names the pod of RaftBackup name. The suffix keeps it apart
// from the members' pods (CLUSTER-N), whatever the backup is called.
func backupPodName(name string) string {
	const suffix = "-backup"
	if len(name) > 253-len(suffix) {
		name = name[:253-len(suffix)]
	}
	return name + suffix
}

// backupPodLabels let the cluster's NetworkPolicy admit the pod to the
// client port (raftkube.io/client) and the manager's cache see it
// (managed-by). They carry no raftkube.io/cluster: the cluster's reconciler
// counts pods with that label as members.
func backupPodLabels(rc *raftv1.RaftCluster) map[string]string {
	return map[string]string{
		raftv1.LabelName:      backupAppName,
		raftv1.LabelInstance:  rc.Name,
		raftv1.LabelManagedBy: managerName,
		raftv1.LabelClient:    rc.Name,
	}
}

// clientEndpoint is the client Service's DNS name and port: any ready
// member; raftctl picks a follower from there.
func clientEndpoint(rc *raftv1.RaftCluster, domain string) string {
	name := serverName(rc)
	if domain != "" {
		name += "." + domain
	}
	return fmt.Sprintf("%s:%d", name, clientPort)
}

// adminSecret is the Secret of the cluster's admin certificate, as status
// names it (cert-manager's too) or as the operator names it.
func adminSecret(rc *raftv1.RaftCluster) string {
	if rc.Status.TLS != nil && rc.Status.TLS.AdminSecretName != "" {
		return rc.Status.TLS.AdminSecretName
	}
	return adminSecretName(rc)
}

// backupLocation names a backup for humans: s3://BUCKET/KEY or
// volume://CLAIM/KEY.
func backupLocation(st raftv1.BackupStorage, key string) string {
	switch {
	case st.S3 != nil:
		return "s3://" + st.S3.Bucket + "/" + key
	case st.Volume != nil:
		return "volume://" + st.Volume.ClaimName + "/" + key
	}
	return key
}

// backupArgs are raftctl's arguments for b, whose status.storage and
// status.key are resolved. Scheduled backups prune the cluster's scheduled
// directory after a successful save, by spec.backup.retention.
func backupArgs(rc *raftv1.RaftCluster, b *raftv1.RaftBackup, s Settings) []string {
	st := *b.Status.Storage
	args := []string{
		"backup", "save",
		"--key=" + b.Status.Key,
		"--endpoints=" + clientEndpoint(rc, s.ClusterDomain),
		"--result-file=" + terminationLog,
	}
	args = append(args, accessStorage(st, false).Args...)
	if st.S3 != nil {
		args = append(args, "--spool-dir="+spoolMountPath)
	}
	if b.Labels[raftv1.LabelScheduledBackup] == "true" && rc.Spec.Backup != nil {
		ret := rc.Spec.Backup.Retention
		args = append(args,
			"--prune-prefix="+scheduledBackupDir(st, b.Namespace, b.Spec.Cluster),
			"--keep="+strconv.Itoa(int(ptrOr(ret.Keep, defaultKeep))))
		if ret.MaxAge != nil && ret.MaxAge.Duration > 0 {
			args = append(args, "--max-age="+ret.MaxAge.Duration.String())
		}
	}
	return args
}

// backupPod is the pod that takes b's backup of rc: once, as the members'
// user and image, with the admin certificate when TLS is on. Its result is
// its termination message; when raftctl dies before writing it, the tail
// of its log takes its place.
func backupPod(rc *raftv1.RaftCluster, b *raftv1.RaftBackup, s Settings) *corev1.Pod {
	access := accessStorage(*b.Status.Storage, false)
	volumes, mounts, env := access.Volumes, access.Mounts, access.Env
	if b.Status.Storage.S3 != nil {
		// The snapshot is spooled to disk before the upload, so its size
		// is known; the root filesystem is read-only.
		volumes = append(volumes, corev1.Volume{Name: spoolVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mounts = append(mounts, corev1.VolumeMount{Name: spoolVolume, MountPath: spoolMountPath})
	}
	if rc.Spec.TLS.IsEnabled() {
		volumes = append(volumes, secretVolume(adminTLSVolume, adminSecret(rc)))
		mounts = append(mounts, corev1.VolumeMount{Name: adminTLSVolume, MountPath: adminTLSDir, ReadOnly: true})
		env = append(env,
			corev1.EnvVar{Name: "RAFTCTL_CACERT", Value: path.Join(adminTLSDir, keyBundle)},
			corev1.EnvVar{Name: "RAFTCTL_CERT", Value: path.Join(adminTLSDir, keyCert)},
			corev1.EnvVar{Name: "RAFTCTL_KEY", Value: path.Join(adminTLSDir, keyKey)},
			corev1.EnvVar{Name: "RAFTCTL_TLS_SERVER_NAME", Value: serverName(rc)},
		)
	}
	o := rc.Spec.Pod
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: b.Namespace,
			Name:      backupPodName(b.Name),
			Labels:    backupPodLabels(rc),
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			// Where members may run, so may their backup.
			NodeSelector:      o.NodeSelector,
			Tolerations:       o.Tolerations,
			PriorityClassName: o.PriorityClassName,
			SecurityContext:   podSecurityContext(o.SecurityContext),
			// raftctl never talks to the Kubernetes API.
			AutomountServiceAccountToken: new(false),
			Volumes:                      volumes,
			Containers: []corev1.Container{{
				Name:                     backupContainerName,
				Image:                    nodeImage(rc, s),
				ImagePullPolicy:          rc.Spec.ImagePullPolicy,
				Command:                  []string{raftctlPath},
				Args:                     backupArgs(rc, b, s),
				Env:                      env,
				VolumeMounts:             mounts,
				SecurityContext:          containerSecurityContext(),
				TerminationMessagePath:   terminationLog,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
}
