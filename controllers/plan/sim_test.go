package plan

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The simulation: a small model of the world (a StatefulSet, its pods and
// claims, a Raft configuration as the leader applied it, and the leader's
// progress) to which every planned Action is applied, with randomized
// partial progress and faults in between. The planner keeps nothing between
// steps, so every step is also a manager restart.

var (
	simSeeds = flag.Int("sim.seeds", 200, "number of random simulation scenarios")
	simSeed  = flag.Uint64("sim.seed", 0, "run only this simulation seed (0: all)")
	simTrace = flag.Bool("sim.trace", false, "log every step of the simulation")
)

const (
	simChaosSteps = 200
	// simConvergeSteps bounds the steps to converge once the spec stops
	// changing and pods stay healthy.
	simConvergeSteps = 400
)

// volume is the data on one claim.
type volume struct {
	id      uint64 // 0: empty
	cluster uint64
	removed bool
	// voters and outgoing are the configuration the member applied last,
	// which lags behind the leader's while it is down or slow.
	voters, outgoing []uint64
}

type simPod struct {
	// pending: created while its claim was being deleted; it never starts.
	pending     bool
	running     bool
	terminating bool
	answers     bool // answered Status this step
	// revision is the pod template revision the pod was created from.
	revision int
}

type simClaim struct {
	vol         volume
	terminating bool
}

// change is a membership change the leader accepted but has not applied.
type change struct {
	kind              Kind
	add               uint64 // AddLearner
	addOrdinal        int
	promote, remove   []uint64
	enterJoint, leave bool
}

type world struct {
	rng   *rand.Rand
	seed  uint64
	step  int
	chaos bool
	// eager: everything that may happen by itself happens at once, so a
	// scenario's actions are one fixed sequence.
	eager bool
	// trace, when not nil, collects a line per step.
	trace *[]string

	desired   int
	retention Retention
	recorded  uint64 // cluster id in status
	autoLeave bool

	stsExists bool
	replicas  int
	// revision is the pod template's revision, bumped by a template change;
	// stsRevision is the update revision the StatefulSet controller has
	// caught up to, and gives the pods it creates.
	revision, stsRevision int
	// restarting are the ordinals whose pods the planner restarted and that
	// are not ready again yet.
	restarting map[int]bool
	pods       map[int]*simPod
	claims     map[int]*simClaim
	held       map[int]bool // pods kept from running (scripts)

	cluster                    uint64
	voters, outgoing, learners map[uint64]bool
	removed                    map[uint64]bool
	ordinal                    map[uint64]int // member names
	match                      map[uint64]uint64
	commit                     uint64
	leader, transferee         uint64
	pending                    *change

	stats *simStats
}

type simStats struct {
	scenarios, steps, refused int
	// templateChanges, restarts and restartTransfers count pod template
	// changes, the pods the planner restarted, and the leadership transfers
	// it made to restart the leader's pod.
	templateChanges, restarts, restartTransfers int
	// stuckPods counts pods created on a claim being deleted.
	stuckPods   int
	kinds       map[Kind]int
	maxConverge int
}

func newWorld(seed uint64, stats *simStats) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &world{rng: rng, seed: seed, chaos: true, stats: stats,
		desired: 1 + rng.IntN(MaxReplicas), retention: RetentionDelete, autoLeave: rng.IntN(2) == 0,
		pods: map[int]*simPod{}, claims: map[int]*simClaim{}, held: map[int]bool{},
		revision: 1, stsRevision: 1, restarting: map[int]bool{}}
	if rng.IntN(4) == 0 {
		w.retention = RetentionRetain
	}
	w.resetRaft(0)
	return w
}

func (w *world) resetRaft(cluster uint64) {
	w.cluster = cluster
	w.voters, w.outgoing, w.learners, w.removed = map[uint64]bool{}, map[uint64]bool{}, map[uint64]bool{}, map[uint64]bool{}
	w.ordinal, w.match = map[uint64]int{}, map[uint64]uint64{}
	w.commit, w.leader, w.transferee, w.pending = 0, 0, 0, nil
}

