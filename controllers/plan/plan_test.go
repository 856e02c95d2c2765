package plan

import (
	"reflect"
	"strings"
	"testing"
)

func wantAdd(ord int, mid uint64) Action {
	return Action{Kind: AddLearner, Ordinals: []int{ord}, Pods: pods(ord),
		Member: Member{ID: mid, Name: pod(ord), PeerAddress: pod(ord) + ":2380", ClientAddress: pod(ord) + ":2379"}}
}

func wantWait() Action { return Action{Kind: Wait} }

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		obs  Observation
		want Action
		// wantReason must occur in the action's reason.
		wantReason string
	}{
		// Rule 1: bootstrap.
		{name: "new cluster: create the StatefulSet with pod 0 alone",
			obs:  cluster(1, notBootstrapped(), desired(3), noSTS(), noLeader(), down(0)),
			want: Action{Kind: SetReplicas, Replicas: 1}},
		{name: "not bootstrapped: StatefulSet at zero gets pod 0",
			obs:  cluster(1, notBootstrapped(), desired(3), sts(0), noLeader(), noPod(0)),
			want: Action{Kind: SetReplicas, Replicas: 1}},
		{name: "not bootstrapped, no leader: never lower the StatefulSet (voters may run there)",
			obs:  cluster(3, notBootstrapped(), noLeader(), down(0)),
			want: wantWait(), wantReason: "pod demo-0 is not running"},
		{name: "not bootstrapped: pod 0 not up yet",
			obs:  cluster(1, notBootstrapped(), desired(3), noLeader(), down(0)),
			want: wantWait(), wantReason: "waiting for demo-0 to bootstrap a one-member cluster: pod demo-0 is not running"},
		{name: "pod 0 leads a one-voter cluster: finish bootstrap before scaling",
			obs:  cluster(1, notBootstrapped(), desired(5)),
			want: Action{Kind: FinishBootstrap, ClusterID: testCluster}, wantReason: "one-voter cluster c1"},
		{name: "status lost after bootstrap: adopt the cluster the leader reports",
			obs:  cluster(3, notBootstrapped()),
			want: Action{Kind: FinishBootstrap, ClusterID: testCluster}, wantReason: "with 3 voters"},
		{name: "StatefulSet deleted, no leader: a pod for every claim",
			obs:  cluster(3, desired(3), noSTS(), noLeader(), withClaim(3), withClaim(4)),
			want: Action{Kind: SetReplicas, Replicas: 5}},
		{name: "StatefulSet deleted while scaled 5 to 3 and leavers still voters",
			obs:  cluster(5, desired(3), noSTS()),
			want: Action{Kind: SetReplicas, Replicas: 5}},

		// Steady and the things that stop everything.
		{name: "steady", obs: cluster(3), want: Action{Kind: Steady}},
		{name: "steady with retention Retain", obs: cluster(1, retain()), want: Action{Kind: Steady}},
		{name: "spec out of range", obs: cluster(3, desired(10)), want: wantWait(), wantReason: "outside 1..9"},
		{name: "no leader answering",
			obs:  cluster(3, desired(5), noLeader(), down(1), notReady(2)),
			want: wantWait(), wantReason: "no leader answered: pod demo-1 is not running, pod demo-2 is not ready"},
		{name: "leader of another cluster",
			obs:  cluster(3, func(o *Observation) { o.Raft.ClusterID = 0xbad }),
			want: wantWait(), wantReason: "a person must look"},
		{name: "transfer in progress, even while joint",
			obs:  cluster(5, desired(3), joint(3, 4), func(o *Observation) { o.Raft.LeadTransferee = id(1) }),
			want: wantWait(), wantReason: "leadership transfer from 100 (demo-0) to 101 (demo-1)"},

		// Rule 2: joint first.
		{name: "joint: leave it", obs: cluster(5, desired(3), joint(3, 4)), want: Action{Kind: LeaveJoint}},
		{name: "joint: leave it even when the spec changed again",
			obs:  cluster(5, desired(7), joint(3, 4)),
			want: Action{Kind: LeaveJoint}},
		{name: "joint with a dead pod: still leave it",
			obs:  cluster(5, desired(3), joint(3, 4), down(4)),
			want: Action{Kind: LeaveJoint}},

		// Rule 3: scale up.
		{name: "scale up 3 to 5: raise the StatefulSet",
			obs:  cluster(3, desired(5)),
			want: Action{Kind: SetReplicas, Replicas: 5}},
		{name: "scale up: new pods not up yet",
			obs:  cluster(3, desired(5), sts(5)),
			want: wantWait(), wantReason: "pod demo-3 does not exist, pod demo-4 does not exist"},
		{name: "scale up: add the first answering pod",
			obs:  cluster(3, desired(5), sts(5), withNewPod(3, id(3))),
			want: wantAdd(3, id(3))},
		{name: "scale up: add the next, one per pass",
			obs:  cluster(3, desired(5), sts(5), learner(3, 0), withNewPod(4, id(4))),
			want: wantAdd(4, id(4))},
		{name: "scale up: one learner catching up blocks the promotion of all",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, 880)),
			want: wantWait(), wantReason: "learner 104 (demo-4) catching up: 120 entries behind"},
		{name: "scale up: lag just above the threshold",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, testCommit-DefaultMaxLearnerLag-1)),
			want: wantWait(), wantReason: "101 entries behind"},
		{name: "scale up: lag at the threshold promotes all in one change",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, testCommit-DefaultMaxLearnerLag)),
			want: Action{Kind: PromoteLearners, Promote: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "scale up: a learner the leader does not hear from",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, testCommit), inactive(4)),
			want: wantWait(), wantReason: "learner 104 (demo-4) is not healthy: the leader has not heard from it recently"},
		{name: "scale up: a learner whose pod is not ready",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, testCommit), notReady(4)),
			want: wantWait(), wantReason: "is not healthy: pod demo-4 is not ready"},
		{name: "scale up: wait for every wanted pod before promoting",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit)),
			want: wantWait(), wantReason: "pod demo-4 does not exist"},
		{name: "scale up: a dead voter does not block when a majority is healthy",
			obs:  cluster(3, desired(5), sts(5), down(2), learner(3, testCommit), learner(4, testCommit)),
			want: Action{Kind: PromoteLearners, Promote: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "scale up: two of three voters dead, no promotion",
			obs:  cluster(3, desired(5), sts(5), down(1), down(2), learner(3, testCommit), learner(4, testCommit)),
			want: wantWait(), wantReason: "current configuration (100 (demo-0), 101 (demo-1), 102 (demo-2)) would have 1 healthy of 3"},
		{name: "scale up: a learner's pod lost its volume: remove the stale learner",
			obs:  cluster(3, desired(5), sts(5), learner(3, 500), learner(4, testCommit), lostVolume(3)),
			want: Action{Kind: RemoveLearners, Remove: ids(id, 3), Ordinals: []int{3}}, wantReason: "demo-3 now runs member 203"},
		{name: "scale up: a learner's pod briefly gone is kept",
			obs:  cluster(3, desired(5), sts(5), learner(3, testCommit), learner(4, testCommit), noPod(4)),
			want: wantWait(), wantReason: "pod demo-4 does not exist"},

		// Rule 4: scale down.
		{name: "scale down 5 to 3: remove both leavers in one joint change",
			obs:  cluster(5, desired(3)),
			want: Action{Kind: RemoveVoters, Remove: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "scale down: a dead leaver may go",
			obs:  cluster(5, desired(3), down(4)),
			want: Action{Kind: RemoveVoters, Remove: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "scale down: leader among leavers: transfer to the staying voter with the highest match",
			obs:  cluster(5, desired(3), leader(4), match(0, 990), match(1, 995), match(2, 995)),
			want: Action{Kind: TransferLeadership, TransferTo: id(1), Ordinals: []int{1}}},
		{name: "scale down: transfer skips an unhealthy staying voter",
			obs:  cluster(5, desired(3), leader(3), match(0, 990), match(2, 999), notReady(2)),
			want: Action{Kind: TransferLeadership, TransferTo: id(1), Ordinals: []int{1}}},
		{name: "scale down 3 to 1 led by pod 2",
			obs:  cluster(3, desired(1), leader(2)),
			want: Action{Kind: TransferLeadership, TransferTo: id(0), Ordinals: []int{0}}},
		{name: "scale down: the staying voters lack a healthy majority",
			obs:  cluster(5, desired(3), down(0), down(1), leader(2)),
			want: wantWait(), wantReason: "new configuration (100 (demo-0), 101 (demo-1), 102 (demo-2)) would have 1 healthy of 3"},
		{name: "scale down: the current configuration lacks a healthy majority",
			obs:  cluster(5, desired(3), down(2), down(3), down(4)),
			want: wantWait(), wantReason: "current configuration"},
		{name: "scale down: removal committed, lower the StatefulSet",
			obs:  cluster(5, desired(3), removeVoters(3, 4), removedPod(3), removedPod(4)),
			want: Action{Kind: SetReplicas, Replicas: 3}},
		{name: "scale down: StatefulSet lowered, delete the leavers' claims",
			obs:  cluster(5, desired(3), sts(3), removeVoters(3, 4), noPod(3), noPod(4)),
			want: Action{Kind: DeleteClaims, Claims: claims(3, 4), Ordinals: []int{3, 4}}},
		{name: "scale down: claims wait for their pod to be gone",
			obs:  cluster(5, desired(3), sts(3), removeVoters(3, 4), removedPod(3), terminating(3), noPod(4)),
			want: Action{Kind: DeleteClaims, Claims: claims(4), Ordinals: []int{4}}},
		{name: "scale down with retention Retain keeps claims",
			obs:  cluster(5, desired(3), sts(3), retain(), removeVoters(3, 4), noPod(3), noPod(4)),
			want: Action{Kind: Steady}},
		{name: "scale down: a stale voter of a wanted ordinal is removed",
			obs:  cluster(3, lostVolume(1), voterID(1, newID(1)), withPod(1, newID(1))),
			want: Action{Kind: RemoveVoters, Remove: ids(id, 1), Ordinals: []int{1}}},

		// Rule 5: never below the members.
		{name: "StatefulSet lowered by hand below the voters: raise it back",
			obs:  cluster(5, desired(3), sts(2), removeVoters(3, 4), noPod(3), noPod(4), removeVoters(2), down(2)),
			want: Action{Kind: SetReplicas, Replicas: 3}},
		{name: "StatefulSet not lowered below a voter",
			obs:  cluster(5, desired(3), down(0), down(1)),
			want: wantWait(), wantReason: "cannot remove 103 (demo-3), 104 (demo-4)"},
		{name: "raising the StatefulSet waits for a claim being deleted",
			obs:  cluster(3, desired(5), withClaim(3), claimTerminating(3)),
			want: wantWait(), wantReason: "claim data-demo-3 is being deleted"},

		// Rule 6: the spec changes mid-change.
		{name: "3 to 5 to 3 before promotion: remove both learners in one change",
			obs:  cluster(3, sts(5), learner(3, testCommit), learner(4, 10)),
			want: Action{Kind: RemoveLearners, Remove: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "3 to 5 to 3: learners gone, lower the StatefulSet",
			obs:  cluster(3, sts(5), withNewPod(3, id(3)), withNewPod(4, id(4)), withClaim(3), withClaim(4)),
			want: Action{Kind: SetReplicas, Replicas: 3}},
		{name: "5 to 3 to 7 after leaving joint: recycle the removed pods",
			obs:  cluster(5, desired(7), removeVoters(3, 4), removedPod(3), removedPod(4)),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}},
		{name: "scaled back up onto a retained claim: recycle",
			obs:  cluster(3, desired(5), sts(5), retain(), removedPod(3), withNewPod(4, id(4)), withClaim(3)),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}},
		{name: "a pod that has not learned it was removed is recycled too",
			obs: cluster(3, desired(5), sts(5), withNewPod(3, id(3)), withClaim(3), func(o *Observation) {
				o.Raft.Removed = append(o.Raft.Removed, id(3))
			}),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}},
		{name: "a removed pod beyond the spec is not recycled",
			obs:  cluster(5, desired(3), removeVoters(4), removedPod(4), removeVoters(3), removedPod(3)),
			want: Action{Kind: SetReplicas, Replicas: 3}},
		{name: "a pod claiming removal while still a voter is never deleted",
			obs:  cluster(3, func(o *Observation) { podOf(o, 2).Member.Removed = true }),
			want: wantWait(), wantReason: "yet it is in the configuration"},
		{name: "a pod of another cluster is recycled",
			obs:  cluster(3, desired(4), sts(4), withPod(3, id(3)), withClaim(3), func(o *Observation) { podOf(o, 3).Member.ClusterID = 0xbad }),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}},

		// Replace: lost volume.
		{name: "lost volume: add the new member as a learner",
			obs:  cluster(3, lostVolume(1)),
			want: wantAdd(1, newID(1)), wantReason: "replace voter 101"},
		{name: "lost volume: learner catching up",
			obs:  cluster(3, lostVolume(1), learnerID(1, newID(1), 10)),
			want: wantWait(), wantReason: "990 entries behind"},
		{name: "lost volume: remove the old and promote the new in one joint change",
			obs:  cluster(3, lostVolume(1), learnerID(1, newID(1), testCommit)),
			want: Action{Kind: ReplaceMembers, Promote: ids(newID, 1), Remove: ids(id, 1), Ordinals: []int{1}}},
		{name: "lost volume of pod 0 after bootstrap: replaced like any other",
			obs:  cluster(3, leader(1), lostVolume(0)),
			want: wantAdd(0, newID(0))},
		{name: "lost volume during scale-up: one joint change promotes and replaces",
			obs:  cluster(3, desired(4), sts(4), lostVolume(2), learnerID(2, newID(2), testCommit), learner(3, testCommit)),
			want: Action{Kind: ReplaceMembers, Promote: []uint64{newID(2), id(3)}, Remove: ids(id, 2), Ordinals: []int{2, 3}},
		},
		{name: "lost volume and scale down: the leavers go first",
			obs:  cluster(5, desired(3), lostVolume(1)),
			want: Action{Kind: RemoveVoters, Remove: ids(id, 3, 4), Ordinals: []int{3, 4}}},
		{name: "removal unsafe until the lost volumes are replaced: replace first",
			obs:  cluster(5, desired(3), lostVolume(1), lostVolume(2)),
			want: wantAdd(1, newID(1))},

		// Pods dying mid-change.
		{name: "a wanted learner's pod missing below a lowered StatefulSet: raise it, keep the learner",
			obs:  cluster(3, desired(4), sts(3), learner(3, testCommit), noPod(3)),
			want: Action{Kind: SetReplicas, Replicas: 4}},
		{name: "a learner's pod gone beyond the spec: remove the learner",
			obs:  cluster(3, sts(3), learner(3, testCommit), noPod(3)),
			want: Action{Kind: RemoveLearners, Remove: ids(id, 3), Ordinals: []int{3}}, wantReason: "demo-3 is not wanted"},
		{name: "a pod re-created on a claim being deleted is deleted again",
			obs:  cluster(3, desired(4), sts(4), withClaim(3), claimTerminating(3), withNewPod(3, 0), down(3), pending(3)),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}, wantReason: "while the claim is being deleted"},
		{name: "a recycle interrupted after the claim: finish it, do not add the member",
			obs:  cluster(3, desired(4), sts(4), withNewPod(3, id(3)), withClaim(3), claimTerminating(3)),
			want: Action{Kind: RecyclePod, Pods: pods(3), Claims: claims(3), Ordinals: []int{3}}, wantReason: "the claim of demo-3 (member 103) is being deleted"},
		{name: "a voter whose claim someone deletes keeps its pod",
			obs:  cluster(3, claimTerminating(2)),
			want: Action{Kind: Steady}},
		{name: "a pod re-created on a claim being deleted, of an ordinal with a voter, is deleted again",
			obs:  cluster(3, claimTerminating(2), down(2), pending(2)),
			want: Action{Kind: RecyclePod, Pods: pods(2), Claims: claims(2), Ordinals: []int{2}}},
		{name: "a crashed voter's pod on a claim someone deletes is never deleted",
			obs:  cluster(3, claimTerminating(2), down(2)),
			want: wantWait(), wantReason: "voter 102 (demo-2) is not healthy: pod demo-2 is not running"},
		{name: "a voter's pod not running is left alone, and the cluster is not Steady",
			obs:  cluster(3, down(2)),
			want: wantWait(), wantReason: "voter 102 (demo-2) is not healthy: pod demo-2 is not running"},
		{name: "a voter the leader does not hear from is not Steady",
			obs:  cluster(3, inactive(1)),
			want: wantWait(), wantReason: "voter 101 (demo-1) is not healthy: the leader has not heard from it recently"},
		{name: "a stale status naming as leader a voter whose pod runs another member",
			obs:  cluster(3, leader(1), lostVolume(1), learnerID(1, newID(1), testCommit)),
			want: wantWait(), wantReason: "leader 101 (demo-1)'s pod runs another member"},
		{name: "a voter that is not a pod of ours is reported, not touched",
			obs: cluster(3, func(o *Observation) {
				o.Raft.Voters = append(o.Raft.Voters, 0x999)
				o.Raft.Members[0x999] = Member{ID: 0x999, Name: "other-0"}
			}),
			want: wantWait(), wantReason: `voter 999 is not a pod of demo (named "other-0")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.obs)
			reason := got.Reason
			got.Reason = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Next() = %v\nwant     %v\nreason: %s", got, tt.want, reason)
			}
			if reason == "" || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason %q does not contain %q", reason, tt.wantReason)
			}
		})
	}
}
