package plan

import (
	"fmt"
	"slices"
)

// outdated are the wanted ordinals (below spec.replicas) whose pod exists,
// is not terminating and was created from an older pod template than the
// StatefulSet's update revision, highest ordinal first. A pod of unknown
// revision is not outdated: the StatefulSet labels every pod it creates, so
// an unlabelled pod is not its to judge, and an unknown update revision
// makes no pod outdated.
func (v *view) outdated() []int {
	sts := v.obs.StatefulSet
	if sts == nil || sts.UpdateRevision == "" {
		return nil
	}
	var out []int
	for o := v.obs.Desired - 1; o >= 0; o-- {
		if p := v.pods[o]; p != nil && !p.Terminating && p.Revision != "" && p.Revision != sts.UpdateRevision {
			out = append(out, o)
		}
	}
	return out
}

// settled says why the configuration is not as specified, or that it is:
// not joint, no learners, no transfer under way, the StatefulSet at
// spec.replicas, and exactly one voter for each wanted ordinal. A rolling
// restart runs only then, so it never overlaps a membership change.
func (v *view) settled() (string, bool) {
	r := v.raft
	switch {
	case r.Joint():
		return "the configuration is joint", false
	case len(r.Learners) > 0:
		return fmt.Sprintf("learners %s are not promoted yet", v.describeIDs(v.learnerIDs)), false
	case r.LeadTransferee != 0:
		return "a leadership transfer is under way", false
	case v.obs.StatefulSet.Replicas != v.obs.Desired:
		return fmt.Sprintf("the StatefulSet has %d replicas, not %d", v.obs.StatefulSet.Replicas, v.obs.Desired), false
	case len(v.voterIDs) != v.obs.Desired:
		return fmt.Sprintf("%d voters, not %d", len(v.voterIDs), v.obs.Desired), false
	}
	for o := range v.obs.Desired {
		if n := len(v.votersAt(o)); n != 1 {
			return fmt.Sprintf("%s has %d voters, not one", v.podName(o), n), false
		}
	}
	return "", true
}

// Upgrading reports whether obs is in a rolling restart: the configuration
// is as specified and a wanted pod still runs an older pod template, or the
// StatefulSet has not seen every pod of the new one ready yet.
func Upgrading(obs Observation) bool {
	if obs.Raft == nil || obs.StatefulSet == nil {
		return false
	}
	v := newView(obs, DefaultPolicy)
	_, ok := v.settled()
	sts := obs.StatefulSet
	// Until the last restarted pod is ready the StatefulSet keeps its
	// current revision: waiting for that pod is still the upgrade.
	return ok && (len(v.outdated()) > 0 || (sts.CurrentRevision != "" && sts.CurrentRevision != sts.UpdateRevision))
}

// rollingRestart deletes, one pod per pass, the wanted pods created from an
// older pod template, so the StatefulSet (strategy OnDelete) re-creates them
// from the new one on the same claim: the member keeps its id and data.
//
// Only in a settled configuration, and only when every wanted pod is ready
// and every voter healthy and caught up: the pod restarted last is back
// before the next goes. Followers first, highest ordinal first; the
// leader's pod last, after leadership moved to the healthy follower with
// the highest match index, so no restart costs an election but the one the
// transfer makes. A restart never leaves fewer than a healthy majority,
// except that one or two voters have no majority to keep: their restarts
// go ahead, one at a time, and the reason says the cluster is unavailable
// meanwhile.
func (v *view) rollingRestart() (Action, bool) {
	stale := v.outdated()
	if len(stale) == 0 {
		return Action{}, false
	}
	rev := v.obs.StatefulSet.UpdateRevision
	if why, ok := v.settled(); !ok {
		v.wait(CauseNotSettled, "rolling restart to revision %s waits for the configuration to settle: %s", rev, why)
		return Action{}, false
	}
	for o := range v.obs.Desired {
		if s, ok := v.podUsable(o); !ok {
			v.wait(v.podCause(o), "rolling restart to revision %s waits for every pod: %s", rev, s)
			return Action{}, false
		}
	}
	for _, id := range v.voterIDs {
		if !v.healthy(id) {
			v.wait(v.memberCause(id), "rolling restart to revision %s waits for voter %s: %s", rev, v.describe(id), v.whyUnhealthy(id))
			return Action{}, false
		}
		if lag := v.lag(id); lag > v.policy.MaxLearnerLag {
			v.wait(CauseLearnerCatchingUp, "rolling restart to revision %s waits for voter %s, %d entries behind", rev, v.describe(id), lag)
			return Action{}, false
		}
	}
	leader := v.raft.LeaderID
	for _, o := range stale {
		if v.votersAt(o)[0] != leader {
			return v.restart(o, len(stale), "follower")
		}
	}
	// Only the leader's pod is left.
	if len(v.voterIDs) == 1 {
		return v.restart(v.ordinalOf(leader), len(stale), "the only voter")
	}
	others := slices.DeleteFunc(slices.Clone(v.voterIDs), func(id uint64) bool { return id == leader })
	to, ok := v.transferTarget(others)
	if !ok {
		v.wait(CauseNoTransferTarget, "rolling restart to revision %s: leader %s is last, but no follower is healthy to take over", rev, v.describe(leader))
		return Action{}, false
	}
	o := v.ordinalOf(leader)
	return Action{Kind: TransferLeadership, TransferTo: to, Ordinals: []int{v.ordinalOf(to)},
		Reason: fmt.Sprintf("rolling restart: only leader %s is left on revision %s; transferring leadership to %s before restarting %s on revision %s",
			v.describe(leader), v.pods[o].Revision, v.describe(to), v.podName(o), rev)}, true
}

