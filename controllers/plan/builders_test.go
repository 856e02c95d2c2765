package plan

import (
	"fmt"
	"slices"
)

// Builders for observations. A cluster named demo; pod o runs member id(o),
// or newID(o) once it came back on an empty volume.

const (
	testName    = "demo"
	testCluster = 0xc1
	testCommit  = 1000
	// oldRev is the pod template revision every pod starts on; newRev is
	// the one a template change makes.
	oldRev = "demo-7d4b9c"
	newRev = "demo-5f6a8e"
)

func id(o int) uint64    { return uint64(0x100 + o) }
func newID(o int) uint64 { return uint64(0x200 + o) }
func pod(o int) string   { return fmt.Sprintf("%s-%d", testName, o) }
func claim(o int) string { return fmt.Sprintf("data-%s-%d", testName, o) }

// opt changes an observation being built.
type opt func(*Observation)

// cluster is a healthy, bootstrapped, steady cluster of n voters on pods
// 0..n-1 led by pod 0, changed by opts in order.
func cluster(n int, opts ...opt) Observation {
	obs := Observation{
		Name: testName, Desired: n, Retention: RetentionDelete, ClusterID: testCluster,
		StatefulSet: &StatefulSet{Replicas: n, UpdateRevision: oldRev},
		Raft: &RaftStatus{ClusterID: testCluster, LeaderID: id(0), CommitIndex: testCommit,
			Members: map[uint64]Member{}, Progress: map[uint64]Progress{}},
	}
	for o := range n {
		withPod(o, id(o))(&obs)
		withClaim(o)(&obs)
		obs.Raft.Voters = append(obs.Raft.Voters, id(o))
		member(o, id(o), testCommit)(&obs)
	}
	for _, f := range opts {
		f(&obs)
	}
	// Unless an option said otherwise, every member applied the leader's
	// configuration.
	for i := range obs.Pods {
		if m := obs.Pods[i].Member; m != nil && m.Voters == nil && m.OutgoingVoters == nil && obs.Raft != nil {
			m.Voters, m.OutgoingVoters = obs.Raft.Voters, obs.Raft.OutgoingVoters
		}
	}
	return obs
}

// applied: pod ord's member has applied the configuration of voters.
func applied(ord int, voters ...uint64) opt {
	return func(o *Observation) { podOf(o, ord).Member.Voters = voters }
}

func desired(n int) opt { return func(o *Observation) { o.Desired = n } }
func sts(n int) opt {
	return func(o *Observation) { o.StatefulSet = &StatefulSet{Replicas: n, UpdateRevision: oldRev} }
}
func noSTS() opt           { return func(o *Observation) { o.StatefulSet = nil } }
func noLeader() opt        { return func(o *Observation) { o.Raft = nil } }
func retain() opt          { return func(o *Observation) { o.Retention = RetentionRetain } }
func leader(ord int) opt   { return func(o *Observation) { o.Raft.LeaderID = id(ord) } }
func notBootstrapped() opt { return func(o *Observation) { o.ClusterID = 0 } }

// adopting: not bootstrapped, and no pod may found a cluster (claims were
// found when the cluster was created).
func adopting() opt {
	return func(o *Observation) { o.ClusterID, o.Adopting = 0, true }
}
func fresh() opt { return func(o *Observation) { o.FreshStart = true } }

// forced: the user asked for a forced new configuration.
func forced() opt { return func(o *Observation) { o.ForceNewCluster = true } }

// lastLog: pod ord's member's log ends at (term, index), and it has
// applied a configuration of voters 0..n-1 (it answers without a leader).
func lastLog(ord int, term, index uint64, n int) opt {
	return func(o *Observation) {
		m := podOf(o, ord).Member
		m.LastLogTerm, m.LastLogIndex = term, index
		for i := range n {
			m.Voters = append(m.Voters, id(i))
		}
	}
}

// withPod makes pod ord exist, run, be ready and answer as member mid.
func withPod(ord int, mid uint64) opt {
	return func(o *Observation) {
		o.Pods = slices.DeleteFunc(o.Pods, func(p Pod) bool { return p.Ordinal == ord })
		rev := oldRev
		if o.StatefulSet != nil {
			rev = o.StatefulSet.UpdateRevision
		}
		o.Pods = append(o.Pods, Pod{Ordinal: ord, Name: pod(ord), Running: true, Ready: true, Revision: rev,
			Member: &MemberStatus{ID: mid, ClusterID: testCluster, PeerAddress: pod(ord) + ":2380", ClientAddress: pod(ord) + ":2379"}})
	}
}

// withNewPod is withPod for a pod that has not joined: no cluster id, not
// ready (readyz needs membership).
func withNewPod(ord int, mid uint64) opt {
	return func(o *Observation) {
		withPod(ord, mid)(o)
		p := podOf(o, ord)
		p.Ready, p.Member.ClusterID = false, 0
	}
}

// awaitingDNS marks pod ord as not yet published by the peer Service.
func awaitingDNS(ord int) opt { return func(o *Observation) { podOf(o, ord).AwaitingDNS = true } }

func podOf(o *Observation, ord int) *Pod {
	for i := range o.Pods {
		if o.Pods[i].Ordinal == ord {
			return &o.Pods[i]
		}
	}
	panic(fmt.Sprintf("no pod %d", ord))
}

func withClaim(ord int) opt {
	return func(o *Observation) { o.Claims = append(o.Claims, Claim{Ordinal: ord, Name: claim(ord)}) }
}

