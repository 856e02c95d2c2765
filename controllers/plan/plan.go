package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultMaxLearnerLag is how many committed entries a learner may lack and
// still be promoted. Small enough that a new voter does not stall commits
// while it fetches the rest; large enough that a busy cluster's learner,
// which is never exactly at the commit index, qualifies.
const DefaultMaxLearnerLag = 100

// MaxReplicas is the largest spec.replicas the planner accepts.
const MaxReplicas = 9

// Policy holds the planner's tunables.
type Policy struct {
	// MaxLearnerLag: a learner is caught up when the leader's commit index
	// minus its match index is at most this.
	MaxLearnerLag uint64
}

// DefaultPolicy is the Policy Next uses.
var DefaultPolicy = Policy{MaxLearnerLag: DefaultMaxLearnerLag}

// Next returns the one action to take for obs under DefaultPolicy.
func Next(obs Observation) Action { return DefaultPolicy.Next(obs) }

// step looks at the view and either returns the action to take or lets the
// next step look. A step that is blocked but does not forbid what follows
// records why with view.wait and returns false.
type step func(*view) (Action, bool)

// steps is the planner, in priority order; see the package doc.
var steps = []step{
	(*view).checkSpec,
	(*view).refuseRetained,
	(*view).ensureStatefulSet,
	(*view).replaceDown,
	(*view).bootstrap,
	(*view).forceNewCluster,
	(*view).needLeader,
	(*view).transferInProgress,
	(*view).leaveJoint,
	(*view).recycleRemoved,
	(*view).removeStuckLearners,
	(*view).scaleDown,
	(*view).fitStatefulSet,
	(*view).addLearner,
	(*view).promote,
	(*view).rollingRestart,
	(*view).deleteClaims,
	(*view).unhealthyVoters,
}

// Next returns the one action to take for obs. It reads nothing but obs and
// keeps nothing: the same observation always gives the same action.
func (p Policy) Next(obs Observation) Action {
	v := newView(obs, p)
	for _, s := range steps {
		if a, ok := s(v); ok {
			return a
		}
	}
	if len(v.waits) > 0 {
		texts := make([]string, len(v.waits))
		for i, b := range v.waits {
			texts[i] = b.Text
		}
		return Action{Kind: Wait, Reason: strings.Join(texts, "; "), Cause: firstCause(v.waits), Blocked: v.waits}
	}
	return Action{Kind: Steady, Reason: fmt.Sprintf("%d voters on pods 0..%d, as specified", obs.Desired, obs.Desired-1)}
}

func (v *view) checkSpec() (Action, bool) {
	if d := v.obs.Desired; d < 1 || d > MaxReplicas {
		return waitAction(CauseSpecInvalid, "spec.replicas %d is outside 1..%d", d, MaxReplicas)
	}
	return Action{}, false
}

// floor is the fewest StatefulSet replicas that keeps a pod for every
// member of the configuration and every wanted ordinal. Learners count too:
// a promotion may be in flight that the leader has not applied yet.
func (v *view) floor() int {
	return max(v.obs.Desired, v.highestOrdinal(v.configIDs())+1)
}

func (v *view) ensureStatefulSet() (Action, bool) {
	if v.obs.StatefulSet != nil {
		return Action{}, false
	}
	switch {
	case !v.obs.Bootstrapped() && v.obs.Adopting:
		n := max(1, v.claimFloor())
		return Action{Kind: SetReplicas, Replicas: n,
			Reason: fmt.Sprintf("creating the StatefulSet with a pod for every claim found (%d), none founding a cluster: the claims may hold an earlier one, to adopt", n)}, true
	case !v.obs.Bootstrapped():
		return Action{Kind: SetReplicas, Replicas: 1, Reason: "creating the StatefulSet with pod 0 alone, to bootstrap the cluster"}, true
	case v.raft == nil:
		// Without a leader the voters are unknown; every claim may hold one.
		n := max(v.obs.Desired, v.claimFloor())
		return Action{Kind: SetReplicas, Replicas: n, Reason: fmt.Sprintf("re-creating the StatefulSet with a pod for every claim (%d)", n)}, true
	default:
		n := v.floor()
		return Action{Kind: SetReplicas, Replicas: n, Reason: fmt.Sprintf("re-creating the StatefulSet with a pod for every member (%d)", n)}, true
	}
}

// claimFloor is the highest ordinal of any claim plus one: the replicas that
// give every claim its pod.
func (v *view) claimFloor() int {
	n := 0
	for o := range v.claims {
		n = max(n, o+1)
	}
	return n
}

