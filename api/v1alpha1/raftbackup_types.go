package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelScheduledBackup marks the RaftBackups the operator creates for a
// cluster's spec.backup.schedule (value "true"); retention deletes only
// those. Scheduled RaftBackups also carry LabelCluster.
const LabelScheduledBackup = "raftkube.io/scheduled-backup"

// ConditionLastBackupSucceeded on a RaftCluster reports the latest finished
// backup of the cluster (scheduled or not): True with reason BackupSucceeded,
// or False with the reason of its failure (one of the Reason*Storage* and
// ReasonClusterUnreachable values below) and a message naming the fix. The
// cluster keeps serving whatever it says.
const ConditionLastBackupSucceeded = "LastBackupSucceeded"

// Reasons of backup events, of the LastBackupSucceeded condition and of
// status.reason of a failed RaftBackup.
const (
	// ReasonBackupStarted: the operator started the pod that takes a backup.
	ReasonBackupStarted = "BackupStarted"
	// ReasonBackupSucceeded: the backup is stored and verified.
	ReasonBackupSucceeded = "BackupSucceeded"
	// ReasonBackupScheduled: spec.backup.schedule created a RaftBackup.
	ReasonBackupScheduled = "BackupScheduled"
	// ReasonBackupsPruned: retention deleted old scheduled backups.
	ReasonBackupsPruned = "BackupsPruned"
	// ReasonStorageAccessDenied: the storage refused the credentials
	// (wrong key or secret, no permission on the bucket).
	ReasonStorageAccessDenied = "StorageAccessDenied"
	// ReasonStorageNotFound: the bucket, or the volume's directory, does
	// not exist.
	ReasonStorageNotFound = "StorageNotFound"
	// ReasonStorageUnreachable: the storage endpoint did not answer, or its
	// TLS certificate is not trusted.
	ReasonStorageUnreachable = "StorageUnreachable"
	// ReasonClusterUnreachable: no member answered the snapshot request.
	ReasonClusterUnreachable = "ClusterUnreachable"
	// ReasonInvalidBackupConfig: the backup's storage settings or Secrets
	// are unusable (a Secret or key missing, a bad endpoint).
	ReasonInvalidBackupConfig = "InvalidConfig"
	// ReasonSnapshotFailed: the snapshot could not be taken or stored for
	// another reason; the message says which.
	ReasonSnapshotFailed = "SnapshotFailed"
	// ReasonBackupPodFailed: the backup's pod ended without a result (it
	// was evicted, its node lost, its image not pulled).
	ReasonBackupPodFailed = "BackupPodFailed"
	// ReasonRestoreSourceNotReady: spec.restore names a RaftBackup that does
	// not exist or has not succeeded; nothing starts until it has.
	ReasonRestoreSourceNotReady = "RestoreSourceNotReady"
	// ReasonRestoring: the first member founds the cluster from the backup.
	ReasonRestoring = "Restoring"
)

// BackupStorage is where backups are written: exactly one of s3 and volume.
// +kubebuilder:validation:XValidation:rule="has(self.s3) != has(self.volume)",message="set exactly one of s3 and volume"
type BackupStorage struct {
	// An S3-compatible object store (AWS S3, MinIO, Ceph RGW, versitygw, ...).
	// +optional
	S3 *S3Storage `json:"s3,omitempty"`

	// A PersistentVolumeClaim of the cluster's namespace; backups are files
	// under prefix. A ReadWriteOnce claim serves one backup at a time, on
	// one node.
	// +optional
	Volume *VolumeStorage `json:"volume,omitempty"`
}

// S3Storage names a bucket of an S3-compatible object store. Objects are
// addressed path-style (https://ENDPOINT/BUCKET/KEY).
type S3Storage struct {
	// URL of the store, https://host[:port] (or http:// for a store that
	// does not speak TLS: the snapshot and the credentials' signatures then
	// cross the network in the clear).
	// +kubebuilder:validation:Pattern=`^https?://[^/?#]+/?$`
	Endpoint string `json:"endpoint"`

	// Bucket to write to; it must exist.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`

	// Key prefix of the backups, for example "raftkube/". Backups are
	// stored under PREFIX/NAMESPACE/CLUSTER/.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// Region the store signs requests for.
	// +kubebuilder:default=us-east-1
	// +optional
	Region string `json:"region,omitempty"`

	// Secret (in the cluster's namespace) holding the credentials under
	// the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally
	// AWS_SESSION_TOKEN). Only the backup pods read it, as environment
	// variables.
	CredentialsSecret SecretReference `json:"credentialsSecret"`

	// Secret holding the PEM bundle of the CAs that sign the store's
	// certificate, when the system's roots do not.
	// +optional
	CASecret *SecretKeyReference `json:"caSecret,omitempty"`
}

// VolumeStorage names a PersistentVolumeClaim that holds backups.
type VolumeStorage struct {
	// Name of the claim, in the cluster's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// Directory in the volume under which backups are stored
	// (PREFIX/NAMESPACE/CLUSTER/).
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..')",message="prefix may not contain '..'"
	// +optional
	Prefix string `json:"prefix,omitempty"`
}

// SecretReference names a Secret in the object's namespace.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret.
	// +kubebuilder:default=ca.crt
	// +optional
	Key string `json:"key,omitempty"`
}

