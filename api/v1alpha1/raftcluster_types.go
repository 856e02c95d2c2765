package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels the operator puts on every pod (and owned object) of a cluster. The
// StatefulSet selects its pods by them, so spec.pod.labels may not set them.
const (
	// LabelName is the well-known application name label.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is the well-known instance label: the RaftCluster's name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelManagedBy is the well-known label naming the operator.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelCluster carries the name of the RaftCluster a pod belongs to.
	LabelCluster = "raftkube.io/cluster"
)

// AnnotationPaused is the annotation that, set to "true" on a RaftCluster,
// stops the operator from acting on it (no object changes, no membership
// changes) while it keeps reporting status; the Progressing condition then
// has ReasonPaused.
const AnnotationPaused = "raftkube.io/paused"

// AnnotationForceNewCluster is the disaster-recovery action: set to the
// cluster's status.clusterID while no leader can be elected because a
// majority of the voters is lost for good, it makes the operator choose
// the most up-to-date surviving voter (highest last log term, then index)
// and force a configuration of that voter alone, which then leads; the
// other members are dropped (recorded as removed) and replaced by new ones
// as usual. Writes acknowledged by the lost majority but not held by the
// survivor are lost. The operator removes the annotation once done, or at
// once when the cluster has a leader.
const AnnotationForceNewCluster = "raftkube.io/force-new-cluster"

// Condition types of a RaftCluster (status.conditions[].type).
const (
	// ConditionAvailable is True while the cluster has a leader and a majority
	// of voters is ready, that is while it serves writes.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while the operator is moving the cluster
	// towards its spec (creating objects, scaling, replacing, restarting).
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True while some members are not ready or the cluster
	// has no leader, even if a majority still serves.
	ConditionDegraded = "Degraded"
	// ConditionMembershipChanging is True while a Raft configuration change is
	// in flight: a learner catching up, a joint configuration, a removal.
	ConditionMembershipChanging = "MembershipChanging"
)