// simFailure is how a scenario fails: the test re-runs the seed with a
// trace to report it.
type simFailure struct{ msg string }

func (w *world) fatalf(format string, args ...any) {
	panic(simFailure{fmt.Sprintf("seed %d step %d: %s", w.seed, w.step, fmt.Sprintf(format, args...))})
}

// runningID is the member id pod o runs, 0 when it runs none.
func (w *world) runningID(o int) uint64 {
	p, c := w.pods[o], w.claims[o]
	if p == nil || !p.running || p.terminating || c == nil {
		return 0
	}
	return c.vol.id
}

func (w *world) inConfig(id uint64) bool { return w.voters[id] || w.outgoing[id] || w.learners[id] }

// healthy is the truth the planner's health approximates: the member's pod
// runs it, it is not removed, and a leader exists (pods are ready then).
func (w *world) healthy(id uint64) bool {
	o, ok := w.ordinal[id]
	return ok && w.leader != 0 && w.runningID(o) == id && !w.claims[o].vol.removed && w.inConfig(id)
}

// alive: the member runs, leader or not (for elections and commits).
func (w *world) alive(id uint64) bool {
	o, ok := w.ordinal[id]
	return ok && w.runningID(o) == id && !w.claims[o].vol.removed
}

func count(ids map[uint64]bool, f func(uint64) bool) int {
	n := 0
	for id := range ids {
		if f(id) {
			n++
		}
	}
	return n
}

func hasMajority(ids map[uint64]bool, f func(uint64) bool) bool {
	return count(ids, f) >= Majority(len(ids))
}

func (w *world) quorum(f func(uint64) bool) bool {
	return hasMajority(w.voters, f) && hasMajority(w.outgoing, f)
}

// observe builds what a reconcile pass would see.
func (w *world) observe() Observation {
	obs := Observation{Name: testName, Desired: w.desired, Retention: w.retention, ClusterID: w.recorded}
	if w.stsExists {
		obs.StatefulSet = &StatefulSet{Replicas: w.replicas, UpdateRevision: revisionName(w.stsRevision)}
		if w.chaos && w.rng.IntN(20) == 0 {
			obs.StatefulSet.UpdateRevision = "" // not reported yet
		}
	}
	for _, o := range slices.Sorted(maps.Keys(w.pods)) {
		p := w.pods[o]
		p.answers = p.running && !p.terminating && (!w.chaos || w.rng.IntN(20) != 0)
		pod := Pod{Ordinal: o, Name: pod(o), Terminating: p.terminating, Pending: p.pending, Running: p.running, Revision: revisionName(p.revision)}
		if id := w.runningID(o); id != 0 {
			v := w.claims[o].vol
			pod.Ready = w.inConfig(id) && !v.removed && w.leader != 0
			if p.answers {
				pod.Member = &MemberStatus{ID: id, ClusterID: v.cluster, Removed: v.removed, Voters: v.voters, OutgoingVoters: v.outgoing}
			}
		}
		obs.Pods = append(obs.Pods, pod)
	}
	for _, o := range slices.Sorted(maps.Keys(w.claims)) {
		obs.Claims = append(obs.Claims, Claim{Ordinal: o, Name: claim(o), Terminating: w.claims[o].terminating})
	}
	if lp := w.pods[w.ordinal[w.leader]]; w.leader != 0 && lp != nil && lp.answers {
		r := &RaftStatus{ClusterID: w.cluster, LeaderID: w.leader, CommitIndex: w.commit, LeadTransferee: w.transferee,
			Voters: sorted(w.voters), OutgoingVoters: sorted(w.outgoing), Learners: sorted(w.learners), Removed: sorted(w.removed),
			Members: map[uint64]Member{}, Progress: map[uint64]Progress{}}
		for id, o := range w.ordinal {
			r.Members[id] = Member{ID: id, Name: pod(o)}
			if w.inConfig(id) {
				r.Progress[id] = Progress{MatchIndex: w.match[id], RecentActive: w.alive(id)}
			}
		}
		obs.Raft = r
	}
	return obs
}

