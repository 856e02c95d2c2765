package plan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// view indexes one Observation for the steps. It lives for one call of Next.
type view struct {
	obs    Observation
	policy Policy
	raft   *RaftStatus // nil before a leader answered
	pods   map[int]*Pod
	claims map[int][]Claim

	voters, outgoing, learners, learnersNext, removed map[uint64]bool
	// voterIDs and learnerIDs are voters and learners, sorted.
	voterIDs, learnerIDs []uint64
	// ordinals caches ordinalOf for the pods' and configuration's ids.
	ordinals map[uint64]int
	// votersByOrdinal and learnersByOrdinal index the configuration by pod.
	votersByOrdinal, learnersByOrdinal map[int][]uint64
	// waits collects why steps that could not act are blocked, for the
	// final Wait when no later step acts either.
	waits []Blocked
}

func newView(obs Observation, p Policy) *view {
	v := &view{obs: obs, policy: p, raft: obs.Raft, pods: map[int]*Pod{}, claims: map[int][]Claim{}}
	for i := range obs.Pods {
		v.pods[obs.Pods[i].Ordinal] = &obs.Pods[i]
	}
	for _, c := range obs.Claims {
		v.claims[c.Ordinal] = append(v.claims[c.Ordinal], c)
	}
	r := obs.Raft
	if r == nil {
		r = &RaftStatus{}
	}
	v.voters, v.outgoing = setOf(r.Voters), setOf(r.OutgoingVoters)
	v.learners, v.learnersNext, v.removed = setOf(r.Learners), setOf(r.LearnersNext), setOf(r.Removed)
	v.voterIDs, v.learnerIDs = sorted(v.voters), sorted(v.learners)
	v.ordinals = map[uint64]int{}
	for _, id := range v.configIDs() {
		v.ordinals[id] = v.findOrdinal(id)
	}
	v.votersByOrdinal, v.learnersByOrdinal = map[int][]uint64{}, map[int][]uint64{}
	for _, id := range v.voterIDs {
		v.votersByOrdinal[v.ordinals[id]] = append(v.votersByOrdinal[v.ordinals[id]], id)
	}
	for _, id := range v.learnerIDs {
		v.learnersByOrdinal[v.ordinals[id]] = append(v.learnersByOrdinal[v.ordinals[id]], id)
	}
	return v
}