// restart is the RestartPod of pod o; stale is how many pods are outdated.
func (v *view) restart(o, stale int, role string) (Action, bool) {
	rev := v.obs.StatefulSet.UpdateRevision
	reason := fmt.Sprintf("rolling restart: restarting %s, %s, from revision %s to %s (%d of %d pods outdated)",
		v.podName(o), role, v.pods[o].Revision, rev, stale, v.obs.Desired)
	// Every voter is healthy (rollingRestart checked), so the others keep a
	// healthy majority through the restart, unless there are only one or
	// two voters: then no restart can, and one at a time is the best there is.
	if n := len(v.voterIDs); n-1 < Majority(n) {
		reason += fmt.Sprintf("; with %d voters none can be restarted without losing the majority: the cluster is unavailable until %s is back", n, v.podName(o))
	}
	return Action{Kind: RestartPod, Pods: []string{v.podName(o)}, Ordinals: []int{o}, Reason: reason}, true
}

// replaceDown deletes, one per pass, a pod that runs no member and was
// created from an older pod template than the StatefulSet's update
// revision, so the StatefulSet re-creates it from the current one on the
// same claim. Such a pod cannot run its template (image pull failure,
// unschedulable, crash loop) or has not started yet: its member is down
// either way, so replacing it costs no availability, whatever else is
// under way. Waiting for it to become healthy first would wait forever: a
// bad template change could not be taken back, not even before bootstrap
// or while no leader is elected. Pods of every ordinal the StatefulSet
// keeps count, not only the wanted ones: a leaving voter must run to leave.
func (v *view) replaceDown() (Action, bool) {
	sts := v.obs.StatefulSet
	for o := range max(sts.Replicas, v.obs.Desired) {
		// A pod re-created on a claim being deleted never starts and holds
		// the claim forever; it runs no member and the claim's data goes
		// either way. Not only with a leader: when members lose their
		// volumes, this is how their pods come back.
		if p := v.pods[o]; p != nil && !p.Terminating && p.Pending && p.Member == nil && v.claimDeleting(o) {
			a := Action{Kind: RecyclePod, Pods: []string{p.Name}, Ordinals: []int{o},
				Reason: fmt.Sprintf("%s was re-created on its claim while the claim is being deleted; deleting it so it comes back on a new claim", p.Name)}
			for _, c := range v.claims[o] {
				a.Claims = append(a.Claims, c.Name)
			}
			return a, true
		}
	}
	if sts.UpdateRevision == "" {
		return Action{}, false
	}
	for o := range max(sts.Replicas, v.obs.Desired) {
		p := v.pods[o]
		if p == nil || p.Terminating || p.Running || p.Revision == "" || p.Revision == sts.UpdateRevision {
			continue
		}
		why := "it has not started"
		if p.CannotRun != "" {
			why = "it cannot run: " + p.CannotRun
		}
		return Action{Kind: RestartPod, Pods: []string{p.Name}, Ordinals: []int{o},
			Reason: fmt.Sprintf("replacing %s, which runs no member on its revision %s (%s), with revision %s at once: it is down either way",
				p.Name, p.Revision, why, sts.UpdateRevision)}, true
	}
	return Action{}, false
}