func (w *world) highestVoterOrdinal() int {
	h := -1
	for id := range w.voters {
		h = max(h, w.ordinal[id])
	}
	for id := range w.outgoing {
		h = max(h, w.ordinal[id])
	}
	return h
}

// apply performs a, checking the safety rules against the world as observed.
func (w *world) apply(a Action, obs Observation) {
	if a.Kind.ChangesMembership() {
		if obs.Raft == nil {
			w.fatalf("%v without a leader", a)
		}
		if obs.Raft.Joint() && a.Kind != LeaveJoint {
			w.fatalf("%v proposed while the configuration is joint", a)
		}
	}
	// The reconciler's API call fails now and then; nothing happens.
	if w.chaos && w.rng.IntN(20) == 0 {
		return
	}
	switch a.Kind {
	case Steady, Wait:
	case SetReplicas:
		if w.recorded == 0 && !w.stsExists && a.Replicas != 1 {
			w.fatalf("created the StatefulSet with %d replicas before bootstrap", a.Replicas)
		}
		if w.recorded == 0 && w.stsExists && a.Replicas > w.replicas {
			w.fatalf("scaled to %d before bootstrap", a.Replicas)
		}
		if h := w.highestVoterOrdinal(); a.Replicas < h+1 {
			w.fatalf("%v: below the highest voter ordinal %d + 1", a, h)
		}
		if w.stsExists && a.Replicas < w.replicas {
			w.checkLeaveApplied(a)
		}
		w.stsExists, w.replicas = true, a.Replicas
	case FinishBootstrap:
		if w.leader == 0 || a.ClusterID != w.cluster {
			w.fatalf("%v: leader %x, cluster %x", a, w.leader, w.cluster)
		}
		w.recorded = a.ClusterID
	case TransferLeadership:
		if !w.voters[a.TransferTo] || !w.healthy(a.TransferTo) || a.TransferTo == w.leader {
			w.fatalf("%v: target not a healthy voter", a)
		}
		w.transferee = a.TransferTo
	case RecyclePod:
		w.recycle(a)
	case RestartPod:
		w.restart(a)
	case DeleteClaims:
		w.checkLeaveApplied(a)
		for _, name := range a.Claims {
			o := ParseOrdinal("data-"+testName, name)
			c := w.claims[o]
			if c == nil {
				continue
			}
			if w.pods[o] != nil || o < w.replicas || (c.vol.id != 0 && w.inConfig(c.vol.id)) {
				w.fatalf("%v: claim %s is in use", a, name)
			}
			c.terminating = true
			if w.chaos && w.rng.IntN(5) == 0 {
				return // the manager crashed half way
			}
		}
	default:
		w.propose(a)
	}
}

func (w *world) recycle(a Action) {
	o := a.Ordinals[0]
	c := w.claims[o]
	if c != nil && c.vol.id != 0 && w.inConfig(c.vol.id) {
		w.fatalf("%v: deletes the pod of member %x of the configuration", a, c.vol.id)
	}
	if c != nil {
		c.terminating = true
	}
	if w.chaos && w.rng.IntN(5) == 0 {
		return // the manager crashed between the claim and the pod
	}
	if p := w.pods[o]; p != nil {
		p.terminating = true
	}
}

func revisionName(r int) string { return fmt.Sprintf("%s-r%d", testName, r) }