func setOf(ids []uint64) map[uint64]bool {
	s := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

func sorted(s map[uint64]bool) []uint64 { return slices.Sorted(maps.Keys(s)) }

func (v *view) podName(ordinal int) string { return fmt.Sprintf("%s-%d", v.obs.Name, ordinal) }

// answered returns the member of the pod at ordinal, when it exists, is not
// terminating and answered Status.
func (v *view) answered(ordinal int) (*MemberStatus, bool) {
	p := v.pods[ordinal]
	if p == nil || p.Terminating || p.Member == nil {
		return nil, false
	}
	return p.Member, true
}

// currentID is the id the pod at ordinal runs now, if it answered and was
// not removed.
func (v *view) currentID(ordinal int) (uint64, bool) {
	m, ok := v.answered(ordinal)
	if !ok || v.isRemoved(m) {
		return 0, false
	}
	return m.ID, true
}

func (v *view) isRemoved(m *MemberStatus) bool { return m.Removed || v.removed[m.ID] }

// ordinalOf maps a member id to its pod ordinal: the pod that says it runs
// id, else the member's name. -1 when neither tells.
func (v *view) ordinalOf(id uint64) int {
	if o, ok := v.ordinals[id]; ok {
		return o
	}
	return v.findOrdinal(id)
}

func (v *view) findOrdinal(id uint64) int {
	for o, p := range v.pods {
		if p.Member != nil && p.Member.ID == id {
			return o
		}
	}
	if v.raft == nil {
		return -1
	}
	return ParseOrdinal(v.obs.Name, v.raft.Members[id].Name)
}

// ParseOrdinal returns the ordinal of pod name NAME-ORDINAL of cluster
// name, or -1 when podName is not a pod of that cluster.
func ParseOrdinal(name, podName string) int {
	s, ok := strings.CutPrefix(podName, name+"-")
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func (v *view) isVoter(id uint64) bool { return v.voters[id] || v.outgoing[id] }

func (v *view) inConfig(id uint64) bool {
	return v.isVoter(id) || v.learners[id] || v.learnersNext[id]
}

// configIDs are every id of the configuration.
func (v *view) configIDs() []uint64 {
	all := map[uint64]bool{}
	for _, s := range []map[uint64]bool{v.voters, v.outgoing, v.learners, v.learnersNext} {
		maps.Copy(all, s)
	}
	return sorted(all)
}

// healthy: the leader heard from id recently and id's pod is ready and says
// it runs id. Both, because either alone can be stale.
func (v *view) healthy(id uint64) bool {
	if id != v.raft.LeaderID && !v.raft.Progress[id].RecentActive {
		return false
	}
	o := v.ordinalOf(id)
	p := v.pods[o]
	m, ok := v.answered(o)
	return ok && p.Ready && m.ID == id && !v.isRemoved(m)
}

// whyUnhealthy says, for a person, why id is not healthy.
func (v *view) whyUnhealthy(id uint64) string {
	o := v.ordinalOf(id)
	if s, ok := v.podUsable(o); !ok {
		return s
	}
	if m, _ := v.answered(o); m.ID != id {
		return fmt.Sprintf("pod %s runs member %x", v.podName(o), m.ID)
	}
	return "the leader has not heard from it recently"
}

// lag is how many committed entries id lacks.
func (v *view) lag(id uint64) uint64 {
	m := v.raft.Progress[id].MatchIndex
	if m >= v.raft.CommitIndex {
		return 0
	}
	return v.raft.CommitIndex - m
}

// Majority is the size of a majority of n voters (0 for none).
func Majority(n int) int {
	if n <= 0 {
		return 0
	}
	return n/2 + 1
}

// keepsMajority checks that a joint change from old to incoming keeps a
// healthy majority in both halves, which joint consensus needs to commit
// and to leave the joint configuration again. It says why not otherwise.
func (v *view) keepsMajority(old, incoming []uint64) (string, bool) {
	for _, half := range []struct {
		name string
		ids  []uint64
	}{{"current", old}, {"new", incoming}} {
		n := 0
		for _, id := range half.ids {
			if v.healthy(id) {
				n++
			}
		}
		if n < Majority(len(half.ids)) {
			return fmt.Sprintf("the %s configuration (%s) would have %d healthy of %d voters, fewer than a majority",
				half.name, v.describeIDs(half.ids), n, len(half.ids)), false
		}
	}
	return "", true
}

func (v *view) describe(id uint64) string {
	if o := v.ordinalOf(id); o >= 0 {
		return fmt.Sprintf("%x (%s)", id, v.podName(o))
	}
	return hexID(id)
}

func (v *view) describeIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = v.describe(id)
	}
	return strings.Join(s, ", ")
}

// podState says, for a person, in what state the pod at ordinal is.
func (v *view) podState(ordinal int) string {
	s, _ := v.podUsable(ordinal)
	return s
}

// podUsable reports whether the pod at ordinal runs, answers and is ready,
// and says why not.
func (v *view) podUsable(ordinal int) (string, bool) {
	name := v.podName(ordinal)
	p := v.pods[ordinal]
	switch {
	case p == nil:
		return "pod " + name + " does not exist", false
	case p.Terminating:
		return "pod " + name + " is terminating", false
	case p.CannotRun != "":
		return "pod " + name + " cannot run: " + p.CannotRun, false
	case !p.Running:
		return "pod " + name + " is not running", false
	case p.Member == nil:
		return "pod " + name + " is not answering", false
	case !p.Ready:
		return "pod " + name + " is not ready", false
	}
	return "pod " + name + " is ready", true
}

// podCause is the Cause of waiting for the pod at ordinal to be usable.
func (v *view) podCause(ordinal int) Cause {
	if p := v.pods[ordinal]; p != nil && !p.Terminating && p.CannotRun != "" {
		return CausePodCannotRun
	}
	return CausePodNotReady
}

// memberCause is the Cause of waiting for member id to be healthy.
func (v *view) memberCause(id uint64) Cause {
	o := v.ordinalOf(id)
	if _, ok := v.podUsable(o); !ok {
		return v.podCause(o)
	}
	return CauseVoterUnhealthy
}

// highestOrdinal is the highest pod ordinal among ids, -1 for none.
func (v *view) highestOrdinal(ids []uint64) int {
	h := -1
	for _, id := range ids {
		h = max(h, v.ordinalOf(id))
	}
	return h
}

func (v *view) wait(c Cause, format string, args ...any) {
	v.waits = append(v.waits, Blocked{Cause: c, Text: fmt.Sprintf(format, args...)})
}

// waitAction is a Wait for one cause, taken at once (nothing after the step
// may act).
func waitAction(c Cause, format string, args ...any) (Action, bool) {
	b := Blocked{Cause: c, Text: fmt.Sprintf(format, args...)}
	return Action{Kind: Wait, Reason: b.Text, Cause: c, Blocked: []Blocked{b}}, true
}
