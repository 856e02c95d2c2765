package plan

import (
	"fmt"
	"slices"
	"strings"
)

// leavers are the voters to remove: those whose ordinal is no longer wanted,
// and stale voters of a wanted ordinal whose pod runs another voter.
func (v *view) leavers() (ids []uint64, ordinals []int) {
	for _, id := range v.voterIDs {
		o := v.ordinalOf(id)
		if o < 0 {
			v.wait(CauseForeignVoter, "voter %x is not a pod of %s (named %q); it is left alone", id, v.obs.Name, v.raft.Members[id].Name)
			continue
		}
		cur, ok := v.currentID(o)
		if o >= v.obs.Desired || (ok && cur != id && v.voters[cur]) {
			ids, ordinals = append(ids, id), append(ordinals, o)
		}
	}
	return ids, ordinals
}

// scaleDown removes the leavers in one joint change, after moving
// leadership off them, and only when both halves of the joint configuration
// keep a healthy majority.
func (v *view) scaleDown() (Action, bool) {
	leaving, ordinals := v.leavers()
	if len(leaving) == 0 {
		return Action{}, false
	}
	var staying []uint64
	for _, id := range v.voterIDs {
		if !slices.Contains(leaving, id) {
			staying = append(staying, id)
		}
	}
	if why, ok := v.keepsMajority(v.voterIDs, staying); !ok {
		v.wait(CauseNoMajority, "cannot remove %s: %s", v.describeIDs(leaving), why)
		return Action{}, false
	}
	if leader := v.raft.LeaderID; slices.Contains(leaving, leader) {
		to, ok := v.transferTarget(staying)
		if !ok {
			v.wait(CauseNoTransferTarget, "leader %s must leave, but no staying voter is healthy to take over", v.describe(leader))
			return Action{}, false
		}
		return Action{Kind: TransferLeadership, TransferTo: to, Ordinals: []int{v.ordinalOf(to)},
			Reason: fmt.Sprintf("leader %s is leaving; transferring leadership to %s first", v.describe(leader), v.describe(to))}, true
	}
	return Action{Kind: RemoveVoters, Remove: leaving, Ordinals: ordinals,
		Reason: fmt.Sprintf("scaling down to %d: removing voters %s", v.obs.Desired, v.describeIDs(leaving))}, true
}

// transferTarget is the healthy staying voter with the highest match index
// (it needs the fewest entries to lead), lowest ordinal on ties.
func (v *view) transferTarget(staying []uint64) (uint64, bool) {
	var best uint64
	found := false
	for _, id := range staying {
		if !v.healthy(id) {
			continue
		}
		if !found || v.raft.Progress[id].MatchIndex > v.raft.Progress[best].MatchIndex ||
			(v.raft.Progress[id].MatchIndex == v.raft.Progress[best].MatchIndex && v.ordinalOf(id) < v.ordinalOf(best)) {
			best, found = id, true
		}
	}
	return best, found
}

// fitStatefulSet sets the StatefulSet's replicas to the floor: up to
// spec.replicas when growing, and down only as far as the configuration
// allows (never below the highest member ordinal + 1), so it shrinks only
// once the leavers' removal is committed.
func (v *view) fitStatefulSet() (Action, bool) {
	cur, want := v.obs.StatefulSet.Replicas, v.floor()
	switch {
	case cur < want:
		// A pod created on a claim that is being deleted hangs Pending and
		// holds the claim: let the deletion finish first.
		for o := cur; o < want; o++ {
			for _, c := range v.claims[o] {
				if c.Terminating {
					v.wait(CauseClaimDeleting, "claim %s is being deleted; raising the StatefulSet to %d after it is gone", c.Name, want)
					return Action{}, false
				}
			}
		}
		return Action{Kind: SetReplicas, Replicas: want, Reason: fmt.Sprintf("raising the StatefulSet from %d to %d replicas", cur, want)}, true
	case cur > want:
		if why, ok := v.leaveRecorded(); !ok {
			v.wait(CauseLeaveNotRecorded, "the leavers' pods %s..%s stay until every voter applied their removal: %s", v.podName(want), v.podName(cur-1), why)
			return Action{}, false
		}
		// A removed member's readiness fails, and the client Service stops
		// routing to its pod; deleted while still ready, the pod would
		// take new connections into the void until every node's proxy
		// has caught up.
		for o := want; o < cur; o++ {
			if p := v.pods[o]; p != nil && !p.Terminating && p.Ready {
				v.wait(CauseDraining, "%s left the configuration and stays until its readiness is withdrawn, so the client Service stops routing to it first", v.podName(o))
				return Action{}, false
			}
		}
		return Action{Kind: SetReplicas, Replicas: want, Reason: fmt.Sprintf("the leavers are out of the configuration; lowering the StatefulSet from %d to %d replicas", cur, want)}, true
	}
	return Action{}, false
}

// addLearner adds, one per pass, the member of a wanted pod that is not in
// the configuration yet: a new pod, or a pod that came back with a new id.
func (v *view) addLearner() (Action, bool) {
	for o := range v.obs.Desired {
		id, ok := v.currentID(o)
		if !ok || v.inConfig(id) || v.claimDeleting(o) {
			continue
		}
		m, _ := v.answered(o)
		if m.ClusterID != 0 && m.ClusterID != v.obs.ClusterID {
			continue // recycleRemoved handles it
		}
		if v.pods[o].AwaitingDNS {
			// The leader would look the name up at once and the cluster
			// DNS would remember it as missing.
			v.wait(CauseAwaitingDNS, "%s's DNS name is not published by the peer Service yet; adding its member after it is", v.podName(o))
			continue
		}
		a := Action{Kind: AddLearner, Ordinals: []int{o}, Pods: []string{v.podName(o)},
			Member: Member{ID: id, Name: v.podName(o), PeerAddress: m.PeerAddress, ClientAddress: m.ClientAddress}}
		if old := v.votersAt(o); len(old) > 0 {
			a.Reason = fmt.Sprintf("%s came back with new member %x (lost volume); adding it as a learner to replace voter %s",
				v.podName(o), id, hexIDs(old))
		} else {
			a.Reason = fmt.Sprintf("adding %s's member %x as a learner", v.podName(o), id)
		}
		return a, true
	}
	return Action{}, false
}