// restart deletes a pod for a rolling restart, checking that it is safe:
// a pod that does not run, which costs nothing, or an outdated pod of a
// voter in a settled configuration, not the leader's (unless it is the
// only voter), no other restarted pod still not ready, and a healthy
// majority among the other voters (unless there are only one or two).
func (w *world) restart(a Action) {
	o := a.Ordinals[0]
	p := w.pods[o]
	if p == nil || p.terminating {
		w.fatalf("%v: no pod %d to restart", a, o)
	}
	if p.revision == w.stsRevision {
		w.fatalf("%v: pod %d is on the update revision already", a, o)
	}
	// A change the leader accepted but has not applied is invisible to the
	// planner (it may be pending here): the configuration as applied is
	// what must be settled.
	id := w.runningID(o)
	// A pod that does not run costs no member when it goes: the planner
	// replaces such an outdated pod at once, whatever is under way. One
	// that runs must be a follower of a settled configuration, go only
	// after the pod restarted before it is back, and leave a healthy
	// majority among the other voters.
	if p.running {
		if !w.voters[id] || len(w.outgoing) > 0 || len(w.learners) > 0 {
			w.fatalf("%v: pod %d runs %x, not a voter of a settled configuration", a, o, id)
		}
		if id == w.leader && len(w.voters) > 1 {
			w.fatalf("%v: restarts the leader's pod while it leads", a)
		}
		for other := range w.restarting {
			if other != o && other < w.desired && !w.ready(other) {
				w.fatalf("%v: pod %d, restarted before, is not ready yet", a, other)
			}
		}
		if n := len(w.voters); n > 2 && count(w.voters, func(v uint64) bool { return v != id && w.healthy(v) }) < Majority(n) {
			w.fatalf("%v: the other voters lack a healthy majority", a)
		}
	}
	p.terminating = true
	w.restarting[o] = true
	w.stats.restarts++
}

// ready: pod o runs a healthy member, as its readiness would say.
func (w *world) ready(o int) bool {
	id := w.runningID(o)
	return id != 0 && w.healthy(id)
}

// propose hands a membership change to the leader, which refuses it while
// another is pending, as the node does.
func (w *world) propose(a Action) {
	if w.pending != nil {
		w.stats.refused++
		return
	}
	ch := &change{kind: a.Kind}
	switch a.Kind {
	case AddLearner:
		o := a.Ordinals[0]
		if w.inConfig(a.Member.ID) || w.removed[a.Member.ID] || w.runningID(o) != a.Member.ID || ParseOrdinal(testName, a.Member.Name) != o {
			w.fatalf("%v: not a new member of pod %d", a, o)
		}
		ch.add, ch.addOrdinal = a.Member.ID, o
	case LeaveJoint:
		if len(w.outgoing) == 0 {
			w.stats.refused++ // auto-leave got there first
			return
		}
		ch.leave = true
	case RemoveLearners:
		for _, id := range a.Remove {
			if !w.learners[id] {
				w.fatalf("%v: %x is not a learner", a, id)
			}
		}
		ch.remove, ch.enterJoint = a.Remove, len(a.Remove) > 1
	case PromoteLearners, ReplaceMembers, RemoveVoters:
		w.checkVoterChange(a)
		ch.promote, ch.remove, ch.enterJoint = a.Promote, a.Remove, true
	default:
		w.fatalf("unknown action %v", a)
	}
	w.pending = ch
	if w.chance(70) {
		w.applyPending()
	}
}

// checkVoterChange: the leader is never removed, and both halves of the
// joint configuration keep a healthy majority.
func (w *world) checkVoterChange(a Action) {
	incoming := maps.Clone(w.voters)
	for _, id := range a.Promote {
		if !w.learners[id] {
			w.fatalf("%v: %x is not a learner", a, id)
		}
		incoming[id] = true
	}
	for _, id := range a.Remove {
		if !w.voters[id] {
			w.fatalf("%v: %x is not a voter", a, id)
		}
		if id == w.leader {
			w.fatalf("%v: removes the leader", a)
		}
		delete(incoming, id)
	}
	for _, id := range a.Promote {
		if lag := w.commit - w.match[id]; !w.alive(id) || lag > DefaultMaxLearnerLag {
			w.fatalf("%v: promotes %x, not caught up (alive %v, %d behind)", a, id, w.alive(id), lag)
		}
	}
	if len(a.Promote) > 0 {
		// One change per scale-up: every wanted ordinal has a voter after it.
		have := map[int]bool{}
		for id := range incoming {
			have[w.ordinal[id]] = true
		}
		for o := range w.desired {
			if !have[o] {
				w.fatalf("%v: leaves ordinal %d without a voter", a, o)
			}
		}
	}
	if !hasMajority(w.voters, w.healthy) || !hasMajority(incoming, w.healthy) {
		w.fatalf("%v: leaves a configuration without a healthy majority (old %d/%d, new %d/%d healthy)", a,
			count(w.voters, w.healthy), len(w.voters), count(incoming, w.healthy), len(incoming))
	}
}

