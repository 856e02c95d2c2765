package controllers

import (
	"cmp"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// Where the pods that write or read backups (raftctl backup save and fetch)
// mount what a BackupStorage names.
const (
	backupVolume    = "backup"
	backupMountPath = "/backup"
	backupCAVolume  = "backup-ca"
	backupCADir     = "/etc/raftkube/backup-ca"
	backupCAFile    = "ca.crt"
	spoolVolume     = "spool"
	spoolMountPath  = "/spool"
	// defaultCAKey is the key of a CA Secret reference that names none
	// (the CRD's default).
	defaultCAKey = "ca.crt"

	// The keys of a credentials Secret, which are also the variables
	// raftctl reads them from.
	envAccessKeyID     = "AWS_ACCESS_KEY_ID"
	envSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	envSessionToken    = "AWS_SESSION_TOKEN"

	// backupExtension ends every backup's key.
	backupExtension = ".snap"
	// scheduledDir holds a cluster's scheduled backups, which retention
	// prunes; backups of RaftBackups of one's own lie beside it.
	scheduledDir = "scheduled"
)

// storageAccess is what a pod needs to reach a BackupStorage with raftctl
// backup: the storage flags, the credentials' environment, and the volumes
// with their mounts.
type storageAccess struct {
	Args    []string
	Env     []corev1.EnvVar
	Volumes []corev1.Volume
	Mounts  []corev1.VolumeMount
}

// accessStorage returns the raftctl flags, environment and volumes that
// reach st. readOnly mounts a volume storage read-only (a restore).
func accessStorage(st raftv1.BackupStorage, readOnly bool) storageAccess {
	var a storageAccess
	switch {
	case st.S3 != nil:
		s3 := st.S3
		region := cmp.Or(s3.Region, "us-east-1")
		a.Args = []string{"--s3-endpoint=" + s3.Endpoint, "--s3-bucket=" + s3.Bucket, "--s3-region=" + region}
		secretEnv := func(name string, optional bool) corev1.EnvVar {
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: s3.CredentialsSecret.Name},
				Key:                  name,
				Optional:             &optional,
			}}}
		}
		a.Env = []corev1.EnvVar{
			secretEnv(envAccessKeyID, false),
			secretEnv(envSecretAccessKey, false),
			secretEnv(envSessionToken, true),
		}
		if ca := s3.CASecret; ca != nil {
			a.Volumes = append(a.Volumes, secretVolume(backupCAVolume, ca.Name,
				corev1.KeyToPath{Key: caSecretKey(ca), Path: backupCAFile}))
			a.Mounts = append(a.Mounts, corev1.VolumeMount{Name: backupCAVolume, MountPath: backupCADir, ReadOnly: true})
			a.Args = append(a.Args, "--s3-ca-file="+path.Join(backupCADir, backupCAFile))
		}
	case st.Volume != nil:
		a.Args = []string{"--dir=" + backupMountPath, "--volume-name=" + st.Volume.ClaimName}
		a.Volumes = []corev1.Volume{{Name: backupVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: st.Volume.ClaimName, ReadOnly: readOnly},
		}}}
		a.Mounts = []corev1.VolumeMount{{Name: backupVolume, MountPath: backupMountPath, ReadOnly: readOnly}}
	}
	return a
}

// caSecretKey is the key of ca's Secret that holds the CA bundle.
func caSecretKey(ca *raftv1.SecretKeyReference) string {
	return cmp.Or(ca.Key, defaultCAKey)
}

// storagePrefix is the storage's own prefix (S3 key prefix or volume
// directory), cleaned to "" or "a/b/".
func storagePrefix(st raftv1.BackupStorage) string {
	var p string
	switch {
	case st.S3 != nil:
		p = st.S3.Prefix
	case st.Volume != nil:
		p = st.Volume.Prefix
	}
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// clusterBackupDir is where a cluster's backups lie in st:
// PREFIX/NAMESPACE/CLUSTER/.
func clusterBackupDir(st raftv1.BackupStorage, namespace, cluster string) string {
	return storagePrefix(st) + namespace + "/" + cluster + "/"
}

// scheduledBackupDir is where a cluster's scheduled backups lie; retention
// prunes only there.
func scheduledBackupDir(st raftv1.BackupStorage, namespace, cluster string) string {
	return clusterBackupDir(st, namespace, cluster) + scheduledDir + "/"
}

// backupKey is the key a RaftBackup's file is stored under: scheduled ones
// in the cluster's scheduled directory (their names, CLUSTER-TIME, sort by
// time), others beside it.
func backupKey(st raftv1.BackupStorage, b *raftv1.RaftBackup) string {
	if b.Labels[raftv1.LabelScheduledBackup] == "true" {
		return scheduledBackupDir(st, b.Namespace, b.Spec.Cluster) + b.Name + backupExtension
	}
	return clusterBackupDir(st, b.Namespace, b.Spec.Cluster) + b.Name + backupExtension
}