// refuseRetained: a cluster created with spec.bootstrap Fresh over claims of
// its name (kept from an earlier cluster of that name) starts nothing: the
// user expected no data, and the operator never deletes data on its own.
func (v *view) refuseRetained() (Action, bool) {
	if v.obs.Bootstrapped() || v.obs.StatefulSet != nil || !v.obs.FreshStart || len(v.obs.Claims) == 0 {
		return Action{}, false
	}
	names := make([]string, len(v.obs.Claims))
	for i, c := range v.obs.Claims {
		names[i] = c.Name
	}
	slices.Sort(names)
	return waitAction(CauseRetainedData, "spec.bootstrap is Fresh, but claims of an earlier cluster of this name exist: %s", strings.Join(names, ", "))
}

// bootstrap: until the cluster id is recorded, the cluster is pod 0 alone.
// The StatefulSet is created with one replica (ensureStatefulSet) but never
// lowered here: replicas above one before bootstrap mean the status was lost
// and voters may run there, while pods other than 0 never bootstrap.
func (v *view) bootstrap() (Action, bool) {
	if v.obs.Bootstrapped() {
		return Action{}, false
	}
	if (v.raft == nil || v.raft.ClusterID == 0) && v.obs.Adopting {
		return v.adopt()
	}
	if v.raft == nil || v.raft.ClusterID == 0 {
		if v.obs.StatefulSet.Replicas < 1 {
			return Action{Kind: SetReplicas, Replicas: 1, Reason: "not bootstrapped yet: pod 0 must found the cluster"}, true
		}
		return waitAction(CauseBootstrapping, "waiting for %s to bootstrap a one-member cluster: %s", v.podName(0), v.podState(0))
	}
	a := Action{Kind: FinishBootstrap, ClusterID: v.raft.ClusterID}
	if len(v.raft.Voters) == 1 && !v.raft.Joint() {
		a.Reason = fmt.Sprintf("%s leads the one-voter cluster %x; switching pods to join mode", v.describe(v.raft.LeaderID), v.raft.ClusterID)
	} else {
		// The status was lost after bootstrap: adopt what the leader says.
		a.Reason = fmt.Sprintf("leader %s answers for cluster %x with %d voters; recording it and switching pods to join mode",
			v.describe(v.raft.LeaderID), v.raft.ClusterID, len(v.raft.Voters))
	}
	return a, true
}

// adopt waits, before any cluster id is recorded and with no pod allowed to
// found one, for the cluster the pods' volumes hold to elect a leader
// (bootstrap then records it). When every pod answered and none holds a
// cluster, the claims were empty after all: pod 0 founds one.
func (v *view) adopt() (Action, bool) {
	if n := v.claimFloor(); v.obs.StatefulSet.Replicas < n {
		return Action{Kind: SetReplicas, Replicas: n, Reason: fmt.Sprintf("a pod for every claim found (%d), to find the cluster they hold", n)}, true
	}
	var held []string
	var waiting []string
	for o := range max(1, v.obs.StatefulSet.Replicas) {
		m, ok := v.answered(o)
		switch {
		case !ok:
			waiting = append(waiting, v.podState(o))
		case m.ClusterID != 0:
			held = append(held, fmt.Sprintf("%s holds member %x of cluster %x", v.podName(o), m.ID, m.ClusterID))
		}
	}
	switch {
	case len(held) > 0:
		return waitAction(CauseAdopting, "adopting the cluster found on the claims (%s): waiting for its voters to elect a leader%s",
			strings.Join(held, ", "), andWaiting(waiting))
	case len(waiting) > 0:
		return waitAction(CausePodNotReady, "looking for a cluster on the claims found: %s", strings.Join(waiting, ", "))
	}
	return Action{Kind: StartBootstrap, Pods: []string{v.podName(0)}, Ordinals: []int{0},
		Reason: fmt.Sprintf("no pod holds a cluster (%d answered, every one empty); restarting %s to found one", v.obs.StatefulSet.Replicas, v.podName(0))}, true
}

func andWaiting(waiting []string) string {
	if len(waiting) == 0 {
		return ""
	}
	return "; " + strings.Join(waiting, ", ")
}

