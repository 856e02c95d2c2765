package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Scripted scenarios in an eager world (pods start, learners catch up and
// changes commit at once), checking the exact sequence of actions. Every
// step plans from a fresh observation, as a restarted manager would.

// event is one line of a script: the next action's kind, or something done
// to the world.
type event struct {
	want Kind
	// on, when set, are the ordinals the action must be about.
	on   []int
	do   func(*world)
	name string
}

func expect(k Kind) event { return event{want: k} }

// expectOn is expect, also checking the action's ordinals: the pod
// restarted, the new leader.
func expectOn(k Kind, ordinals ...int) event { return event{want: k, on: ordinals} }

// changeTemplate changes the pod template (image, Raft settings): a new
// StatefulSet update revision, which restarts no pod by itself.
func changeTemplate() event {
	return event{do: func(w *world) { w.revision++; w.stsRevision = w.revision }, name: "pod template changed"}
}

func scale(n int) event {
	return event{do: func(w *world) { w.desired = n }, name: fmt.Sprintf("spec.replicas=%d", n)}
}

// loseVolume: pod o restarts at once on an empty volume.
func loseVolume(o int) event {
	return event{do: func(w *world) {
		w.claims[o].vol = volume{}
		w.start(o)
	}, name: fmt.Sprintf("pod %d comes back on an empty volume", o)}
}

// holdDown keeps pod o from running until release.
func holdDown(o int) event {
	return event{do: func(w *world) { w.held[o] = true; w.pods[o].running = false }, name: fmt.Sprintf("pod %d down", o)}
}

func release(o int) event {
	return event{do: func(w *world) { delete(w.held, o) }, name: fmt.Sprintf("pod %d may run", o)}
}

func killPod(o int) event {
	return event{do: func(w *world) { delete(w.pods, o) }, name: fmt.Sprintf("pod %d deleted", o)}
}

func setLeader(o int) event {
	return event{do: func(w *world) { w.leader = w.runningID(o) }, name: fmt.Sprintf("pod %d leads", o)}
}

func retainClaims() event {
	return event{do: func(w *world) { w.retention = RetentionRetain }, name: "retention Retain"}
}

// bootstrapTo is the script from nothing to n steady voters.
func bootstrapTo(n int) []event {
	es := []event{scale(n), expect(SetReplicas), expect(FinishBootstrap)}
	if n == 1 {
		return es
	}
	es = append(es, expect(SetReplicas))
	for range n - 1 {
		es = append(es, expect(AddLearner))
	}
	return append(es, expect(PromoteLearners), expect(LeaveJoint))
}

func TestScripts(t *testing.T) {
	tests := []struct {
		name   string
		script []event
	}{
		{"bootstrap one", bootstrapTo(1)},
		{"bootstrap three: pod 0 alone first, then scale", bootstrapTo(3)},
		{"3 to 5", slices.Concat(bootstrapTo(3), []event{scale(5),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), expect(PromoteLearners), expect(LeaveJoint)})},
		{"5 to 3, leader staying", slices.Concat(bootstrapTo(5), []event{setLeader(1), scale(3),
			expect(RemoveVoters), expect(LeaveJoint), expect(SetReplicas), expect(DeleteClaims)})},
		{"5 to 3, leader leaving: transfer first", slices.Concat(bootstrapTo(5), []event{setLeader(4), scale(3),
			expect(TransferLeadership), expect(RemoveVoters), expect(LeaveJoint), expect(SetReplicas), expect(DeleteClaims)})},
		{"3 to 1", slices.Concat(bootstrapTo(3), []event{setLeader(2), scale(1),
			expect(TransferLeadership), expect(RemoveVoters), expect(LeaveJoint), expect(SetReplicas), expect(DeleteClaims)})},
		{"3 to 5 to 3 before promotion", slices.Concat(bootstrapTo(3), []event{scale(5),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), scale(3),
			expect(RemoveLearners), expect(LeaveJoint), expect(SetReplicas), expect(DeleteClaims)})},
		{"5 to 3 to 7 while joint: leave, recycle the removed, grow", slices.Concat(bootstrapTo(5), []event{scale(3),
			expect(RemoveVoters), scale(7), expect(LeaveJoint), expect(RecyclePod), expect(RecyclePod),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), expect(AddLearner), expect(AddLearner),
			expect(PromoteLearners), expect(LeaveJoint)})},
		{"5 to 3 to 5 with retention Retain: recycle the retained", slices.Concat(bootstrapTo(5), []event{retainClaims(), scale(3),
			expect(RemoveVoters), expect(LeaveJoint), expect(SetReplicas), scale(5),
			expect(SetReplicas), expect(RecyclePod), expect(RecyclePod), expect(AddLearner), expect(AddLearner),
			expect(PromoteLearners), expect(LeaveJoint)})},
		{"lost volume: replace", slices.Concat(bootstrapTo(3), []event{loseVolume(1),
			expect(AddLearner), expect(ReplaceMembers), expect(LeaveJoint)})},
		{"lost volume of pod 0 after bootstrap: joins, never founds a second cluster", slices.Concat(bootstrapTo(3), []event{
			setLeader(1), loseVolume(0), expect(AddLearner), expect(ReplaceMembers), expect(LeaveJoint)})},
		{"lost volume during scale-up: one change promotes and replaces", slices.Concat(bootstrapTo(3), []event{scale(4),
			expect(SetReplicas), expect(AddLearner), loseVolume(2), expect(AddLearner), expect(ReplaceMembers), expect(LeaveJoint)})},
		{"a dead voter does not block a scale-up while a majority is healthy", slices.Concat(bootstrapTo(3), []event{holdDown(2), scale(5),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), expect(PromoteLearners), expect(LeaveJoint), release(2)})},
		{"a dead voter blocks a scale-down that would lose the healthy majority", slices.Concat(bootstrapTo(5), []event{holdDown(1), holdDown(2), scale(3),
			expect(Wait), release(1), expect(RemoveVoters), expect(LeaveJoint),
			// The leavers' pods stay until the dead voter applied their removal.
			expect(Wait), release(2), expect(SetReplicas), expect(DeleteClaims)})},
		{"a pod deleted mid scale-up comes back and the learner is kept", slices.Concat(bootstrapTo(3), []event{scale(5),
			expect(SetReplicas), expect(AddLearner), killPod(3), expect(AddLearner), expect(PromoteLearners), expect(LeaveJoint)})},
		{"a learner's pod loses its volume before promotion", slices.Concat(bootstrapTo(3), []event{scale(5),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), loseVolume(4),
			expect(RemoveLearners), expect(AddLearner), expect(PromoteLearners), expect(LeaveJoint)})},
		{"rolling restart of 3: followers from the highest ordinal, then the leader after a transfer", slices.Concat(bootstrapTo(3), []event{
			changeTemplate(), expectOn(RestartPod, 2), expectOn(RestartPod, 1), expectOn(TransferLeadership, 1), expectOn(RestartPod, 0)})},
		{"rolling restart of 5 led by pod 2", slices.Concat(bootstrapTo(5), []event{setLeader(2), changeTemplate(),
			expectOn(RestartPod, 4), expectOn(RestartPod, 3), expectOn(RestartPod, 1), expectOn(RestartPod, 0),
			expectOn(TransferLeadership, 0), expectOn(RestartPod, 2)})},
		{"rolling restart of 1: the only voter goes down and comes back", slices.Concat(bootstrapTo(1), []event{
			changeTemplate(), expectOn(RestartPod, 0)})},
		{"rolling restart waits for the restarted pod", slices.Concat(bootstrapTo(3), []event{changeTemplate(), expectOn(RestartPod, 2),
			holdDown(2), expect(Wait), expect(Wait), release(2), expectOn(RestartPod, 1), expectOn(TransferLeadership, 1), expectOn(RestartPod, 0)})},
		{"template changed during a scale-up: scale first, then restart", slices.Concat(bootstrapTo(3), []event{changeTemplate(), scale(5),
			expect(SetReplicas), expect(AddLearner), expect(AddLearner), expect(PromoteLearners), expect(LeaveJoint),
			expectOn(RestartPod, 2), expectOn(RestartPod, 1), expectOn(TransferLeadership, 1), expectOn(RestartPod, 0)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(1, &simStats{kinds: map[Kind]int{}})
			w.chaos, w.eager, w.autoLeave, w.retention = false, true, false, RetentionDelete
			var got []string
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("%s\nso far:\n%s", fmt.Sprintf(format, args...), strings.Join(got, "\n"))
			}
			// next is the next action, skipping up to a few Waits for the
			// world (none when a Wait is wanted).
			next := func(wantWait bool) Action {
				t.Helper()
				for range 5 {
					var a Action
					if f := runStepChecked(w, &a); f != "" {
						fail("%s", f)
					}
					got = append(got, a.String())
					if a.Kind != Wait || wantWait {
						return a
					}
				}
				fail("still waiting")
				return Action{}
			}
			for _, e := range tt.script {
				if e.do != nil {
					e.do(w)
					got = append(got, "-- "+e.name)
					continue
				}
				if a := next(e.want == Wait); a.Kind != e.want {
					fail("got %v, want %v", a.Kind, e.want)
				} else if e.on != nil && !slices.Equal(a.Ordinals, e.on) {
					fail("got %v on %v, want on %v", a.Kind, a.Ordinals, e.on)
				}
			}
			if a := next(false); a.Kind != Steady || !w.converged() {
				fail("got %v at the end, want Steady and a converged world", a)
			}
		})
	}
}

// runStepChecked runs one simulation step, returning a broken invariant.
func runStepChecked(w *world, a *Action) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(simFailure)
			if !ok {
				panic(r)
			}
			failure = f.msg
		}
	}()
	*a = w.runStep()
	return ""
}