// applyPending commits and applies the pending change, when a quorum of
// the configuration is alive to commit it.
func (w *world) applyPending() {
	ch := w.pending
	if ch == nil || w.leader == 0 || !w.quorum(w.alive) {
		return
	}
	w.pending = nil
	switch {
	case ch.kind == AddLearner:
		w.learners[ch.add], w.ordinal[ch.add], w.match[ch.add] = true, ch.addOrdinal, 0
		if c := w.claims[ch.addOrdinal]; c != nil && c.vol.id == ch.add {
			c.vol.cluster = w.cluster
		}
	case ch.leave:
		for id := range w.outgoing {
			if !w.voters[id] {
				w.markRemoved(id)
			}
		}
		w.outgoing = map[uint64]bool{}
	default:
		if ch.enterJoint {
			w.outgoing = maps.Clone(w.voters)
		}
		for _, id := range ch.promote {
			delete(w.learners, id)
			w.voters[id] = true
		}
		for _, id := range ch.remove {
			delete(w.voters, id)
			if w.learners[id] {
				delete(w.learners, id)
				w.markRemoved(id)
			}
		}
		if ch.enterJoint && w.autoLeave {
			w.pending = &change{leave: true}
		}
	}
}

// checkLeaveApplied: a leaver's pod or claim goes only once every voter has
// applied the configuration without it, so none can restart into one that
// needs the leaver to elect a leader.
func (w *world) checkLeaveApplied(a Action) {
	for id := range w.voters {
		c := w.claims[w.ordinal[id]]
		if c == nil || c.vol.id != id {
			continue // its volume was lost: no old configuration to restart into
		}
		if v := c.vol; len(v.outgoing) > 0 || !slices.Equal(v.voters, sorted(w.voters)) {
			w.fatalf("%v: voter %x has applied %v (outgoing %v), not the configuration %v", a, id, v.voters, v.outgoing, sorted(w.voters))
		}
	}
}

// catchUpConfig: members that run apply the leader's configuration, each
// with probability pct (all at once in an eager world).
func (w *world) catchUpConfig(pct int) {
	for _, id := range slices.Sorted(maps.Keys(w.ordinal)) {
		if c := w.claims[w.ordinal[id]]; c != nil && c.vol.id == id && w.alive(id) && w.inConfig(id) && (id == w.leader || w.chance(pct)) {
			c.vol.voters, c.vol.outgoing = sorted(w.voters), sorted(w.outgoing)
		}
	}
}

func (w *world) markRemoved(id uint64) {
	w.removed[id] = true
	if o := w.ordinal[id]; w.runningID(o) == id {
		w.claims[o].vol.removed = true
	}
	if id == w.leader {
		w.leader, w.transferee = 0, 0
	}
}

// invariants hold after every step.
func (w *world) invariants() {
	if !w.stsExists {
		return
	}
	if h := w.highestVoterOrdinal(); w.replicas < h+1 {
		w.fatalf("StatefulSet replicas %d below highest voter ordinal %d + 1", w.replicas, h)
	}
	for id := range w.voters {
		if w.removed[id] {
			w.fatalf("removed %x is a voter", id)
		}
	}
}

// chance is true pct% of the time; always in an eager world.
func (w *world) chance(pct int) bool { return w.eager || w.rng.IntN(100) < pct }