// BackupSpec is a cluster's backup configuration: where backups go and,
// with a schedule, when the operator takes them.
type BackupSpec struct {
	// Where backups of this cluster are written, scheduled ones and
	// RaftBackups that name no storage of their own.
	Storage BackupStorage `json:"storage"`

	// When to take backups, in cron syntax ("0 3 * * *": at 03:00 every
	// day; five fields, in the operator's time zone, UTC in its image) or
	// as a descriptor (@hourly, @daily, @every 6h). Empty: no scheduled
	// backups. The API server checks the form; a value it lets through
	// that is still wrong (a minute of 61) gets a Warning event,
	// InvalidSchedule, and no backups.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|((CRON_TZ|TZ)=[^ ]+ +)?[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$`
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// Stops scheduling backups while true; backups already running finish.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// How many scheduled backups, and how old, are kept.
	// +kubebuilder:default={}
	// +optional
	Retention BackupRetention `json:"retention,omitzero"`
}

// BackupRetention bounds the scheduled backups kept. After each successful
// scheduled backup the older ones beyond keep, and those older than maxAge,
// are deleted from the storage with their RaftBackups; the newest is never
// deleted. Backups taken with a RaftBackup of your own are never deleted
// by retention.
type BackupRetention struct {
	// Number of scheduled backups kept, newest first.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +optional
	Keep *int32 `json:"keep,omitempty"`

	// Scheduled backups older than this are deleted, for example 720h.
	// Empty: no age limit.
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// RestoreSpec says which backup a new cluster starts from: either a
// RaftBackup's name, or a storage and the object's key there.
// +kubebuilder:validation:XValidation:rule="has(self.backup) != has(self.storage)",message="set exactly one of backup and storage"
// +kubebuilder:validation:XValidation:rule="has(self.storage) == has(self.key)",message="key goes with storage: the object's key in that storage"
type RestoreSpec struct {
	// Name of a succeeded RaftBackup in the cluster's namespace. It may
	// belong to another cluster, or to a deleted one.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Backup string `json:"backup,omitempty"`

	// Storage holding the backup, when no RaftBackup names it (for example
	// in another Kubernetes cluster).
	// +optional
	Storage *BackupStorage `json:"storage,omitempty"`

	// Key of the backup in storage: the object key in the bucket, or the
	// path in the volume (status.key of the RaftBackup that wrote it).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Key string `json:"key,omitempty"`
}

// BackupStatus is what the operator last did about a cluster's backups.
type BackupStatus struct {
	// When the schedule last created a RaftBackup.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// When the schedule creates the next one; empty without a schedule or
	// while suspended.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// Name of the latest RaftBackup of this cluster that succeeded.
	// +optional
	LastSuccessfulBackup string `json:"lastSuccessfulBackup,omitempty"`

	// When that backup finished.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`
}

// BackupPhase is where a RaftBackup stands.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type BackupPhase string

// The phases of a RaftBackup.
const (
	// BackupPending: the backup waits for its cluster or storage settings.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: its pod is streaming a snapshot into the storage.
	BackupRunning BackupPhase = "Running"
	// BackupSucceeded: the snapshot is stored and verified.
	BackupSucceeded BackupPhase = "Succeeded"
	// BackupFailed: no backup was stored; reason and message say why.
	// A failed RaftBackup is not retried: create another.
	BackupFailed BackupPhase = "Failed"
)

// RaftBackupSpec names the cluster to back up and, optionally, where to.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a RaftBackup's spec cannot change: create another RaftBackup"
type RaftBackupSpec struct {
	// Name of the RaftCluster (in this namespace) to back up.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=52
	Cluster string `json:"cluster"`

	// Where to write the backup. Empty: the cluster's spec.backup.storage.
	// +optional
	Storage *BackupStorage `json:"storage,omitempty"`
}

// RaftBackupStatus is what became of a backup.
type RaftBackupStatus struct {
	// Pending, Running, Succeeded or Failed.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`

	// When the backup's pod was created.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// When the backup succeeded or failed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// Where the backup is written, as resolved when it started: a restore
	// reads it from there even if the cluster, or its spec.backup, is gone.
	// +optional
	Storage *BackupStorage `json:"storage,omitempty"`

	// Key of the backup in the storage.
	// +optional
	Key string `json:"key,omitempty"`

	// The backup for humans: s3://BUCKET/KEY or volume://CLAIM/KEY.
	// +optional
	Location string `json:"location,omitempty"`

	// Size of the backup file in bytes.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`

	// Raft log index of the state the backup holds: every write
	// acknowledged before the backup started is at or below it.
	// +optional
	Index int64 `json:"index,omitempty"`

	// Raft term of that index.
	// +optional
	Term int64 `json:"term,omitempty"`

	// Id of the Raft cluster backed up, in hexadecimal.
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// SHA-256 of the backup file, in hexadecimal (its trailer).
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// Why the backup failed (see the Reason constants), or BackupSucceeded.
	// +optional
	Reason string `json:"reason,omitempty"`

	// What happened, for humans: on failure, the error and the fix.
	// +optional
	Message string `json:"message,omitempty"`
}

// RaftBackup is one backup of a RaftCluster: a consistent snapshot of its
// state, taken by a pod the operator runs, written to S3-compatible object
// storage or a volume. Deleting a RaftBackup leaves the stored file; only
// retention of scheduled backups deletes files.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=raftbak,categories=all
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Index",type=integer,JSONPath=`.status.index`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.sizeBytes`
// +kubebuilder:printcolumn:name="Location",type=string,JSONPath=`.status.location`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RaftBackup struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// What to back up, and where.
	Spec RaftBackupSpec `json:"spec"`

	// What became of it, written by the operator.
	// +optional
	Status RaftBackupStatus `json:"status,omitzero"`
}

// RaftBackupList is a list of RaftBackups.
// +kubebuilder:object:root=true
type RaftBackupList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// The RaftBackups.
	Items []RaftBackup `json:"items"`
}