// votersAt are the voters whose ordinal is o.
func (v *view) votersAt(o int) []uint64 { return v.votersByOrdinal[o] }

func (v *view) hasLearnerAt(o int) bool { return len(v.learnersByOrdinal[o]) > 0 }

// promote makes voters, in one joint change, of the learners of every
// wanted ordinal that has no voter of its current member, removing in the
// same change the voters they replace. It waits until every wanted ordinal
// has its learner and every such learner has caught up, so a scale-up is one
// change, not one per pod.
func (v *view) promote() (Action, bool) {
	var promote, replaced []uint64
	var ordinals []int
	var blocked []Blocked
	for o := range v.obs.Desired {
		id, ok := v.currentID(o)
		switch {
		case !ok && (len(v.votersAt(o)) == 0 || v.hasLearnerAt(o)):
			// A wanted ordinal without a voter, or with a learner to promote
			// once its pod answers again.
			blocked = append(blocked, Blocked{v.podCause(o), v.podState(o)})
		case !ok || v.voters[id]:
		case v.learners[id]:
			promote, ordinals = append(promote, id), append(ordinals, o)
			for _, old := range v.votersAt(o) {
				if old != id {
					replaced = append(replaced, old)
				}
			}
		default:
			blocked = append(blocked, Blocked{CausePodNotReady, fmt.Sprintf("%s's member %x is not a learner yet", v.podName(o), id)})
		}
	}
	if len(promote) == 0 && len(blocked) == 0 {
		return Action{}, false
	}
	for _, id := range promote {
		switch lag := v.lag(id); {
		case !v.healthy(id):
			blocked = append(blocked, Blocked{v.memberCause(id), fmt.Sprintf("learner %s is not healthy: %s", v.describe(id), v.whyUnhealthy(id))})
		case lag > v.policy.MaxLearnerLag:
			blocked = append(blocked, Blocked{CauseLearnerCatchingUp, fmt.Sprintf("learner %s catching up: %d entries behind", v.describe(id), lag)})
		}
	}
	if len(blocked) > 0 {
		texts := make([]string, len(blocked))
		for i, b := range blocked {
			texts[i] = b.Text
		}
		v.wait(firstCause(blocked), "scaling to %d voters: %s", v.obs.Desired, strings.Join(texts, ", "))
		return Action{}, false
	}
	if slices.Contains(replaced, v.raft.LeaderID) {
		// Cannot be, as the leader's pod runs the leader; the status is stale.
		v.wait(CauseStaleStatus, "leader %s's pod runs another member; waiting for a new leader", v.describe(v.raft.LeaderID))
		return Action{}, false
	}
	incoming := slices.Clone(promote)
	for _, id := range v.voterIDs {
		if !slices.Contains(replaced, id) {
			incoming = append(incoming, id)
		}
	}
	slices.Sort(incoming)
	if why, ok := v.keepsMajority(v.voterIDs, incoming); !ok {
		v.wait(CauseNoMajority, "cannot promote %s: %s", v.describeIDs(promote), why)
		return Action{}, false
	}
	a := Action{Kind: PromoteLearners, Promote: promote, Ordinals: ordinals,
		Reason: fmt.Sprintf("learners caught up; promoting %s in one joint change", v.describeIDs(promote))}
	if len(replaced) > 0 {
		slices.Sort(replaced)
		a.Kind, a.Remove = ReplaceMembers, replaced
		a.Reason = fmt.Sprintf("learners caught up; promoting %s and removing the voters they replace, %s, in one joint change",
			v.describeIDs(promote), v.describeIDs(replaced))
	}
	return a, true
}

// deleteClaims applies retention Delete to the claims of members that left:
// beyond the StatefulSet and the spec, without a pod, and of no member of
// the configuration.
func (v *view) deleteClaims() (Action, bool) {
	if v.obs.Retention != RetentionDelete {
		return Action{}, false
	}
	inUse := map[int]bool{}
	for _, id := range v.configIDs() {
		inUse[v.ordinalOf(id)] = true
	}
	cut := max(v.obs.StatefulSet.Replicas, v.obs.Desired)
	var a Action
	for _, c := range v.obs.Claims {
		switch {
		case c.Ordinal < cut || c.Terminating || inUse[c.Ordinal]:
		case v.pods[c.Ordinal] != nil:
			v.wait(CauseClaimDeleting, "claim %s is deleted once %s is gone", c.Name, v.podName(c.Ordinal))
		default:
			a.Claims, a.Ordinals = append(a.Claims, c.Name), append(a.Ordinals, c.Ordinal)
		}
	}
	if len(a.Claims) == 0 {
		return Action{}, false
	}
	if why, ok := v.leaveRecorded(); !ok {
		v.wait(CauseLeaveNotRecorded, "claims %s stay until every voter applied their members' removal: %s", strings.Join(a.Claims, ", "), why)
		return Action{}, false
	}
	slices.Sort(a.Claims)
	slices.Sort(a.Ordinals)
	a.Kind = DeleteClaims
	a.Reason = fmt.Sprintf("retention Delete: deleting the claims of members that left: %s", strings.Join(a.Claims, ", "))
	return a, true
}