// advance moves the world on by itself: the StatefulSet controller, pods
// starting and dying, elections, replication, the pending change.
func (w *world) advance() {
	w.statefulSetController()
	w.podsStartAndDie()
	w.elect()
	if w.leader != 0 && w.quorum(w.alive) {
		if w.chaos {
			w.commit += uint64(w.rng.IntN(40))
		} else {
			w.commit += uint64(w.rng.IntN(5))
		}
		for _, id := range slices.Sorted(maps.Keys(w.match)) { // sorted: the seed must replay
			if id == w.leader {
				w.match[id] = w.commit
			} else if w.alive(id) && w.eager {
				w.match[id] = w.commit
			} else if w.alive(id) {
				w.match[id] = min(w.commit, w.match[id]+uint64(w.rng.IntN(150)))
			}
		}
	}
	if w.pending != nil && w.chance(50) {
		w.applyPending()
	}
	if w.leader != 0 {
		w.catchUpConfig(60)
	}
	if w.chaos && w.chance(4) {
		w.desired = 1 + w.rng.IntN(MaxReplicas)
	}
	if w.chaos && w.chance(3) {
		w.revision++
		w.stats.templateChanges++
	}
	for o := range w.restarting {
		if o >= w.desired || w.ready(o) {
			delete(w.restarting, o)
		}
	}
}

func (w *world) statefulSetController() {
	if w.stsExists && w.stsRevision != w.revision && w.chance(50) {
		w.stsRevision = w.revision
	}
	for _, o := range slices.Sorted(maps.Keys(w.pods)) {
		p := w.pods[o]
		switch {
		case p.terminating:
			if w.chance(60) {
				delete(w.pods, o)
			}
		case w.stsExists && o >= w.replicas && w.chance(50):
			p.terminating = true
		}
	}
	for _, o := range slices.Sorted(maps.Keys(w.claims)) {
		if w.claims[o].terminating && w.pods[o] == nil && w.chance(50) { // pvc-protection lets go
			delete(w.claims, o)
		}
	}
	for o := range w.replicas {
		if w.pods[o] == nil && w.chance(50) {
			w.pods[o] = &simPod{pending: w.claims[o] != nil && w.claims[o].terminating, revision: w.stsRevision}
			if w.pods[o].pending {
				w.stats.stuckPods++
			}
			if w.claims[o] == nil {
				w.claims[o] = &simClaim{}
			}
		}
	}
}

func (w *world) podsStartAndDie() {
	for _, o := range slices.Sorted(maps.Keys(w.pods)) {
		p := w.pods[o]
		switch {
		case p.terminating:
		case p.pending || w.held[o]:
			// A pod cannot start on a claim being deleted, and holds it.
		case !p.running && w.chance(60):
			p.running = true
			w.start(o)
		case w.chaos && w.chance(1):
			delete(w.pods, o) // evicted; the StatefulSet re-creates it on the same claim
		case p.running && w.chaos && w.chance(2):
			p.running = false
			if w.chance(30) && w.canLoseVolume(o) {
				w.claims[o].vol = volume{}
			}
		}
	}
}

// start is a node starting on its volume: a new id on an empty one, and in
// bootstrap mode (no cluster id recorded yet) pod 0 founds the cluster.
func (w *world) start(o int) {
	v := &w.claims[o].vol
	switch {
	case v.id == 0:
		v.id = w.rng.Uint64() | 1
		if w.recorded == 0 && o == 0 {
			w.resetRaft(w.rng.Uint64() | 1)
			v.cluster = w.cluster
			w.voters[v.id], w.ordinal[v.id], w.match[v.id], w.leader = true, 0, 0, v.id
			v.voters = []uint64{v.id}
		}
	case w.removed[v.id] && v.cluster == w.cluster:
		v.removed = true // told by its peers
	}
}

// canLoseVolume keeps the faults survivable: a volume is lost only when
// every configuration, the pending one too, keeps a majority of voters with
// their data. Losing more is a disaster no planner can undo.
func (w *world) canLoseVolume(o int) bool {
	lost := w.claims[o].vol.id
	if w.recorded == 0 || lost == 0 {
		return true
	}
	intact := func(id uint64) bool {
		c := w.claims[w.ordinal[id]]
		return id != lost && c != nil && c.vol.id == id
	}
	next := maps.Clone(w.voters)
	if ch := w.pending; ch != nil {
		for _, id := range ch.promote {
			next[id] = true
		}
		for _, id := range ch.remove {
			delete(next, id)
		}
	}
	return w.quorum(intact) && hasMajority(next, intact)
}