// forceNewCluster: asked by the user, with no leader, the most up-to-date
// surviving voter (highest last log term, then index; lowest ordinal on a
// tie) becomes the only voter of a new configuration. With a leader there
// is nothing to force (the operator drops the request).
func (v *view) forceNewCluster() (Action, bool) {
	if !v.obs.ForceNewCluster || v.raft != nil {
		return Action{}, false
	}
	best := -1
	for o := range v.obs.StatefulSet.Replicas {
		m, ok := v.answered(o)
		if !ok || m.Removed || m.ClusterID != v.obs.ClusterID || !slices.Contains(m.Voters, m.ID) {
			continue
		}
		if best < 0 {
			best = o
			continue
		}
		b := v.pods[best].Member
		if m.LastLogTerm > b.LastLogTerm || (m.LastLogTerm == b.LastLogTerm && m.LastLogIndex > b.LastLogIndex) {
			best = o
		}
	}
	if best < 0 {
		return waitAction(CauseNoSurvivor, "%s asks for a new configuration, but no pod answers as a voter of cluster %x",
			"the raftkube.io/force-new-cluster annotation", v.obs.ClusterID)
	}
	m := v.pods[best].Member
	return Action{Kind: ForceNewCluster, Pods: []string{v.podName(best)}, Ordinals: []int{best},
		Member: Member{ID: m.ID, Name: v.podName(best), PeerAddress: m.PeerAddress, ClientAddress: m.ClientAddress},
		Reason: fmt.Sprintf("disaster recovery asked for: forcing a configuration of %x (%s) alone, the most up-to-date voter that answers (last entry term %d, index %d)",
			m.ID, v.podName(best), m.LastLogTerm, m.LastLogIndex)}, true
}

// quorumLost: with no leader, every pod of the StatefulSet answers, and of
// the voters a surviving member of this cluster knows, fewer than a
// majority still run on any pod. Their volumes are gone (the pods came back
// as new members): no election can ever succeed.
func (v *view) quorumLost() (string, bool) {
	var known []uint64
	for o := range v.obs.StatefulSet.Replicas {
		m, ok := v.answered(o)
		if !ok {
			return "", false // it may hold a voter
		}
		if m.ClusterID == v.obs.ClusterID && !m.Removed && len(m.Voters) > len(known) {
			known = m.Voters
		}
	}
	if len(known) == 0 {
		return "", false
	}
	var running []string
	for _, id := range known {
		// Every pod answered: a voter still runs where a pod says it does.
		if v.findOrdinal(id) >= 0 {
			running = append(running, v.describe(id))
		}
	}
	if len(running) >= Majority(len(known)) {
		return "", false
	}
	return fmt.Sprintf("of the %d voters %s, only %d still run (%s): the others' volumes are gone",
		len(known), hexIDs(known), len(running), strings.Join(running, ", ")), true
}

func (v *view) needLeader() (Action, bool) {
	if v.raft == nil {
		var why []string
		var cannotRun []Blocked
		for o := range v.obs.StatefulSet.Replicas {
			if s, ok := v.podUsable(o); !ok {
				why = append(why, s)
				if v.podCause(o) == CausePodCannotRun {
					cannotRun = append(cannotRun, Blocked{Cause: CausePodCannotRun, Text: s})
				}
			}
		}
		if len(why) == 0 {
			why = append(why, "every pod is ready")
		}
		if lost, ok := v.quorumLost(); ok {
			return waitAction(CauseQuorumLost, "no leader can be elected: %s", lost)
		}
		a, ok := waitAction(CauseNoLeader, "no leader answered: %s", strings.Join(why, ", "))
		a.Blocked = append(a.Blocked, cannotRun...)
		return a, ok
	}
	if v.raft.ClusterID != v.obs.ClusterID {
		return waitAction(CauseClusterMismatch, "the leader answers for cluster %x, but status.clusterID is %x: correct status.clusterID, or delete the claims that hold cluster %x", v.raft.ClusterID, v.obs.ClusterID, v.raft.ClusterID)
	}
	return Action{}, false
}

func (v *view) transferInProgress() (Action, bool) {
	if t := v.raft.LeadTransferee; t != 0 {
		return waitAction(CauseTransferring, "leadership transfer from %s to %s in progress", v.describe(v.raft.LeaderID), v.describe(t))
	}
	return Action{}, false
}

// leaveJoint: a joint configuration is finished before anything else.
func (v *view) leaveJoint() (Action, bool) {
	if !v.raft.Joint() {
		return Action{}, false
	}
	return Action{Kind: LeaveJoint, Reason: fmt.Sprintf("the configuration is joint (%s -> %s); leaving it",
		v.describeIDs(v.raft.OutgoingVoters), v.describeIDs(v.raft.Voters))}, true
}

// recycleRemoved re-creates, on an empty volume, a wanted pod whose data is
// a removed member (or a member of another cluster): otherwise it would
// stay a removed member forever.
func (v *view) recycleRemoved() (Action, bool) {
	for _, o := range slices.Sorted(maps.Keys(v.pods)) {
		if o >= v.obs.Desired {
			continue
		}
		why, ok := v.recycleReason(o)
		if !ok {
			continue
		}
		a := Action{Kind: RecyclePod, Pods: []string{v.podName(o)}, Ordinals: []int{o},
			Reason: why + "; its ordinal is wanted, so its pod and volume are re-created as a new member"}
		for _, c := range v.claims[o] {
			a.Claims = append(a.Claims, c.Name)
		}
		return a, true
	}
	return Action{}, false
}