// Reasons of RaftCluster conditions (status.conditions[].reason).
const (
	// ReasonReconciled: the cluster matches its spec; nothing to do.
	ReasonReconciled = "Reconciled"
	// ReasonPaused: the raftkube.io/paused annotation stops reconciliation.
	ReasonPaused = "Paused"
	// ReasonCreatingObjects: services, PDB or StatefulSet are being created.
	ReasonCreatingObjects = "CreatingObjects"
	// ReasonBootstrapping: the first member is forming the cluster.
	ReasonBootstrapping = "Bootstrapping"
	// ReasonScalingUp: new members are being added as learners and promoted.
	ReasonScalingUp = "ScalingUp"
	// ReasonScalingDown: members above spec.replicas are being removed.
	ReasonScalingDown = "ScalingDown"
	// ReasonReplacingMember: a pod came back with an empty volume (a new member
	// id) and is replacing its old member.
	ReasonReplacingMember = "ReplacingMember"
	// ReasonLearnerCatchingUp: a learner is replicating the log before promotion.
	ReasonLearnerCatchingUp = "LearnerCatchingUp"
	// ReasonLeavingJoint: a joint configuration is being left.
	ReasonLeavingJoint = "LeavingJoint"
	// ReasonTransferringLeadership: leadership moves off a member that is about
	// to be removed or restarted.
	ReasonTransferringLeadership = "TransferringLeadership"
	// ReasonRollingRestart: pods are restarted one at a time, leader last.
	ReasonRollingRestart = "RollingRestart"
	// ReasonMembersNotReady: some members are not ready.
	ReasonMembersNotReady = "MembersNotReady"
	// ReasonNoLeader: no member reports a leader.
	ReasonNoLeader = "NoLeader"
	// ReasonQuorumLost: fewer than a majority of voters are ready.
	ReasonQuorumLost = "QuorumLost"
	// ReasonMembersUnreachable: the operator cannot reach the members' admin API.
	ReasonMembersUnreachable = "MembersUnreachable"
	// ReasonReconcileError: the operator failed to apply a change; the message
	// says what failed.
	ReasonReconcileError = "ReconcileError"

	// The reasons below name a wait that does not end by itself, unless
	// said otherwise; each comes with a Warning event of the same reason
	// whose note names the object and the fix.

	// ReasonInvalidSpec: the spec asks for something the operator cannot do.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonPodCannotRun: a pod's container cannot start (image pull
	// failure, unschedulable, crash loop). Changing the pod template again
	// replaces the pod at once.
	ReasonPodCannotRun = "PodCannotRun"
	// ReasonRetainedData: a new cluster's claims hold members of an earlier
	// cluster, and the spec asks for a fresh start.
	ReasonRetainedData = "RetainedData"
	// ReasonClusterIDMismatch: the leader answers for another cluster than
	// status.clusterID.
	ReasonClusterIDMismatch = "ClusterIDMismatch"
	// ReasonForeignMember: the configuration holds a voter that is not a pod
	// of this cluster.
	ReasonForeignMember = "ForeignMember"
	// ReasonMemberConflict: a pod holds a removed member, or one of another
	// cluster, that the leader still lists in the configuration.
	ReasonMemberConflict = "MemberConflict"
	// ReasonNoHealthyMajority: a change would leave fewer healthy voters than
	// a majority; it waits for members to recover (ends by itself).
	ReasonNoHealthyMajority = "NoHealthyMajority"
	// ReasonAwaitingDNS: a new pod's DNS name is not published yet (ends by
	// itself).
	ReasonAwaitingDNS = "AwaitingDNS"
	// ReasonLeaveNotRecorded: a member that left keeps its pod and claim
	// until every remaining voter applied its removal (ends by itself).
	ReasonLeaveNotRecorded = "LeaveNotRecorded"
	// ReasonNoSurvivor: the raftkube.io/force-new-cluster annotation asks
	// for a new configuration, but no pod answers as a voter to force it
	// from.
	ReasonNoSurvivor = "NoSurvivor"
	// ReasonForcedNewCluster: a configuration is being forced from one
	// survivor (see AnnotationForceNewCluster); also the reason of its
	// Warning events.
	ReasonForcedNewCluster = "ForcedNewCluster"
)

// ClusterPhase is a one-word summary of a RaftCluster's state for humans
// (kubectl get). Automation should read the conditions instead.
// +kubebuilder:validation:Enum=Pending;Bootstrapping;Available;Scaling;Upgrading;Degraded;Paused
type ClusterPhase string

// The phases of a RaftCluster.
const (
	// PhasePending: the cluster's objects exist but no member has started yet.
	PhasePending ClusterPhase = "Pending"
	// PhaseBootstrapping: the first member is forming the cluster.
	PhaseBootstrapping ClusterPhase = "Bootstrapping"
	// PhaseAvailable: every voter is ready and the configuration matches the spec.
	PhaseAvailable ClusterPhase = "Available"
	// PhaseScaling: members are being added, removed or replaced.
	PhaseScaling ClusterPhase = "Scaling"
	// PhaseUpgrading: the pods are being restarted one at a time, the leader
	// last, to apply a changed pod template (image, Raft settings,
	// resources, pod overrides).
	PhaseUpgrading ClusterPhase = "Upgrading"
	// PhaseDegraded: some members are not ready or there is no leader.
	PhaseDegraded ClusterPhase = "Degraded"
	// PhasePaused: the raftkube.io/paused annotation stops the operator
	// from changing anything; the conditions still tell the cluster's state.
	PhasePaused ClusterPhase = "Paused"
)

// MemberRole is the role of a member as the member itself reports it.
// +kubebuilder:validation:Enum=Leader;Follower;Candidate;PreCandidate;Learner;Removed;Unknown
type MemberRole string