func (w *world) elect() {
	if w.leader != 0 && (!w.alive(w.leader) || !(w.voters[w.leader] || w.outgoing[w.leader])) {
		w.leader, w.transferee = 0, 0
		if w.chance(50) {
			w.pending = nil // the new leader never saw it
		}
	}
	if w.transferee != 0 {
		switch {
		case w.alive(w.transferee) && w.chance(70):
			w.leader, w.transferee = w.transferee, 0
		case w.chance(30):
			w.transferee = 0
		}
	}
	if w.leader != 0 || w.cluster == 0 || !w.quorum(w.alive) || !w.chance(70) {
		return
	}
	var candidates []uint64
	for id := range w.voters {
		if w.alive(id) {
			candidates = append(candidates, id)
		}
	}
	for id := range w.outgoing {
		if w.alive(id) && !w.voters[id] {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) > 0 {
		slices.Sort(candidates)
		w.leader = candidates[w.rng.IntN(len(candidates))]
	}
}

// checkSteady: Steady means the observed cluster matches the spec.
func (w *world) checkSteady(a Action, obs Observation) {
	if a.Kind != Steady {
		return
	}
	r := obs.Raft
	if r == nil || r.Joint() || len(r.Learners) > 0 || obs.StatefulSet == nil || obs.StatefulSet.Replicas != w.desired {
		w.fatalf("Steady on %+v", obs)
	}
	for _, p := range obs.Pods {
		if p.Ordinal < w.desired && p.Revision != obs.StatefulSet.UpdateRevision && obs.StatefulSet.UpdateRevision != "" {
			w.fatalf("Steady with pod %d on revision %s, not %s", p.Ordinal, p.Revision, obs.StatefulSet.UpdateRevision)
		}
	}
	var ords []int
	for _, id := range r.Voters {
		if !w.healthy(id) {
			w.fatalf("Steady with voter %x not healthy", id)
		}
		ords = append(ords, w.ordinal[id])
	}
	slices.Sort(ords)
	for i, o := range ords {
		if i != o || len(ords) != w.desired {
			w.fatalf("Steady with voters on pods %v, want 0..%d", ords, w.desired-1)
		}
	}
}

// converged: exactly the wanted voters, each on its running pod, no
// learners, the StatefulSet at spec, no leftover pods or (retention Delete)
// claims.
func (w *world) converged() bool {
	if w.recorded == 0 || w.pending != nil || len(w.outgoing) > 0 || len(w.learners) > 0 ||
		len(w.voters) != w.desired || w.replicas != w.desired || len(w.pods) != w.desired || w.stsRevision != w.revision {
		return false
	}
	for o := range w.desired {
		if id := w.runningID(o); id == 0 || !w.voters[id] || w.pods[o].revision != w.revision {
			return false
		}
	}
	for o := range w.claims {
		if o >= w.desired && w.retention == RetentionDelete {
			return false
		}
	}
	return true
}

func (w *world) describe(a Action) string {
	label := func(ids map[uint64]bool) string {
		var s []string
		for _, id := range sorted(ids) {
			s = append(s, fmt.Sprintf("%d:%x", w.ordinal[id], id&0xfff))
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	pending := "-"
	if w.pending != nil {
		pending = fmt.Sprintf("%v%v", w.pending.kind, w.pending.leave)
	}
	var claims []string
	for _, o := range slices.Sorted(maps.Keys(w.claims)) {
		c := w.claims[o]
		flag := ""
		if c.terminating {
			flag = "(deleting)"
		}
		claims = append(claims, fmt.Sprintf("%d:%x%s", o, c.vol.id&0xfff, flag))
	}
	return fmt.Sprintf("%4d desired=%d sts=%d pods=%d claims=%v voters=%s out=%s learners=%s leader=%x pending=%s -> %v",
		w.step, w.desired, w.replicas, len(w.pods), claims, label(w.voters), label(w.outgoing), label(w.learners), w.leader&0xfff, pending, a)
}

func (w *world) runStep() Action {
	obs := w.observe()
	var before Observation
	check := w.step%4 == 0 // a sample is enough, and keeps the run fast
	if check {
		before = cloneObservation(obs)
	}
	a := Next(obs)
	if check {
		if again := Next(obs); !reflect.DeepEqual(a, again) || !reflect.DeepEqual(obs, before) {
			w.fatalf("Next is not a pure function of its observation: %v then %v", a, again)
		}
	}
	if w.trace != nil {
		*w.trace = append(*w.trace, w.describe(a))
	}
	w.stats.steps++
	w.stats.kinds[a.Kind]++
	if a.Kind == TransferLeadership && strings.HasPrefix(a.Reason, "rolling restart") {
		w.stats.restartTransfers++
	}
	w.checkSteady(a, obs)
	w.apply(a, obs)
	w.invariants()
	w.advance()
	w.invariants()
	w.step++
	return a
}

func (w *world) run() {
	for range simChaosSteps {
		w.runStep()
	}
	w.chaos = false
	for i := range simConvergeSteps {
		if a := w.runStep(); a.Kind == Steady && w.converged() {
			w.stats.maxConverge = max(w.stats.maxConverge, i)
			return
		}
	}
	w.fatalf("did not converge to %d voters within %d steps", w.desired, simConvergeSteps)
}

// runSeed runs one scenario and returns why it failed, if it did.
func runSeed(seed uint64, stats *simStats, trace *[]string) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(simFailure)
			if !ok {
				panic(r)
			}
			failure = f.msg
		}
	}()
	w := newWorld(seed, stats)
	w.trace = trace
	w.run()
	return ""
}

