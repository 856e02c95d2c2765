package plan

// Retention says what happens to the PersistentVolumeClaim of a member that
// left the cluster on scale-down. It mirrors the RaftCluster spec field.
type Retention string

const (
	// RetentionDelete deletes the claim once its member has left the
	// configuration and its pod is gone, so a later scale-up never starts a
	// member on a stale log.
	RetentionDelete Retention = "Delete"
	// RetentionRetain keeps the claim. A later scale-up then finds a removed
	// member on it, which the planner recycles.
	RetentionRetain Retention = "Retain"
)

// Observation is everything one reconcile pass saw, gathered before planning.
// The planner keeps nothing between passes: the next pass builds a new
// Observation from the cluster, so a manager restart between two passes is
// indistinguishable from no restart.
type Observation struct {
	// Name is the RaftCluster's name. Pods are named Name-ORDINAL, and a
	// member's ordinal is read from its name in the configuration.
	Name string
	// Desired is spec.replicas (1..9).
	Desired int
	// Retention is the claim policy on scale-down.
	Retention Retention
	// ClusterID is the cluster id the operator recorded in status after
	// bootstrap; 0 until then. Non-zero means bootstrapped: pods start in
	// join mode, never in bootstrap mode.
	ClusterID uint64
	// Adopting is set while the cluster id is not recorded and no pod may
	// found a cluster (the bootstrap ConfigMap names none): claims existed
	// when the cluster was created, or the status was lost. The pods'
	// volumes may hold an earlier cluster, which is adopted, never founded
	// over.
	Adopting bool
	// ForceNewCluster is the user's disaster-recovery request (the
	// raftkube.io/force-new-cluster annotation naming this cluster): with no
	// leader, the most up-to-date surviving voter is made the only one.
	ForceNewCluster bool
	// FreshStart is spec.bootstrap Fresh: the user expects no earlier data,
	// so claims found before the StatefulSet exists are refused, not
	// adopted.
	FreshStart bool
	// StatefulSet is nil when the StatefulSet does not exist.
	StatefulSet *StatefulSet
	// Pods are the StatefulSet's existing pods, in any order.
	Pods []Pod
	// Claims are the cluster's existing data PersistentVolumeClaims.
	Claims []Claim
	// Raft is the leader's view of the configuration; nil when no leader
	// answered its admin Status.
	Raft *RaftStatus
}

// Bootstrapped reports whether the operator recorded the cluster id.
func (o Observation) Bootstrapped() bool { return o.ClusterID != 0 }

// StatefulSet is what the planner needs of the StatefulSet.
type StatefulSet struct {
	// Replicas is spec.replicas of the StatefulSet (not the pods that run).
	Replicas int
	// CurrentRevision is status.currentRevision: the StatefulSet controller
	// sets it to UpdateRevision once every pod runs that revision and is
	// ready, so the two differ for the whole of a rolling restart,
	// including the wait for the last restarted pod.
	CurrentRevision string
	// UpdateRevision is status.updateRevision: the revision of the current
	// pod template, which the StatefulSet gives the pods it creates. Empty
	// until the StatefulSet controller reported it; then no pod counts as
	// outdated.
	UpdateRevision string
}

