package plan

// MinAvailable is the PodDisruptionBudget's minAvailable for the cluster as
// observed: a majority of the current voters (Majority(voters) outside joint
// consensus), plus every pod not known to run a voter. ok is false when no
// leader answered, so the voters are unknown and the budget should be left
// as it is.
//
// The budget is recomputed from the configuration rather than fixed from
// spec.replicas: a fixed number lets a drain re-base on a shrunken or
// growing cluster and evict a quorum. Other pods are added because the
// budget counts every ready pod of the selector: without them a ready
// learner (or a removed member awaiting recycling) would stand in for an
// evicted voter. While joint, both halves must keep a majority, so only as
// many pods may go as the less tolerant half allows.
func MinAvailable(obs Observation) (n int, ok bool) {
	if obs.Raft == nil {
		return 0, false
	}
	v := newView(obs, DefaultPolicy)
	union := map[uint64]bool{}
	for id := range v.voters {
		union[id] = true
	}
	for id := range v.outgoing {
		union[id] = true
	}
	tolerated := len(v.voters) - Majority(len(v.voters))
	if len(v.outgoing) > 0 {
		tolerated = min(tolerated, len(v.outgoing)-Majority(len(v.outgoing)))
	}
	n = len(union) - tolerated
	for o, p := range v.pods {
		if m, answered := v.answered(o); !p.Terminating && !(answered && union[m.ID]) {
			n++
		}
	}
	return n, true
}