// TestSimulation runs seeded random scenarios through the world model and
// checks the safety invariants after every step and convergence at the end.
func TestSimulation(t *testing.T) {
	stats := &simStats{kinds: map[Kind]int{}}
	seeds := make([]uint64, 0, *simSeeds)
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for i := range *simSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		var trace []string
		var tp *[]string
		if *simTrace {
			tp = &trace
		}
		failure := runSeed(seed, stats, tp)
		for _, line := range trace {
			t.Log(line)
		}
		if failure != "" {
			// Scenarios are deterministic: run it again to show how it got there.
			trace = nil
			runSeed(seed, &simStats{kinds: map[Kind]int{}}, &trace)
			t.Fatalf("%s\nreplay: go test ./controllers/plan -run TestSimulation -sim.seed=%d -sim.trace\nlast steps:\n%s",
				failure, seed, strings.Join(trace[max(0, len(trace)-40):], "\n"))
		}
		stats.scenarios++
	}
	var kinds []string
	for k := Steady; k <= RestartPod; k++ {
		kinds = append(kinds, fmt.Sprintf("%v=%d", k, stats.kinds[k]))
		if stats.kinds[k] == 0 && *simSeed == 0 {
			t.Errorf("no scenario planned %v", k)
		}
	}
	t.Logf("%d scenarios, %d steps, %d changes refused as pending, %d pods created on a claim being deleted, %d template changes, %d pods restarted, %d leadership transfers for a restart, slowest convergence %d steps; actions: %s",
		stats.scenarios, stats.steps, stats.refused, stats.stuckPods, stats.templateChanges, stats.restarts, stats.restartTransfers, stats.maxConverge, strings.Join(kinds, " "))
}

// cloneObservation copies obs deeply, to check that Next leaves it alone.
func cloneObservation(obs Observation) Observation {
	c := obs
	if obs.StatefulSet != nil {
		s := *obs.StatefulSet
		c.StatefulSet = &s
	}
	c.Pods = slices.Clone(obs.Pods)
	for i, p := range c.Pods {
		if p.Member != nil {
			m := *p.Member
			c.Pods[i].Member = &m
		}
	}
	c.Claims = slices.Clone(obs.Claims)
	if r := obs.Raft; r != nil {
		rc := *r
		rc.Voters, rc.OutgoingVoters, rc.Learners = slices.Clone(r.Voters), slices.Clone(r.OutgoingVoters), slices.Clone(r.Learners)
		rc.LearnersNext, rc.Removed = slices.Clone(r.LearnersNext), slices.Clone(r.Removed)
		rc.Members, rc.Progress = maps.Clone(r.Members), maps.Clone(r.Progress)
		c.Raft = &rc
	}
	return c
}