func claimTerminating(ord int) opt {
	return func(o *Observation) {
		for i := range o.Claims {
			if o.Claims[i].Ordinal == ord {
				o.Claims[i].Terminating = true
			}
		}
	}
}

// member records mid as pod ord's member in the configuration, with the
// leader's progress: active, at match.
func member(ord int, mid uint64, match uint64) opt {
	return func(o *Observation) {
		o.Raft.Members[mid] = Member{ID: mid, Name: pod(ord)}
		o.Raft.Progress[mid] = Progress{MatchIndex: match, RecentActive: true}
	}
}

// learner adds pod ord (running member id(ord)) as a learner at match.
func learner(ord int, match uint64) opt {
	return learnerID(ord, id(ord), match)
}

func learnerID(ord int, mid uint64, match uint64) opt {
	return func(o *Observation) {
		withPod(ord, mid)(o)
		withClaim(ord)(o)
		o.Raft.Learners = append(o.Raft.Learners, mid)
		member(ord, mid, match)(o)
	}
}

// voterID adds mid as a voter of pod ord without touching the pod.
func voterID(ord int, mid uint64) opt {
	return func(o *Observation) {
		o.Raft.Voters = append(o.Raft.Voters, mid)
		member(ord, mid, testCommit)(o)
	}
}

// down makes pod ord exist but not run, and its member inactive.
func down(ord int) opt {
	return func(o *Observation) {
		p := podOf(o, ord)
		p.Running, p.Ready, p.Member = false, false, nil
		inactive(ord)(o)
	}
}

// inactive makes the leader not hear from pod ord's configured member(s).
func inactive(ord int) opt {
	return func(o *Observation) {
		if o.Raft == nil {
			return
		}
		for mid, m := range o.Raft.Members {
			if m.Name == pod(ord) {
				pr := o.Raft.Progress[mid]
				pr.RecentActive = false
				o.Raft.Progress[mid] = pr
			}
		}
	}
}

func noPod(ord int) opt {
	return func(o *Observation) {
		o.Pods = slices.DeleteFunc(o.Pods, func(p Pod) bool { return p.Ordinal == ord })
		inactive(ord)(o)
	}
}

func terminating(ord int) opt {
	return func(o *Observation) { podOf(o, ord).Terminating = true }
}

// lostVolume: pod ord came back on an empty volume as member newID(ord);
// its old member is unheard of.
func lostVolume(ord int) opt {
	return func(o *Observation) {
		inactive(ord)(o)
		withNewPod(ord, newID(ord))(o)
	}
}

// removedPod: pod ord runs member id(ord), which was removed.
func removedPod(ord int) opt {
	return func(o *Observation) {
		withPod(ord, id(ord))(o)
		p := podOf(o, ord)
		p.Ready, p.Member.Removed = false, true
		o.Raft.Removed = append(o.Raft.Removed, id(ord))
	}
}

// removeVoters takes the voters of ords out of the configuration (their
// pods stay).
func removeVoters(ords ...int) opt {
	return func(o *Observation) {
		for _, ord := range ords {
			o.Raft.Voters = slices.DeleteFunc(o.Raft.Voters, func(v uint64) bool { return v == id(ord) })
			delete(o.Raft.Progress, id(ord))
		}
	}
}

// joint makes the configuration joint with the current voters outgoing and
// incoming without ords.
func joint(ords ...int) opt {
	return func(o *Observation) {
		o.Raft.OutgoingVoters = slices.Clone(o.Raft.Voters)
		for _, ord := range ords {
			o.Raft.Voters = slices.DeleteFunc(o.Raft.Voters, func(v uint64) bool { return v == id(ord) })
		}
	}
}

func match(ord int, m uint64) opt {
	return func(o *Observation) {
		pr := o.Raft.Progress[id(ord)]
		pr.MatchIndex = m
		o.Raft.Progress[id(ord)] = pr
	}
}

// newTemplate: the pod template changed; the StatefulSet's update revision
// is newRev while the pods run oldRev.
func newTemplate() opt { return func(o *Observation) { o.StatefulSet.UpdateRevision = newRev } }

// restarted: pods ords were re-created from the new template.
func restarted(ords ...int) opt {
	return func(o *Observation) {
		for _, ord := range ords {
			podOf(o, ord).Revision = newRev
		}
	}
}

// revision sets pod ord's revision label (empty: none).
func revision(ord int, rev string) opt { return func(o *Observation) { podOf(o, ord).Revision = rev } }

// cannotRun: pod ord's container cannot start (it implies down).
func cannotRun(ord int, why string) opt {
	return func(o *Observation) {
		down(ord)(o)
		podOf(o, ord).CannotRun = why
	}
}

func pending(ord int) opt  { return func(o *Observation) { podOf(o, ord).Pending = true } }
func notReady(ord int) opt { return func(o *Observation) { podOf(o, ord).Ready = false } }

func ids(f func(int) uint64, ords ...int) []uint64 {
	out := make([]uint64, len(ords))
	for i, o := range ords {
		out[i] = f(o)
	}
	return out
}

func pods(ords ...int) []string {
	out := make([]string, len(ords))
	for i, o := range ords {
		out[i] = pod(o)
	}
	return out
}

func claims(ords ...int) []string {
	out := make([]string, len(ords))
	for i, o := range ords {
		out[i] = claim(o)
	}
	return out
}