// claimDeleting reports whether pod o has claims and all are being deleted.
func (v *view) claimDeleting(o int) bool {
	for _, c := range v.claims[o] {
		if !c.Terminating {
			return false
		}
	}
	return len(v.claims[o]) > 0
}

func (v *view) recycleReason(o int) (string, bool) {
	p := v.pods[o]
	if p.Terminating {
		return "", false
	}
	m, answered := v.answered(o)
	if !answered {
		return "", false // a pod that never started on a claim being deleted: see replaceDown
	}
	var why string
	switch {
	case v.isRemoved(m):
		why = fmt.Sprintf("member %x of %s was removed from the cluster", m.ID, v.podName(o))
	case m.ClusterID != 0 && m.ClusterID != v.obs.ClusterID:
		why = fmt.Sprintf("%s holds member %x of cluster %x, not of %x", v.podName(o), m.ID, m.ClusterID, v.obs.ClusterID)
	case v.claimDeleting(o) && !v.inConfig(m.ID):
		// A recycle interrupted between the claim and the pod: finish it
		// rather than add a member whose data is already going.
		why = fmt.Sprintf("the claim of %s (member %x) is being deleted", v.podName(o), m.ID)
	default:
		return "", false
	}
	if v.inConfig(m.ID) {
		// Never delete a member's data; the pod or the leader is confused.
		v.wait(CauseMemberConflict, "%s, yet it is in the configuration", why)
		return "", false
	}
	if leave, ok := v.leaveRecorded(); !ok && v.isRemoved(m) {
		v.wait(CauseLeaveNotRecorded, "%s; its data stays until every voter applied its removal: %s", why, leave)
		return "", false
	}
	return why, true
}

// removeStuckLearners removes learners that can never be promoted: their
// ordinal is no longer wanted (its pod goes, or is gone), or their pod now
// runs another member (lost volume). A learner of a wanted ordinal whose pod
// is merely missing stays: the StatefulSet brings the pod back on the same
// volume.
func (v *view) removeStuckLearners() (Action, bool) {
	var ids []uint64
	var ordinals []int
	var why []string
	for _, id := range v.learnerIDs {
		o := v.ordinalOf(id)
		var reason string
		m, answered := v.answered(o)
		switch {
		case o < 0:
			continue // not a pod of ours: someone else's learner
		case o >= v.obs.Desired:
			reason = fmt.Sprintf("%s is not wanted (spec.replicas %d)", v.podName(o), v.obs.Desired)
		case answered && m.ID != id:
			reason = fmt.Sprintf("%s now runs member %x", v.podName(o), m.ID)
		default:
			continue
		}
		ids, ordinals = append(ids, id), append(ordinals, o)
		why = append(why, fmt.Sprintf("learner %x: %s", id, reason))
	}
	if len(ids) == 0 {
		return Action{}, false
	}
	return Action{Kind: RemoveLearners, Remove: ids, Ordinals: ordinals, Reason: "removing stuck learners: " + strings.Join(why, "; ")}, true
}

// leaveRecorded says which voter has not applied the leader's
// configuration yet, or that all have. A member that left keeps its pod and
// claim until then: a voter that restarts before applying its removal comes
// back in the configuration that still counts the leaver, and could need it
// to elect a leader.
func (v *view) leaveRecorded() (string, bool) {
	for _, id := range v.voterIDs {
		o := v.ordinalOf(id)
		m, ok := v.answered(o)
		switch {
		case ok && m.ID != id:
			// Its pod came back with a new member: its data, old
			// configuration included, is gone and cannot come back.
		case !ok:
			return fmt.Sprintf("voter %s did not answer", v.describe(id)), false
		case len(m.OutgoingVoters) > 0 || !sameIDs(m.Voters, v.voterIDs):
			return fmt.Sprintf("voter %s has not applied the configuration without the leavers yet", v.describe(id)), false
		}
	}
	return "", true
}

func sameIDs(a, b []uint64) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// unhealthyVoters keeps a cluster with a voter down from being Steady:
// nothing to do about it here, but it is not as specified either.
func (v *view) unhealthyVoters() (Action, bool) {
	for _, id := range v.voterIDs {
		if v.ordinalOf(id) >= 0 && !v.healthy(id) { // no ordinal: leavers said so
			v.wait(v.memberCause(id), "voter %s is not healthy: %s", v.describe(id), v.whyUnhealthy(id))
		}
	}
	return Action{}, false
}