// Pod is one pod of the StatefulSet.
type Pod struct {
	// Ordinal is the pod's StatefulSet ordinal; Name is NAME-ORDINAL.
	Ordinal int
	Name    string
	// Terminating is set once the pod has a deletion timestamp.
	Terminating bool
	// Pending is the pod phase Pending: its containers never started (for
	// instance because its claim is being deleted).
	Pending bool
	// Running is the pod phase Running with its container started.
	Running bool
	// Ready is the pod's readiness: its /readyz says it is in the
	// configuration, knows a leader and is caught up.
	Ready bool
	// AwaitingDNS is set while the pod's address is not yet published by
	// its cluster's headless peer Service, so its DNS name does not resolve
	// yet. Members reach each other by those names, and a name looked up
	// before it exists is cached as missing by the cluster's DNS (30 s with
	// kubeadm's CoreDNS settings): a learner added that early is not
	// reached for that long.
	AwaitingDNS bool
	// CannotRun, when set, says why the pod's container cannot start and
	// will not without a change: an image that cannot be pulled, a pod no
	// node can take, a container in a crash loop. Empty while it merely
	// starts.
	CannotRun string
	// Revision is the pod template revision the pod was created from (its
	// controller-revision-hash label); empty when unknown. A pod whose
	// revision differs from the StatefulSet's UpdateRevision is outdated:
	// with the OnDelete strategy only deleting it applies the new template.
	Revision string
	// Member is what the pod's own admin Status said; nil when it did not
	// answer.
	Member *MemberStatus
}

// MemberStatus is a pod's own answer to Status.
type MemberStatus struct {
	// ID is the member id the node made when it first started on an empty
	// data dir. A pod that lost its volume answers with a new id.
	ID uint64
	// ClusterID is 0 until the node joined (or founded) a cluster.
	ClusterID uint64
	// Removed is set once the node learned it was removed from the cluster;
	// it then serves nothing but Status, forever.
	Removed bool
	// PeerAddress and ClientAddress are where the member is reached; they
	// are passed on when the member is added.
	PeerAddress   string
	ClientAddress string
	// Voters and OutgoingVoters are the configuration this member has
	// applied, which may lag behind the leader's.
	Voters, OutgoingVoters []uint64
	// LastLogTerm and LastLogIndex are the last entry of the member's log:
	// the highest pair is the most up-to-date member.
	LastLogTerm, LastLogIndex uint64
}

// Claim is one data PersistentVolumeClaim of the StatefulSet.
type Claim struct {
	// Ordinal is the ordinal of the pod that mounts the claim; Name is the
	// claim's name (TEMPLATE-NAME-ORDINAL), which actions carry.
	Ordinal int
	Name    string
	// Terminating is set once the claim has a deletion timestamp. A claim
	// stays terminating while a pod uses it (pvc-protection).
	Terminating bool
}

// RaftStatus is the leader's admin Status: the configuration in force
// (applied, hence committed) and the leader's replication progress.
//
// Invariant: OutgoingVoters and LearnersNext are empty unless the
// configuration is joint.
type RaftStatus struct {
	// ClusterID is the id made at bootstrap, carried by every member.
	ClusterID uint64
	// LeaderID is the member that answered, as leader.
	LeaderID uint64
	// Voters is the incoming (or only) majority config.
	Voters []uint64
	// OutgoingVoters is non-empty while the configuration is joint.
	OutgoingVoters []uint64
	// Learners replicate but do not vote.
	Learners []uint64
	// LearnersNext become learners when the joint configuration is left.
	LearnersNext []uint64
	// Members is what the cluster knows of every id above.
	Members map[uint64]Member
	// Removed are the ids ever removed; an id is never reused.
	Removed []uint64
	// Progress is the leader's view of each member, by id.
	Progress map[uint64]Progress
	// CommitIndex is the leader's commit index.
	CommitIndex uint64
	// LeadTransferee is non-zero while a leadership transfer is in progress.
	LeadTransferee uint64
}

// Joint reports whether the configuration is joint.
func (r *RaftStatus) Joint() bool { return len(r.OutgoingVoters) > 0 || len(r.LearnersNext) > 0 }

// Member is a member's identity as replicated in the configuration.
type Member struct {
	// ID is the member id.
	ID uint64
	// Name is the pod name, NAME-ORDINAL.
	Name string
	// PeerAddress and ClientAddress are where the member is reached.
	PeerAddress   string
	ClientAddress string
}

// Progress is the leader's view of one member's replication.
type Progress struct {
	// MatchIndex is the highest log index known to be replicated there.
	MatchIndex uint64
	// RecentActive is set when the member was heard from within the last
	// election timeout.
	RecentActive bool
}