// The roles of a member.
const (
	// RoleLeader: the member is the leader.
	RoleLeader MemberRole = "Leader"
	// RoleFollower: a voter following the leader.
	RoleFollower MemberRole = "Follower"
	// RoleCandidate: a voter campaigning for leadership.
	RoleCandidate MemberRole = "Candidate"
	// RolePreCandidate: a voter running a pre-vote before campaigning.
	RolePreCandidate MemberRole = "PreCandidate"
	// RoleLearner: a non-voting member receiving the log.
	RoleLearner MemberRole = "Learner"
	// RoleRemoved: the member has left the configuration; its pod is about to go.
	RoleRemoved MemberRole = "Removed"
	// RoleUnknown: the member did not answer.
	RoleUnknown MemberRole = "Unknown"
)

// RetentionPolicy says what happens to a member's PersistentVolumeClaim.
// +kubebuilder:validation:Enum=Delete;Retain
type RetentionPolicy string

// The retention policies.
const (
	// RetentionDelete deletes the claim (and, by the storage class's reclaim
	// policy, usually the volume).
	RetentionDelete RetentionPolicy = "Delete"
	// RetentionRetain keeps the claim.
	RetentionRetain RetentionPolicy = "Retain"
)

// RaftClusterSpec is the desired state of a RaftCluster.
// +kubebuilder:validation:XValidation:rule="has(self.restore) == has(oldSelf.restore) && (!has(self.restore) || self.restore == oldSelf.restore)",message="spec.restore cannot be set, changed or removed on an existing cluster: it says what a new cluster starts from; restore into a new RaftCluster"
type RaftClusterSpec struct {
	// Number of voting members. Changing it adds members (as learners first,
	// promoted once they have caught up) or removes them (leadership moves off
	// a leaving member first), one Raft configuration change at a time.
	// An odd number is recommended: 4 members tolerate the loss of one member,
	// as 3 do, but need 3 for a majority. `kubectl scale` and a
	// HorizontalPodAutoscaler set it through the scale subresource.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=9
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Container image of the raftnode members. Empty means the default node
	// image the operator was started with. Changing it restarts the members
	// one at a time, the leader last.
	// +optional
	Image string `json:"image,omitempty"`

	// Pull policy of the member image: Always, IfNotPresent or Never. Empty
	// means the Kubernetes default (Always for a :latest tag, IfNotPresent
	// otherwise).
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// CPU and memory requests and limits of the raftnode container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// Persistent volume of each member, which holds its Raft log, snapshots
	// and member identity.
	// +kubebuilder:default={}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`

	// Overrides for the members' pods: scheduling, labels, security context.
	// +optional
	Pod PodOverrides `json:"pod,omitzero"`

	// Raft timing and log compaction settings, passed to every member.
	// +kubebuilder:default={}
	// +optional
	Raft RaftSettings `json:"raft,omitzero"`

	// What happens to the members' PersistentVolumeClaims when the cluster is
	// scaled down or deleted.
	// +kubebuilder:default={}
	// +optional
	PersistentVolumeClaimRetentionPolicy PersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitzero"`

	// What a new cluster does with claims of its name that exist before it
	// starts, kept from an earlier cluster of the same name (the default
	// whenDeleted is Retain). Adopt, the default, starts a pod on each and
	// adopts the cluster they hold, keeping its data; no pod founds a new
	// cluster over them. Fresh starts nothing while such claims exist, and
	// says which to delete. Read only until the cluster is bootstrapped.
	// +kubebuilder:default=Adopt
	// +optional
	Bootstrap BootstrapPolicy `json:"bootstrap,omitempty"`

	// Transport security of the members' ports. By default the operator runs
	// a certificate authority for the cluster and the members speak mutual
	// TLS on both ports.
	// +kubebuilder:default={}
	// +optional
	TLS TLSSpec `json:"tls,omitzero"`

	// The NetworkPolicy that limits who may connect to the members. Created
	// by default.
	// +kubebuilder:default={}
	// +optional
	NetworkPolicy NetworkPolicySpec `json:"networkPolicy,omitzero"`

	// Backups of the cluster: where they are stored and, with a schedule,
	// when the operator takes them. A RaftBackup takes one now.
	// +optional
	Backup *BackupSpec `json:"backup,omitempty"`

	// Starts the new cluster from a backup instead of an empty state: the
	// first member founds it (with a new cluster id) from the snapshot,
	// the others join as usual. Fixed at creation; read only until the
	// cluster is bootstrapped.
	// +optional
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// TLSSpec configures the members' certificates.
// +kubebuilder:validation:XValidation:rule="(has(self.enabled) ? self.enabled : true) == (has(oldSelf.enabled) ? oldSelf.enabled : true)",message="tls.enabled cannot change on an existing cluster: members restarted one at a time would speak TLS to members that speak plaintext, and lose their quorum; delete the RaftCluster (its claims are kept by default) and create it again with the new setting, which adopts the data"
// +kubebuilder:validation:XValidation:rule="has(self.issuerRef) == has(oldSelf.issuerRef) && (!has(self.issuerRef) || self.issuerRef == oldSelf.issuerRef)",message="tls.issuerRef cannot be set, changed or removed on an existing cluster: members would be handed certificates of a CA the others do not trust yet"
// +kubebuilder:validation:XValidation:rule="!has(self.issuerRef) || !has(self.enabled) || self.enabled",message="tls.issuerRef needs TLS enabled"
type TLSSpec struct {
	// Whether the members use TLS. True, the default: the peer port speaks
	// mutual TLS among members only, the client port TLS with client
	// certificates required, and the admin API answers only the operator's
	// admin identity. False serves both ports in plaintext, open to any pod
	// that can reach them; the operator warns about it with an event.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// How long the certificates the operator issues to members and clients
	// are valid. They are renewed once two thirds of it have passed.
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="certificateLifetime must be at least 1h: certificates are renewed after two thirds of it"
	// +optional
	CertificateLifetime metav1.Duration `json:"certificateLifetime,omitzero"`

	// A cert-manager issuer to issue the certificates instead of the
	// operator's own CA: the operator then keeps cert-manager Certificate
	// objects (NAME-member-tls, NAME-admin-tls, NAME-client-tls), and
	// cert-manager the Secrets of those names. The members trust the CA in
	// each Secret's ca.crt; replacing that CA is the issuer's business (for
	// example with trust-manager), not the operator's. Fixed at creation.
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// Name of the Issuer (in the cluster's namespace) or ClusterIssuer.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Issuer or ClusterIssuer.
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	// +kubebuilder:default=Issuer
	// +optional
	Kind string `json:"kind,omitempty"`
	// API group of the issuer: cert-manager.io, or an external issuer's.
	// +kubebuilder:default=cert-manager.io
	// +optional
	Group string `json:"group,omitempty"`
}

// IsEnabled reports whether the cluster uses TLS (the default).
func (t TLSSpec) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// NetworkPolicySpec configures the cluster's NetworkPolicy.
type NetworkPolicySpec struct {
	// Whether the operator creates the NetworkPolicy. True by default: the
	// peer port is reachable only from the cluster's own pods; the client
	// port from them, from the operator's namespace, from pods in the
	// cluster's namespace labelled raftkube.io/client=<cluster name>, and
	// from the peers listed in allowedClients. The health and metrics port
	// stays open. Enforcement is the network plugin's: on a network that
	// does not enforce NetworkPolicies the object changes nothing.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// More sources allowed to reach the client port, as in a NetworkPolicy
	// ingress rule: for example pods of another namespace.
	// +optional
	AllowedClients []networkingv1.NetworkPolicyPeer `json:"allowedClients,omitempty"`
}

// IsEnabled reports whether the NetworkPolicy is wanted (the default).
func (n NetworkPolicySpec) IsEnabled() bool { return n.Enabled == nil || *n.Enabled }

// AntiAffinityMode says how strongly members avoid sharing a node.
// +kubebuilder:validation:Enum=Preferred;Required;None
type AntiAffinityMode string

// The anti-affinity modes.
const (
	AntiAffinityPreferred AntiAffinityMode = "Preferred"
	AntiAffinityRequired  AntiAffinityMode = "Required"
	AntiAffinityNone      AntiAffinityMode = "None"
)

// BootstrapPolicy says what a new cluster does with claims that exist
// before it starts.
// +kubebuilder:validation:Enum=Adopt;Fresh
type BootstrapPolicy string

// The bootstrap policies.
const (
	// BootstrapAdopt adopts the cluster found on existing claims.
	BootstrapAdopt BootstrapPolicy = "Adopt"
	// BootstrapFresh refuses to start over existing claims.
	BootstrapFresh BootstrapPolicy = "Fresh"
)

// StorageSpec describes the persistent volume claim of each member.
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storageClassName cannot be set, changed or removed after the cluster is created: the members' existing volumes stay in their class"
type StorageSpec struct {
	// Requested size of each member's volume, for example 1Gi or 500Mi. It may
	// grow later (the existing claims are expanded, which the storage class
	// must allow). Volumes never shrink: a smaller size takes back an
	// increase not applied yet, and leaves larger claims as they are.
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",message="size must be greater than zero"
	// +optional
	Size resource.Quantity `json:"size,omitzero"`

	// StorageClass of the members' volumes. Unset means the cluster's default
	// storage class. It is fixed when the cluster is created.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PodOverrides are settings the operator copies into the pods it creates.
// Everything else in the pod (container, ports, probes, volumes) is the
// operator's.
type PodOverrides struct {
	// Extra labels for the pods. The labels the operator selects its pods by
	// (app.kubernetes.io/name, app.kubernetes.io/instance,
	// app.kubernetes.io/managed-by, raftkube.io/cluster) may not be set here.
	// At most 64 labels.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'raftkube.io/cluster']))",message="pod.labels may not set app.kubernetes.io/name, app.kubernetes.io/instance, app.kubernetes.io/managed-by or raftkube.io/cluster: the operator selects its pods by them"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Extra annotations for the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Node labels a node must have for a member to be scheduled on it.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Affinity and anti-affinity rules of the pods. Spreading members over
	// nodes or zones (pod anti-affinity or topologySpreadConstraints) keeps a
	// majority alive when one node or zone fails.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// How members are spread across nodes when affinity sets no pod
	// anti-affinity: Preferred (the default) asks the scheduler to put no
	// two members of the cluster on one node when it can; Required never
	// does, leaving a member Pending rather than sharing a node; None does
	// not ask.
	// +kubebuilder:default=Preferred
	// +optional
	AntiAffinity AntiAffinityMode `json:"antiAffinity,omitempty"`

	// Tolerations of the pods, to let members run on tainted nodes.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// How the members are spread over topology domains (nodes, zones).
	// +listType=map
	// +listMapKey=topologyKey
	// +listMapKey=whenUnsatisfiable
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// Pod-level security settings (user and group ids, fsGroup for the data
	// volume, seccomp profile). Empty: the "restricted" Pod Security
	// Standard's settings for the image's user, runAsNonRoot with user, group
	// and fsGroup 65532 and the RuntimeDefault seccomp profile. The container
	// always runs with a read-only root filesystem, no privilege escalation
	// and every capability dropped.
	// +optional
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`

	// PriorityClass of the pods. A high priority keeps members from being
	// preempted by less important workloads.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// Seconds a member has to stop after it is asked to: enough to finish
	// in-flight writes and, for a leader, to hand leadership over. Unset
	// means the operator's default.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// RaftSettings are the Raft timing and log compaction settings of every
// member (raftnode flags --tick-interval, --election-ticks, --heartbeat-ticks
// and --snapshot-entries). Changing them restarts the members one at a time.
// +kubebuilder:validation:XValidation:rule="!has(self.electionTicks) || !has(self.heartbeatTicks) || self.electionTicks >= 3 * self.heartbeatTicks",message="electionTicks must be at least 3 times heartbeatTicks: a follower must miss several heartbeats before it may start an election, or a single late heartbeat deposes a healthy leader"
type RaftSettings struct {
	// Length of one Raft tick, the unit of the election and heartbeat
	// timeouts, for example 100ms. Longer ticks suit slow or distant networks
	// and make failover slower.
	// +kubebuilder:default="100ms"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1ms')",message="tickInterval must be at least 1ms"
	// +optional
	TickInterval metav1.Duration `json:"tickInterval,omitzero"`

	// Ticks a follower waits without hearing from a leader before it starts an
	// election (randomized between this and twice this). With the defaults a
	// failed leader is replaced after 1 to 2 seconds.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +optional
	ElectionTicks int32 `json:"electionTicks,omitempty"`

	// Ticks between two heartbeats of the leader. Must be at most a third of
	// electionTicks.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	HeartbeatTicks int32 `json:"heartbeatTicks,omitempty"`

	// Applied log entries between two automatic snapshots. After a snapshot
	// the log before it is compacted; smaller values use less disk and make
	// restarts faster, larger values write snapshots less often.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +optional
	SnapshotEntries int64 `json:"snapshotEntries,omitempty"`

	// Size of the applied entries' data after which a snapshot is written
	// even before snapshotEntries: members hold the log since the last
	// snapshot in memory, so with large values this bounds their memory.
	// Empty means raftnode's default, 64Mi.
	// +kubebuilder:validation:XValidation:rule="quantity(self).isGreaterThan(quantity('1Mi')) || quantity(self).compareTo(quantity('1Mi')) == 0",message="snapshotBytes must be at least 1Mi"
	// +optional
	SnapshotBytes *resource.Quantity `json:"snapshotBytes,omitempty"`
}

// PersistentVolumeClaimRetentionPolicy says what happens to the members'
// PersistentVolumeClaims on scale-down and on deletion of the cluster.
type PersistentVolumeClaimRetentionPolicy struct {
	// What happens to the claim of a member removed by a scale-down, once it
	// has left the Raft configuration. Delete (the default) removes it, so a
	// later scale-up starts that ordinal as a new member with an empty log,
	// never on a stale one. Retain keeps it: a later scale-up to that ordinal
	// then finds the log of a member that was removed and may not rejoin, so
	// delete retained claims yourself before scaling up again.
	// +kubebuilder:default=Delete
	// +optional
	WhenScaled RetentionPolicy `json:"whenScaled,omitempty"`

	// What happens to the claims when the RaftCluster is deleted. Retain (the
	// default) keeps them, and the data, until you delete them; Delete removes
	// them with the cluster.
	// +kubebuilder:default=Retain
	// +optional
	WhenDeleted RetentionPolicy `json:"whenDeleted,omitempty"`
}

// MemberStatus is what the operator last observed of one member.
type MemberStatus struct {
	// Name of the member's pod.
	Name string `json:"name"`

	// Raft member id, in lower-case hexadecimal without padding, as raftctl
	// prints it. Empty while the pod has not yet reported its id.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{1,16}$`
	// +optional
	ID string `json:"id,omitempty"`

	// While this pod replaces a member that lost its volume: the id of the old
	// member, which is removed once the new one is promoted.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{1,16}$`
	// +optional
	ReplacesID string `json:"replacesID,omitempty"`

	// Role of the member: Leader, Follower, Candidate or PreCandidate (voters),
	// Learner (not yet voting), Removed (left the configuration) or Unknown
	// (did not answer).
	// +optional
	Role MemberRole `json:"role,omitempty"`

	// Whether the member is ready: it belongs to the configuration, knows the
	// leader and has caught up with it.
	// +optional
	Ready bool `json:"ready,omitempty"`

	// Highest log index the leader knows this member has stored. Compare with
	// the leader's own to see how far a member lags.
	// +optional
	MatchIndex int64 `json:"matchIndex,omitempty"`

	// Whether the member has applied the configuration the leader has. A
	// member that left keeps its pod and claim until every remaining voter
	// has, so that none restarts into a configuration that still needs it
	// (the Progressing reason is LeaveNotRecorded meanwhile).
	// +optional
	ConfigurationApplied bool `json:"configurationApplied,omitempty"`
}

// RaftClusterStatus is the observed state of a RaftCluster.
type RaftClusterStatus struct {
	// The metadata.generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Number of voting members in the current Raft configuration.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// Number of voting members that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Label selector of the members' pods, in the string form used by the
	// scale subresource (for a HorizontalPodAutoscaler).
	// +optional
	Selector string `json:"selector,omitempty"`

	// Id of the Raft cluster, in hexadecimal, set once the first member has
	// bootstrapped it. Every member carries it and refuses messages from
	// another cluster.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{1,16}$`
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// Name of the leader's pod; empty when there is no leader.
	// +optional
	Leader string `json:"leader,omitempty"`

	// Members of the Raft configuration (voters and learners) and the pods that
	// are about to join it, by pod name.
	// +listType=map
	// +listMapKey=name
	// +optional
	Members []MemberStatus `json:"members,omitempty"`

	// One-word summary for humans: Pending, Bootstrapping, Available,
	// Scaling, Upgrading, Degraded or Paused. Automation should read the
	// conditions.
	// +optional
	Phase ClusterPhase `json:"phase,omitempty"`

	// Latest observations of the cluster: Available, Progressing, Degraded
	// and MembershipChanging.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// The cluster's certificates, when spec.tls is enabled.
	// +optional
	TLS *TLSStatus `json:"tls,omitempty"`

	// The cluster's backups, when spec.backup is set or a RaftBackup named
	// it.
	// +optional
	Backup *BackupStatus `json:"backup,omitempty"`
}

// TLSStatus names the Secrets that hold the cluster's certificates, each of
// type kubernetes.io/tls with tls.crt, tls.key and ca.crt (the CA bundle to
// trust), ready for raftctl's --cert, --key and --cacert.
type TLSStatus struct {
	// Secret of the certificate for applications: key-value access, no
	// admin API.
	// +optional
	ClientSecretName string `json:"clientSecretName,omitempty"`

	// Secret of the admin certificate, which the operator uses and which
	// may change membership: grant read access to it with care.
	// +optional
	AdminSecretName string `json:"adminSecretName,omitempty"`

	// Secret of the cluster's certificate authority (its private key
	// included).
	// +optional
	CASecretName string `json:"caSecretName,omitempty"`

	// When the CA in use stops being valid; the operator rotates it before.
	// +optional
	CANotAfter *metav1.Time `json:"caNotAfter,omitempty"`

	// Where a rotation of the CA stands: empty when none is under way;
	// TrustingNewCA while members load a bundle with the old and the new
	// CA, ReissuingCertificates while they load certificates of the new CA,
	// DroppingOldCA while the old CA leaves the bundle.
	// +optional
	CARotation string `json:"caRotation,omitempty"`
}

// RaftCluster is a replicated key-value store of raftnode members run as a
// StatefulSet, whose Raft membership the operator keeps in step with
// spec.replicas.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:scope=Namespaced,shortName=raft,categories=all
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`,description="Desired voting members"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`,description="Ready voting members"
// +kubebuilder:printcolumn:name="Leader",type=string,JSONPath=`.status.leader`,description="Pod of the current leader"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,description="Summary of the cluster's state"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, no dots): it names the cluster's Services"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="metadata.name may be at most 52 characters: the StatefulSet of that name labels its pods with NAME-<revision hash>, a label value of at most 63 characters"
type RaftCluster struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Desired state of the cluster.
	// +kubebuilder:default={}
	// +optional
	Spec RaftClusterSpec `json:"spec,omitzero"`

	// Observed state of the cluster, written by the operator.
	// +optional
	Status RaftClusterStatus `json:"status,omitzero"`
}

// RaftClusterList is a list of RaftClusters.
// +kubebuilder:object:root=true
type RaftClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// The RaftClusters.
	Items []RaftCluster `json:"items"`
}
