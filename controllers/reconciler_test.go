package controllers

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// The first pass of a new cluster creates its Services, ConfigMap and
// budget, and the StatefulSet with pod 0 alone, all owned by the cluster.
// Deleting them with the cluster is the garbage collector's work, which
// envtest does not run (no kube-controller-manager): the owner references
// are checked here, the deletion in test/e2e.
func TestNewClusterOwnedObjects(t *testing.T) {
	h := newHarness(t, nil) // spec.replicas defaults to 3
	h.step(plan.SetReplicas)
	rc := h.cluster()
	if *rc.Spec.Replicas != 3 {
		t.Fatalf("spec.replicas %d, want the default 3", *rc.Spec.Replicas)
	}
	peer, svc, cm, pdb, sts := &corev1.Service{}, &corev1.Service{}, &corev1.ConfigMap{}, &policyv1.PodDisruptionBudget{}, &appsv1.StatefulSet{}
	for _, o := range []struct {
		obj  client.Object
		name string
	}{{peer, "demo-peer"}, {svc, "demo"}, {cm, "demo-bootstrap"}, {pdb, "demo"}, {sts, "demo"}} {
		h.get(o.obj, o.name)
		ref := metav1.GetControllerOf(o.obj)
		if ref == nil || ref.UID != rc.UID || ref.Kind != "RaftCluster" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("%T %s: controller reference %+v, want the RaftCluster blocking owner deletion", o.obj, o.name, ref)
		}
		if !isSubset(selectorLabels(rc), o.obj.GetLabels()) {
			t.Errorf("%T %s: labels %v lack the selector labels", o.obj, o.name, o.obj.GetLabels())
		}
	}
	if peer.Spec.ClusterIP != corev1.ClusterIPNone || !peer.Spec.PublishNotReadyAddresses {
		t.Errorf("peer Service clusterIP %q, publishNotReadyAddresses %v; want headless, true", peer.Spec.ClusterIP, peer.Spec.PublishNotReadyAddresses)
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.PublishNotReadyAddresses {
		t.Errorf("client Service %+v, want a cluster IP for ready members", svc.Spec)
	}
	if got := cm.Data[bootstrapKey]; got != "demo-0" {
		t.Errorf("bootstrap member %q, want demo-0", got)
	}
	if got := pdb.Spec.MinAvailable.IntValue(); got != 2 {
		t.Errorf("budget minAvailable %d before any member answers, want a majority of spec.replicas, 2", got)
	}
	if *sts.Spec.Replicas != 1 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("StatefulSet replicas %d, %s, %s; want 1 (pod 0 bootstraps alone), Parallel, OnDelete",
			*sts.Spec.Replicas, sts.Spec.PodManagementPolicy, sts.Spec.UpdateStrategy.Type)
	}
	if got := sts.Spec.Template.Spec.Containers[0].Image; got != "raftnode:test" {
		t.Errorf("image %q, want the operator's default raftnode:test", got)
	}
	if want := []string{"before-SetReplicas", "after-SetReplicas"}; !slices.Equal(h.failpoints, want) {
		t.Errorf("failpoints %v, want %v", h.failpoints, want)
	}
	if rc.Status.Phase != raftv1.PhasePending || condition(rc, raftv1.ConditionProgressing) != "True/"+raftv1.ReasonBootstrapping {
		t.Errorf("phase %s, Progressing %s; want Pending, True/Bootstrapping", rc.Status.Phase, condition(rc, raftv1.ConditionProgressing))
	}
	if calls := h.raft.takeCalls(); len(calls) != 0 {
		t.Errorf("member calls %v before any pod runs", calls)
	}
}

func TestBootstrap(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.step(plan.SetReplicas)
	h.step(plan.Wait) // no pod yet
	if rc := h.cluster(); rc.Status.Phase != raftv1.PhasePending {
		t.Errorf("phase %s without pods, want Pending", rc.Status.Phase)
	}

	h.startPod(0) // named in the ConfigMap: founds the cluster
	h.step(plan.FinishBootstrap)
	rc := h.cluster()
	if rc.Status.ClusterID != "c1" {
		t.Errorf("status.clusterID %q, want c1", rc.Status.ClusterID)
	}
	if rc.Status.Phase != raftv1.PhaseBootstrapping {
		t.Errorf("phase %s, want Bootstrapping", rc.Status.Phase)
	}
	cm := &corev1.ConfigMap{}
	h.get(cm, "demo-bootstrap")
	if got, ok := cm.Data[bootstrapKey]; !ok || got != "" {
		t.Errorf("bootstrap member %q after bootstrap, want empty: a pod 0 back on an empty volume must join", got)
	}

	h.step(plan.Steady)
	rc = h.cluster()
	s := rc.Status
	if s.Phase != raftv1.PhaseAvailable || s.Leader != "demo-0" || s.Replicas != 1 || s.ReadyReplicas != 1 || s.ObservedGeneration != rc.Generation {
		t.Errorf("status %+v, want Available, leader demo-0, 1 of 1 ready, generation %d", s, rc.Generation)
	}
	wantConds := map[string]string{
		raftv1.ConditionAvailable:          "True/" + raftv1.ReasonReconciled,
		raftv1.ConditionProgressing:        "False/" + raftv1.ReasonReconciled,
		raftv1.ConditionDegraded:           "False/" + raftv1.ReasonReconciled,
		raftv1.ConditionMembershipChanging: "False/" + raftv1.ReasonReconciled,
	}
	for typ, want := range wantConds {
		if got := condition(rc, typ); got != want {
			t.Errorf("%s %s, want %s", typ, got, want)
		}
	}
	if got, want := memberNamesRoles(rc), []string{"demo-0:101:Leader:true"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if got := h.minAvailable(); got != 1 {
		t.Errorf("budget minAvailable %d, want 1", got)
	}

	// A steady pass writes nothing: the objects as the API server stored
	// them (with defaults) match what the operator wants.
	before, rv := h.resourceVersions(), rc.ResourceVersion
	h.step(plan.Steady)
	if after := h.resourceVersions(); !reflect.DeepEqual(before, after) {
		t.Errorf("a steady pass updated objects:\nbefore %v\n after %v", before, after)
	}
	if got := h.cluster().ResourceVersion; got != rv {
		t.Errorf("a steady pass rewrote the RaftCluster (status) from %s to %s", rv, got)
	}
}

// status.selector is the pods' label selector; the scale subresource
// reads it and spec.replicas and status.replicas, so `kubectl scale` and a
// HorizontalPodAutoscaler work.
func TestScaleSubresource(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	rc := h.cluster()
	if rc.Status.Selector != selectorString(rc) {
		t.Errorf("status.selector %q, want %q", rc.Status.Selector, selectorString(rc))
	}
	sel, err := labels.Parse(rc.Status.Selector)
	if err != nil {
		t.Fatalf("parse status.selector: %v", err)
	}
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "demo-0" {
		t.Errorf("status.selector selects %d pods, want demo-0", len(pods.Items))
	}
	scale := &autoscalingv1.Scale{}
	if err := h.c.SubResource("scale").Get(h.ctx, rc, scale); err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if scale.Status.Selector != rc.Status.Selector || scale.Spec.Replicas != 1 || scale.Status.Replicas != 1 {
		t.Errorf("scale %+v, want selector %q, 1 replica wanted and 1 voter", scale, rc.Status.Selector)
	}
	h.setReplicas(3)
	if got := *h.cluster().Spec.Replicas; got != 3 {
		t.Errorf("spec.replicas %d after scaling to 3", got)
	}
}

func TestScaleUp(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.raft.holdJoint = true // as if the leader had not left the joint configuration yet
	h.raft.learnerLag = 500

	h.setReplicas(3)
	h.step(plan.SetReplicas)
	if got := h.statefulSetReplicas(); got != 3 {
		t.Fatalf("StatefulSet replicas %d, want 3", got)
	}
	h.step(plan.Wait) // pods 1 and 2 do not run yet
	if calls := h.raft.takeCalls(); len(calls) != 0 {
		t.Fatalf("member calls %v before the new pods run", calls)
	}

	h.startPod(1)
	h.startPod(2)
	h.step(plan.AddLearner)
	h.step(plan.AddLearner)
	h.step(plan.Wait) // the learners are 500 entries behind
	rc := h.cluster()
	if got := condition(rc, raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonLearnerCatchingUp {
		t.Errorf("Progressing %s while learners catch up, want True/LearnerCatchingUp", got)
	}
	if got := condition(rc, raftv1.ConditionMembershipChanging); got != "True/"+raftv1.ReasonLearnerCatchingUp {
		t.Errorf("MembershipChanging %s while learners catch up", got)
	}
	if rc.Status.Phase != raftv1.PhaseScaling {
		t.Errorf("phase %s while learners catch up, want Scaling", rc.Status.Phase)
	}
	if got, want := memberNamesRoles(rc), []string{"demo-0:101:Leader:true", "demo-1:102:Learner:true", "demo-2:103:Learner:true"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}

	h.raft.catchUp()
	h.step(plan.PromoteLearners)
	h.step(plan.LeaveJoint)
	h.step(plan.Steady)

	id1, id2 := h.raft.idOf("demo-1"), h.raft.idOf("demo-2")
	addr := h.raft.address
	want := []string{
		fmt.Sprintf("AddLearner %x demo-1 peer=%s client=%s", id1, addr("demo-1", peerPort), addr("demo-1", clientPort)),
		fmt.Sprintf("AddLearner %x demo-2 peer=%s client=%s", id2, addr("demo-2", peerPort), addr("demo-2", clientPort)),
		fmt.Sprintf("ChangeMembership ADD_VOTER:%x ADD_VOTER:%x explicitLeave=false", id1, id2),
		"LeaveJoint",
	}
	if got := h.raft.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("member calls\n got %q\nwant %q", got, want)
	}
	rc = h.cluster()
	s := rc.Status
	if s.Replicas != 3 || s.ReadyReplicas != 3 || s.Leader != "demo-0" || s.Phase != raftv1.PhaseAvailable {
		t.Errorf("status replicas %d, ready %d, leader %q, phase %s; want 3, 3, demo-0, Available", s.Replicas, s.ReadyReplicas, s.Leader, s.Phase)
	}
	if got := condition(rc, raftv1.ConditionAvailable); got != "True/"+raftv1.ReasonReconciled {
		t.Errorf("Available %s", got)
	}
	if got, want := memberNamesRoles(rc), []string{"demo-0:101:Leader:true", "demo-1:102:Follower:true", "demo-2:103:Follower:true"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if got := h.minAvailable(); got != 2 {
		t.Errorf("budget minAvailable %d with 3 voters, want 2", got)
	}
}

func TestScaleDownMovesLeadershipFirst(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	id0, id1, id2 := h.raft.idOf("demo-0"), h.raft.idOf("demo-1"), h.raft.idOf("demo-2")
	h.raft.elect(id2)

	h.setReplicas(1)
	h.step(plan.TransferLeadership)
	h.step(plan.RemoveVoters)
	want := []string{
		fmt.Sprintf("TransferLeadership %x", id0),
		fmt.Sprintf("ChangeMembership REMOVE:%x REMOVE:%x explicitLeave=false", id1, id2),
	}
	if got := h.raft.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("member calls\n got %q\nwant %q", got, want)
	}
	if got := h.statefulSetReplicas(); got != 3 {
		t.Errorf("StatefulSet replicas %d before the removal was observed applied, want 3", got)
	}

	h.drain()
	h.step(plan.SetReplicas)
	if got := h.statefulSetReplicas(); got != 1 {
		t.Errorf("StatefulSet replicas %d, want 1", got)
	}
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonScalingDown {
		t.Errorf("Progressing %s while lowering the StatefulSet, want True/ScalingDown", got)
	}
	h.step(plan.Wait) // the claims go once their pods are gone
	for _, c := range []string{"data-demo-1", "data-demo-2"} {
		pvc := &corev1.PersistentVolumeClaim{}
		if h.get(pvc, c); pvc.DeletionTimestamp != nil {
			t.Errorf("claim %s deleted while its pod runs", c)
		}
	}

	h.deletePod(1) // as the StatefulSet controller would
	h.deletePod(2)
	h.step(plan.DeleteClaims)
	for _, c := range []string{"data-demo-1", "data-demo-2"} {
		pvc := &corev1.PersistentVolumeClaim{}
		// pvc-protection may keep a deleted claim for the controller-manager
		// to release, which envtest does not run.
		if err := h.c.Get(h.ctx, h.key(c), pvc); !apierrors.IsNotFound(err) && pvc.DeletionTimestamp == nil {
			t.Errorf("claim %s not deleted (get: %v)", c, err)
		}
	}
	pvc0 := &corev1.PersistentVolumeClaim{}
	if h.get(pvc0, "data-demo-0"); pvc0.DeletionTimestamp != nil {
		t.Errorf("claim data-demo-0 of the staying member deleted")
	}
	h.step(plan.Steady)
	if calls := h.raft.takeCalls(); len(calls) != 0 {
		t.Errorf("member calls %v after the removal", calls)
	}

	rc := h.cluster()
	s := rc.Status
	if s.Replicas != 1 || s.ReadyReplicas != 1 || s.Leader != "demo-0" || s.Phase != raftv1.PhaseAvailable {
		t.Errorf("status replicas %d, ready %d, leader %q, phase %s; want 1, 1, demo-0, Available", s.Replicas, s.ReadyReplicas, s.Leader, s.Phase)
	}
	if got, want := memberNamesRoles(rc), []string{fmt.Sprintf("demo-0:%x:Leader:true", id0)}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if got := h.minAvailable(); got != 1 {
		t.Errorf("budget minAvailable %d with 1 voter, want 1", got)
	}
}

func TestPaused(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	rc := h.cluster()
	rc.Annotations = map[string]string{raftv1.AnnotationPaused: "true"}
	rc.Spec.Replicas = ptrTo(int32(3)) // would raise the StatefulSet
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	before := h.resourceVersions()
	for range 2 {
		if _, err := h.reconcile(); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if after := h.resourceVersions(); !reflect.DeepEqual(before, after) {
		t.Errorf("a paused pass updated objects:\nbefore %v\n after %v", before, after)
	}
	if calls, events := h.raft.takeCalls(), h.events.take(); len(calls) != 0 || len(events) != 0 || len(h.failpoints) != 0 {
		t.Errorf("a paused pass made calls %v, events %v, steps %v", calls, events, h.failpoints)
	}
	rc = h.cluster()
	if got := condition(rc, raftv1.ConditionProgressing); got != "False/"+raftv1.ReasonPaused {
		t.Errorf("Progressing %s, want False/Paused", got)
	}
	if rc.Status.Leader != "demo-0" || rc.Status.Replicas != 1 {
		t.Errorf("status %+v: a paused cluster still reports what it sees", rc.Status)
	}

	delete(rc.Annotations, raftv1.AnnotationPaused)
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.step(plan.SetReplicas)
	if got := h.statefulSetReplicas(); got != 3 {
		t.Errorf("StatefulSet replicas %d after unpausing, want 3", got)
	}
}

// A member call that fails leaves a Warning event and ReconcileError in
// Progressing, and the pass returns the error; the next pass retries. The
// after- failpoint is not called for a step that failed.
func TestMemberCallFails(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.setReplicas(3)
	h.step(plan.SetReplicas)
	h.startPod(1)
	h.startPod(2)
	h.failpoints = nil
	h.raft.fail["AddLearner"] = errors.New("injected failure")

	if _, err := h.reconcile(); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("reconcile error %v, want the injected failure", err)
	}
	events := h.events.take()
	if len(events) != 1 || events[0].Type != corev1.EventTypeWarning || events[0].Reason != raftv1.ReasonScalingUp ||
		events[0].Action != "AddLearner" || !strings.Contains(events[0].Note, "injected failure") {
		t.Errorf("events %+v, want one Warning ScalingUp AddLearner with the error", events)
	}
	rc := h.cluster()
	c := rc.Status.Condition(raftv1.ConditionProgressing)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != raftv1.ReasonReconcileError || !strings.Contains(c.Message, "injected failure") {
		t.Errorf("Progressing %+v, want True/ReconcileError with the error", c)
	}
	if rc.Status.Leader != "demo-0" || len(rc.Status.Members) != 3 {
		t.Errorf("status %+v after a failed step, want what the pass observed", rc.Status)
	}
	if want := []string{"before-AddLearner"}; !slices.Equal(h.failpoints, want) {
		t.Errorf("failpoints %v, want %v", h.failpoints, want)
	}
	id1 := h.raft.idOf("demo-1")
	addLearner1 := fmt.Sprintf("AddLearner %x demo-1 peer=%s client=%s", id1, h.raft.address("demo-1", peerPort), h.raft.address("demo-1", clientPort))
	if got, want := h.raft.takeCalls(), []string{addLearner1 + " -> error"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	h.step(plan.AddLearner) // retried
	if got, want := h.raft.takeCalls(), []string{addLearner1}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonScalingUp {
		t.Errorf("Progressing %s after the retry, want True/ScalingUp", got)
	}
}

// The failpoint hook runs around every step. A manager that dies right
// after a step (the failpoint panics, as cmd/manager's crash failpoint
// exits) resumes from what the cluster reports: the next pass takes the
// next step, never the same one again.
func TestFailpointCrashBetweenSteps(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.setReplicas(3)
	h.step(plan.SetReplicas)
	if want := []string{"before-SetReplicas", "after-SetReplicas"}; !slices.Equal(h.failpoints, want) {
		t.Errorf("failpoints %v, want %v", h.failpoints, want)
	}
	h.startPod(1)
	h.startPod(2)
	h.events.take()

	type crash struct{}
	h.r.Failpoint = func(name string) {
		if name == "after-AddLearner" {
			panic(crash{})
		}
	}
	func() {
		defer func() {
			if r := recover(); r != (crash{}) {
				t.Fatalf("recovered %v, want the failpoint's crash", r)
			}
		}()
		_, _ = h.reconcile()
	}()
	h.r.Failpoint = nil
	id1, id2 := h.raft.idOf("demo-1"), h.raft.idOf("demo-2")
	h.events.take()
	h.step(plan.AddLearner)
	h.step(plan.PromoteLearners)
	h.step(plan.Steady)
	var got []string
	for _, c := range h.raft.takeCalls() {
		got = append(got, strings.Fields(c)[0]+" "+strings.Fields(c)[1])
	}
	want := []string{
		fmt.Sprintf("AddLearner %x", id1), fmt.Sprintf("AddLearner %x", id2),
		fmt.Sprintf("ChangeMembership ADD_VOTER:%x", id1),
	}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// Pod 0 comes back on an empty volume after bootstrap: the ConfigMap no
// longer names it, so it starts as a new member and replaces its old self
// (learner first, then one joint change promoting it and removing the old
// id) instead of founding a second cluster.
func TestReplaceMemberWithLostVolume(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	id0, id1 := h.raft.idOf("demo-0"), h.raft.idOf("demo-1")
	h.raft.elect(id1) // pod 0's node fails; demo-1 wins the election
	h.loseVolume(0)
	h.step(plan.Wait) // the StatefulSet brings pod 0 back

	h.startPod(0)
	id0b := h.raft.idOf("demo-0")
	if id0b == id0 {
		t.Fatalf("pod 0 on an empty volume runs the old member %x", id0)
	}
	h.raft.learnerLag = 500
	h.step(plan.AddLearner)
	rc := h.cluster()
	if got := condition(rc, raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonReplacingMember {
		t.Errorf("Progressing %s while adding the replacement, want True/ReplacingMember", got)
	}
	h.step(plan.Wait) // the new learner catches up
	rc = h.cluster()
	m := rc.Status.Members[0]
	if m.Name != "demo-0" || m.ID != formatID(id0b) || m.ReplacesID != formatID(id0) || m.Role != raftv1.RoleLearner {
		t.Errorf("member %+v, want demo-0 learner %x replacing %x", m, id0b, id0)
	}

	h.raft.catchUp()
	h.step(plan.ReplaceMembers)
	h.step(plan.Steady)
	addr := h.raft.address
	want := []string{
		fmt.Sprintf("AddLearner %x demo-0 peer=%s client=%s", id0b, addr("demo-0", peerPort), addr("demo-0", clientPort)),
		fmt.Sprintf("ChangeMembership ADD_VOTER:%x REMOVE:%x explicitLeave=false", id0b, id0),
	}
	if got := h.raft.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("member calls\n got %q\nwant %q", got, want)
	}
	rc = h.cluster()
	if m := rc.Status.Members[0]; m.ID != formatID(id0b) || m.ReplacesID != "" || m.Role != raftv1.RoleFollower {
		t.Errorf("member %+v after the replacement, want follower %x", m, id0b)
	}
	if rc.Status.Replicas != 3 || rc.Status.ReadyReplicas != 3 || rc.Status.Leader != "demo-1" {
		t.Errorf("status %+v, want 3 of 3 voters ready, leader demo-1", rc.Status)
	}
}

// A change of the pod template (here the image) is written to the
// StatefulSet without touching its replicas; with the OnDelete strategy the
// running pods are not restarted by it (the operator restarts them once the
// StatefulSet reports the new revision: TestRollingRestart).
func TestSpecChangeUpdatesTemplate(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	rc := h.cluster()
	rc.Spec.Image = "raftnode:v2"
	rc.Spec.Raft.ElectionTicks = 30
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.step(plan.Steady)
	sts := &appsv1.StatefulSet{}
	h.get(sts, "demo")
	c := sts.Spec.Template.Spec.Containers[0]
	if c.Image != "raftnode:v2" || envOf(&c)["RAFTNODE_ELECTION_TICKS"].Value != "30" || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet image %q, election ticks %q, replicas %d; want raftnode:v2, 30, 1",
			c.Image, envOf(&c)["RAFTNODE_ELECTION_TICKS"].Value, *sts.Spec.Replicas)
	}
	if got := h.cluster().Status.ObservedGeneration; got != rc.Generation {
		t.Errorf("observedGeneration %d, want %d", got, rc.Generation)
	}
}

// A change of the pod template (here spec.raft.electionTicks) restarts the
// members one at a time, the leader last: each outdated follower's pod is
// deleted once the one before is back and ready, leadership then moves off
// the last outdated pod, which goes last. envtest has no StatefulSet
// controller: the test plays it, reporting the new update revision and
// re-creating each deleted pod from it on the same claim, so the member
// comes back with its id and data.
func TestRollingRestart(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.revision = "demo-rev1"
	h.converge()
	h.setUpdateRevision("demo-rev1")
	h.step(plan.Steady)
	ids := map[string]uint64{}
	claims := map[string]string{}
	for _, name := range []string{"demo-0", "demo-1", "demo-2"} {
		ids[name] = h.raft.idOf(name)
		c := &corev1.PersistentVolumeClaim{}
		h.get(c, "data-"+name)
		claims[c.Name] = string(c.UID)
	}
	sts := &appsv1.StatefulSet{}
	h.get(sts, "demo")
	generation := sts.Generation

	rc := h.cluster()
	rc.Spec.Raft.ElectionTicks = 30
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.step(plan.Steady) // the template is written; no new revision reported yet
	h.get(sts, "demo")
	if c := sts.Spec.Template.Spec.Containers[0]; sts.Generation == generation || envOf(&c)["RAFTNODE_ELECTION_TICKS"].Value != "30" {
		t.Fatalf("StatefulSet generation %d (was %d), election ticks %q: the template was not updated",
			sts.Generation, generation, envOf(&c)["RAFTNODE_ELECTION_TICKS"].Value)
	}
	h.setUpdateRevision("demo-rev2")

	upgrading := func(when string) {
		t.Helper()
		rc := h.cluster()
		if rc.Status.Phase != raftv1.PhaseUpgrading || condition(rc, raftv1.ConditionProgressing) != "True/"+raftv1.ReasonRollingRestart {
			t.Errorf("%s: phase %s, Progressing %s; want Upgrading, True/RollingRestart", when, rc.Status.Phase, condition(rc, raftv1.ConditionProgressing))
		}
		if got := condition(rc, raftv1.ConditionAvailable); got != availableTrue {
			t.Errorf("%s: Available %s, want %s: a majority stays up", when, got, availableTrue)
		}
	}
	restart := func(name string) {
		t.Helper()
		h.step(plan.RestartPod)
		if e := h.lastEvents[0]; e.Reason != raftv1.ReasonRollingRestart || !strings.Contains(e.Note, "restarting "+name) {
			t.Errorf("event %+v, want RollingRestart restarting %s", e, name)
		}
		upgrading("restarting " + name)
		if err := h.c.Get(h.ctx, h.key(name), &corev1.Pod{}); !apierrors.IsNotFound(err) {
			t.Fatalf("pod %s not deleted: %v", name, err)
		}
	}
	comeBack := func(name string) {
		t.Helper()
		h.kubelet() // its member stops; the StatefulSet re-creates the pod from the new revision
		if got := h.raft.idOf(name); got != ids[name] {
			t.Errorf("%s came back as member %x, want %x: a restart keeps the member", name, got, ids[name])
		}
	}

	restart("demo-2")
	h.step(plan.Wait) // one at a time: demo-2 is not back
	upgrading("waiting for demo-2")
	if c := h.cluster().Status.Condition(raftv1.ConditionProgressing); !strings.Contains(c.Message, "pod demo-2 does not exist") {
		t.Errorf("Progressing message %q, want it to name demo-2", c.Message)
	}
	comeBack("demo-2")
	restart("demo-1")
	h.step(plan.Wait)
	comeBack("demo-1")
	h.step(plan.TransferLeadership) // only the leader's pod is outdated
	upgrading("moving leadership off demo-0")
	restart("demo-0")
	h.step(plan.Wait)
	comeBack("demo-0")
	h.step(plan.Steady)

	if got, want := h.raft.takeCalls(), []string{fmt.Sprintf("TransferLeadership %x", ids["demo-1"])}; !slices.Equal(got, want) {
		t.Errorf("member calls %q, want %q: no membership change", got, want)
	}
	want := map[string]string{"demo-0": "demo-rev2", "demo-1": "demo-rev2", "demo-2": "demo-rev2"}
	if got := h.podRevisions(); !reflect.DeepEqual(got, want) {
		t.Errorf("pod revisions %v, want %v", got, want)
	}
	for name, uid := range claims {
		c := &corev1.PersistentVolumeClaim{}
		if h.get(c, name); string(c.UID) != uid || c.DeletionTimestamp != nil {
			t.Errorf("claim %s replaced or deleted by a restart", name)
		}
	}
	rc = h.cluster()
	s := rc.Status
	if s.Phase != raftv1.PhaseAvailable || s.Leader != "demo-1" || s.Replicas != 3 || s.ReadyReplicas != 3 || condition(rc, raftv1.ConditionAvailable) != availableTrue {
		t.Errorf("status phase %s, leader %q, %d of %d ready, Available %s; want Available, demo-1, 3 of 3, %s",
			s.Phase, s.Leader, s.ReadyReplicas, s.Replicas, condition(rc, raftv1.ConditionAvailable), availableTrue)
	}
	wantMembers := []string{
		fmt.Sprintf("demo-0:%x:Follower:true", ids["demo-0"]),
		fmt.Sprintf("demo-1:%x:Leader:true", ids["demo-1"]),
		fmt.Sprintf("demo-2:%x:Follower:true", ids["demo-2"]),
	}
	if got := memberNamesRoles(rc); !slices.Equal(got, wantMembers) {
		t.Errorf("members %v, want %v", got, wantMembers)
	}
}

// A cluster deleted before its pass is not an error, and nothing is
// created for it.
func TestDeletedCluster(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	if err := h.c.Delete(h.ctx, h.cluster()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(); err != nil {
		t.Errorf("reconcile of a deleted cluster: %v", err)
	}
	if err := h.c.Get(h.ctx, h.key("demo-peer"), &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Errorf("get the peer Service of a deleted cluster: %v, want NotFound", err)
	}
}

// With retention Retain, a scale-down keeps the leavers' claims; a later
// scale-up finds removed members on them, and each such pod is recycled
// (claim, then pod, deleted) to come back as a new member. A pod that the
// StatefulSet re-creates on the claim still being deleted stays Pending and
// holds the claim: it is deleted again.
func TestRetainedClaimsAreRecycled(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	id1, id2 := h.raft.idOf("demo-1"), h.raft.idOf("demo-2")
	rc := h.cluster()
	rc.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = raftv1.RetentionRetain
	rc.Spec.Replicas = ptrTo(int32(1))
	if err := h.c.Update(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.step(plan.RemoveVoters)
	h.drain()
	h.step(plan.SetReplicas)
	h.deletePod(1)
	h.deletePod(2)
	h.step(plan.Steady)
	retained := &corev1.PersistentVolumeClaim{}
	if h.get(retained, "data-demo-1"); retained.DeletionTimestamp != nil {
		t.Fatalf("claim data-demo-1 deleted under retention Retain")
	}

	h.setReplicas(3)
	h.step(plan.SetReplicas)
	h.startPod(1) // on the retained claims: the removed members
	h.startPod(2)
	if h.raft.idOf("demo-1") != id1 || h.raft.idOf("demo-2") != id2 {
		t.Fatalf("pods on the retained claims run new members")
	}
	h.step(plan.RecyclePod)
	claim := &corev1.PersistentVolumeClaim{}
	if err := h.c.Get(h.ctx, h.key("data-demo-1"), claim); err == nil && claim.DeletionTimestamp == nil {
		t.Errorf("claim data-demo-1 of a removed member not deleted by the recycle")
	}
	if err := h.c.Get(h.ctx, h.key("demo-1"), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod demo-1 of a removed member not deleted: %v", err)
	}

	if err := h.c.Get(h.ctx, h.key("data-demo-1"), claim); err == nil {
		// pvc-protection keeps the claim: a pod re-created on it now never
		// starts, and must go again.
		h.createPendingPod(1)
		h.step(plan.RecyclePod)
		if err := h.c.Get(h.ctx, h.key("demo-1"), &corev1.Pod{}); !apierrors.IsNotFound(err) {
			t.Errorf("pending pod demo-1 on the claim being deleted not deleted: %v", err)
		}
	} else {
		t.Logf("the API server deleted the claim at once (no pvc-protection): the pending-pod case is not exercised")
	}

	h.kubelet() // demo-1 comes back on a new claim
	h.step(plan.RecyclePod)
	h.kubelet() // and demo-2
	h.step(plan.AddLearner)
	h.step(plan.AddLearner)
	h.probe() // the learners' pods become ready
	h.step(plan.PromoteLearners)
	h.step(plan.Steady)
	if a, b := h.raft.idOf("demo-1"), h.raft.idOf("demo-2"); a == id1 || b == id2 {
		t.Errorf("recycled pods run members %x, %x; want new ones, not %x, %x", a, b, id1, id2)
	}
	if s := h.cluster().Status; s.Replicas != 3 || s.ReadyReplicas != 3 || s.Phase != raftv1.PhaseAvailable {
		t.Errorf("status %+v, want 3 of 3 voters ready, Available", s)
	}
}

// SetupWithManager registers the controller and its watches (RaftClusters,
// owned objects, pods and claims by label) without error. The manager is not
// started: the other tests drive Reconcile directly.
func TestSetupWithManager(t *testing.T) {
	api := server(t)
	mgr, err := ctrl.NewManager(api.Config, ctrl.Options{
		Scheme:                 api.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	r := &RaftClusterReconciler{Client: mgr.GetClient(), Scheme: api.Scheme, Members: NewMemberClient}
	if err := r.SetupWithManager(mgr, controller.Options{SkipNameValidation: ptrTo(true)}); err != nil {
		t.Fatalf("SetupWithManager: %v", err)
	}
}

// The spec changes back while a scale-up is under way: the learner added
// for the pod no longer wanted is removed (not promoted), the StatefulSet
// lowered, and the claim deleted once the pod is gone.
func TestScaleDownMidScaleUp(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.setReplicas(3)
	h.step(plan.SetReplicas)
	h.startPod(1)
	h.step(plan.AddLearner) // pod 2 never starts
	id1 := h.raft.idOf("demo-1")
	h.raft.takeCalls()

	h.setReplicas(1)
	h.step(plan.RemoveLearners)
	if got, want := h.raft.takeCalls(), []string{fmt.Sprintf("ChangeMembership REMOVE:%x explicitLeave=false", id1)}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	h.drain()
	h.step(plan.SetReplicas)
	if got := h.statefulSetReplicas(); got != 1 {
		t.Errorf("StatefulSet replicas %d, want 1", got)
	}
	h.deletePod(1)
	h.step(plan.DeleteClaims)
	h.step(plan.Steady)
	if s := h.cluster().Status; s.Replicas != 1 || len(s.Members) != 1 || s.Phase != raftv1.PhaseAvailable {
		t.Errorf("status %+v, want one voter, Available", s)
	}
}

// The leader's pod goes: no member answers as leader, status says so and
// keeps the last known voter count, and nothing is changed blind. Once
// another member leads the cluster is degraded until the pod comes back on
// its volume, as the same member.
func TestLeaderLost(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	id0, id1 := h.raft.idOf("demo-0"), h.raft.idOf("demo-1")
	h.deletePod(0)
	h.step(plan.Wait)
	rc := h.cluster()
	if rc.Status.Phase != raftv1.PhaseDegraded || rc.Status.Leader != "" || rc.Status.Replicas != 3 {
		t.Errorf("phase %s, leader %q, replicas %d; want Degraded, none, the last known 3", rc.Status.Phase, rc.Status.Leader, rc.Status.Replicas)
	}
	for typ, want := range map[string]string{
		raftv1.ConditionAvailable:   "False/" + raftv1.ReasonNoLeader,
		raftv1.ConditionDegraded:    "True/" + raftv1.ReasonNoLeader,
		raftv1.ConditionProgressing: "True/" + raftv1.ReasonNoLeader,
	} {
		if got := condition(rc, typ); got != want {
			t.Errorf("%s %s, want %s", typ, got, want)
		}
	}
	if got := h.minAvailable(); got != 2 {
		t.Errorf("budget minAvailable %d without a leader, want the last one, 2", got)
	}

	h.raft.elect(id1)
	h.step(plan.Wait)
	rc = h.cluster()
	if rc.Status.Phase != raftv1.PhaseDegraded || rc.Status.Leader != "demo-1" || rc.Status.ReadyReplicas != 2 ||
		condition(rc, raftv1.ConditionAvailable) != "True/"+raftv1.ReasonReconciled ||
		condition(rc, raftv1.ConditionDegraded) != "True/"+raftv1.ReasonMembersNotReady {
		t.Errorf("status %+v, want Degraded with leader demo-1 and 2 of 3 ready, Available", rc.Status)
	}

	h.kubelet() // pod 0 comes back on its claim
	if got := h.raft.idOf("demo-0"); got != id0 {
		t.Errorf("pod 0 back on its volume runs member %x, want %x", got, id0)
	}
	h.step(plan.Steady)
	if calls := h.raft.takeCalls(); len(calls) != 0 {
		t.Errorf("member calls %v: nothing should change", calls)
	}
}

// The status loses the cluster id (restored from a backup, wiped by hand)
// while no member runs: the bootstrap ConfigMap stays in join mode, so a
// pod 0 that came back empty could not found a second cluster; once a
// leader answers, the id is recorded again.
func TestLostStatusKeepsJoinMode(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.deletePod(0)
	rc := h.cluster()
	rc.Status = raftv1.RaftClusterStatus{}
	if err := h.c.Status().Update(h.ctx, rc); err != nil {
		t.Fatalf("wipe status: %v", err)
	}
	h.step(plan.Wait)
	cm := &corev1.ConfigMap{}
	h.get(cm, "demo-bootstrap")
	if got := cm.Data[bootstrapKey]; got != "" {
		t.Errorf("bootstrap member %q after the status lost the cluster id, want still empty", got)
	}
	h.kubelet() // pod 0 back on its volume
	h.get(cm, "demo-bootstrap")
	rv := cm.ResourceVersion
	h.step(plan.FinishBootstrap)
	if h.get(cm, "demo-bootstrap"); cm.ResourceVersion != rv {
		t.Errorf("the bootstrap ConfigMap changed while the id was recorded again: %v", cm.Data)
	}
	h.step(plan.Steady)
	if got := h.cluster().Status.ClusterID; got != "c1" {
		t.Errorf("status.clusterID %q, want c1 again", got)
	}
}

// An even spec.replicas is allowed but warned about, once per generation.
func TestEvenReplicasWarns(t *testing.T) {
	h := newHarness(t, ptrTo(int32(2)))
	count := func() int {
		n := 0
		for _, e := range h.events.take() {
			if e.Type == corev1.EventTypeWarning && e.Reason == "EvenReplicas" {
				n++
			}
		}
		return n
	}
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d EvenReplicas warnings on the first pass, want 1", n)
	}
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d EvenReplicas warnings on the second pass of the same generation, want 0", n)
	}
}

// A pod that cannot run is a stuck wait: a Warning event names the pod and
// the fix, once, not on every pass; changing the template again replaces
// the pod at once, without waiting for it to become healthy.
func TestPodCannotRunWarnsOnceAndTemplateChangeReplacesIt(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.revision = "demo-rev1"
	h.converge()
	h.setUpdateRevision("demo-rev1")
	h.step(plan.Steady)
	h.cannotRun(2, "ImagePullBackOff")

	warnings := func() []testEvent {
		var out []testEvent
		for _, e := range h.lastEvents {
			if e.Type == corev1.EventTypeWarning && e.Action == "Wait" {
				out = append(out, e)
			}
		}
		return out
	}
	h.step(plan.Wait)
	w := warnings()
	if len(w) != 1 || w[0].Reason != raftv1.ReasonPodCannotRun || !strings.Contains(w[0].Note, "pod demo-2 cannot run: ImagePullBackOff") ||
		!strings.Contains(w[0].Note, "replaces the pod as soon as the pod template changes") {
		t.Fatalf("warnings %+v, want one PodCannotRun naming demo-2 and the fix", w)
	}
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonPodCannotRun {
		t.Errorf("Progressing %s, want True/%s", got, raftv1.ReasonPodCannotRun)
	}
	h.step(plan.Wait)
	if w := warnings(); len(w) != 0 {
		t.Errorf("warnings %+v on the second pass of the same wait, want none", w)
	}

	h.setUpdateRevision("demo-rev2") // the user reverts or fixes the image
	h.step(plan.RestartPod)
	if err := h.c.Get(h.ctx, h.key("demo-2"), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod demo-2 not replaced: %v", err)
	}
}

// deleteCluster deletes the RaftCluster and, playing the garbage collector
// that envtest lacks, every object it owns but the claims (whenDeleted
// Retain keeps them); the pods' members stop.
func (h *harness) deleteCluster() {
	h.t.Helper()
	rc := h.cluster()
	owned := []client.Object{
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: statefulSetName(rc)}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: bootstrapName(rc)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: peerServiceName(rc)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: clientServiceName(rc)}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: budgetName(rc)}},
	}
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	for i := range pods.Items {
		owned = append(owned, &pods.Items[i])
	}
	for _, o := range append(owned, rc) {
		o.SetNamespace(h.ns)
		if err := h.c.Delete(h.ctx, o, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			h.t.Fatalf("delete %T %s: %v", o, o.GetName(), err)
		}
	}
	h.kubelet() // the members stop
}

// A RaftCluster deleted with its claims retained and created again under
// the same name adopts the cluster its claims hold: the same members and
// cluster id, and no pod ever starts in bootstrap mode (the harness fails
// the test if one does on an empty volume).
func TestRecreatedClusterAdoptsRetainedClaims(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	before := map[string]uint64{}
	for _, name := range []string{"demo-0", "demo-1", "demo-2"} {
		before[name] = h.raft.idOf(name)
	}
	h.deleteCluster()
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo"}, Spec: raftv1.RaftClusterSpec{Replicas: ptrTo(int32(3))}}
	if err := h.c.Create(h.ctx, rc); err != nil {
		t.Fatal(err)
	}

	h.step(plan.SetReplicas)
	if n := h.statefulSetReplicas(); n != 3 {
		t.Fatalf("StatefulSet created with %d replicas, want 3: a pod on every retained claim", n)
	}
	cm := &corev1.ConfigMap{}
	if h.get(cm, "demo-bootstrap"); cm.Data[bootstrapKey] != "" {
		t.Fatalf("bootstrap ConfigMap names %q over retained claims, want nobody", cm.Data[bootstrapKey])
	}
	h.kubelet()
	h.step(plan.FinishBootstrap)
	h.converge()
	if got := h.cluster().Status.ClusterID; got != "c1" {
		t.Errorf("status.clusterID %q, want the earlier cluster's c1", got)
	}
	for name, id := range before {
		if got := h.raft.idOf(name); got != id {
			t.Errorf("%s runs member %x, want %x: its data was not kept", name, got, id)
		}
	}
}

// With spec.bootstrap Fresh, claims kept from an earlier cluster stop the
// new one with a condition and a Warning event naming them; deleting them
// lets it start.
func TestFreshBootstrapRefusesRetainedClaims(t *testing.T) {
	h := newHarness(t, ptrTo(int32(1)))
	h.converge()
	h.deleteCluster()
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo"},
		Spec: raftv1.RaftClusterSpec{Replicas: ptrTo(int32(1)), Bootstrap: raftv1.BootstrapFresh}}
	if err := h.c.Create(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.step(plan.Wait)
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonRetainedData {
		t.Errorf("Progressing %s, want True/%s", got, raftv1.ReasonRetainedData)
	}
	if len(h.lastEvents) != 1 || h.lastEvents[0].Type != corev1.EventTypeWarning || !strings.Contains(h.lastEvents[0].Note, "data-demo-0") {
		t.Errorf("events %+v, want one Warning naming data-demo-0", h.lastEvents)
	}
	if err := h.c.Get(h.ctx, h.key("demo"), &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Fatalf("StatefulSet exists (%v), want none while the claims are there", err)
	}
	claim := &corev1.PersistentVolumeClaim{}
	h.get(claim, "data-demo-0")
	if err := h.c.Delete(h.ctx, claim); err != nil {
		t.Fatal(err)
	}
	h.releaseClaim(claim.Name)
	// The earlier cluster is gone with its only claim: a new one is founded.
	h.raft = newFakeRaft(h.ns)
	h.r.Members = h.raft.factory
	h.step(plan.SetReplicas)
	h.kubelet()
	h.step(plan.FinishBootstrap)
	if got := h.cluster().Status.ClusterID; got == "" {
		t.Error("no cluster founded after the claims were deleted")
	}
}

// Claims that exist when a cluster is created but hold no cluster (kept from
// one deleted before it ever started, or made by hand) do not leave it
// stuck: once every pod answered empty, pod 0 is restarted in bootstrap mode.
func TestRetainedEmptyClaimsFoundACluster(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	rc := h.cluster()
	for i := range 2 {
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: fmt.Sprintf("data-demo-%d", i), Labels: selectorLabels(rc)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if err := h.c.Create(h.ctx, claim); err != nil {
			t.Fatal(err)
		}
	}
	h.step(plan.SetReplicas)
	if n := h.statefulSetReplicas(); n != 2 {
		t.Fatalf("StatefulSet created with %d replicas, want 2: a pod on every claim", n)
	}
	h.kubelet()
	h.step(plan.StartBootstrap)
	cm := &corev1.ConfigMap{}
	if h.get(cm, "demo-bootstrap"); cm.Data[bootstrapKey] != "demo-0" {
		t.Fatalf("bootstrap ConfigMap names %q, want demo-0", cm.Data[bootstrapKey])
	}
	h.kubelet()
	h.step(plan.FinishBootstrap)
	h.converge()
	if got := len(h.cluster().Status.Members); got != 3 {
		t.Errorf("%d members, want 3", got)
	}
}

// The disaster-recovery annotation: one naming another cluster id, or set
// while a leader answers, is removed with a Warning and forces nothing;
// naming this cluster with no leader, the survivor is made the only voter,
// loudly, and the annotation goes.
func TestForceNewClusterAnnotation(t *testing.T) {
	h := newHarness(t, ptrTo(int32(3)))
	h.converge()
	annotate := func(v string) {
		t.Helper()
		rc := h.cluster()
		if rc.Annotations == nil {
			rc.Annotations = map[string]string{}
		}
		rc.Annotations[raftv1.AnnotationForceNewCluster] = v
		if err := h.c.Update(h.ctx, rc); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, step plan.Kind, warning string) {
		t.Helper()
		if step == plan.ForceNewCluster {
			// The step's event comes with a Warning of its own.
			if _, err := h.reconcile(); err != nil {
				t.Fatal(err)
			}
			h.lastEvents = h.events.take()
		} else {
			h.step(step)
		}
		if _, ok := h.cluster().Annotations[raftv1.AnnotationForceNewCluster]; ok {
			t.Errorf("%s: the annotation is still there", when)
		}
		found := false
		for _, e := range h.lastEvents {
			found = found || (e.Type == corev1.EventTypeWarning && e.Reason == raftv1.ReasonForcedNewCluster && strings.Contains(e.Note, warning))
		}
		if !found {
			t.Errorf("%s: events %+v, want a ForcedNewCluster Warning with %q", when, h.lastEvents, warning)
		}
	}
	id := h.cluster().Status.ClusterID

	annotate("0bad")
	check("another cluster's id", plan.Steady, "is not this cluster's status.clusterID")
	annotate(id)
	check("a leader answers", plan.Steady, "the cluster has a leader")
	if calls := h.raft.takeCalls(); len(calls) != 0 {
		t.Errorf("calls %q, want none: nothing to force", calls)
	}

	h.raft.elect(0) // the majority is gone: no leader
	annotate(id)
	check("no leader", plan.ForceNewCluster, "every other member was dropped")
	if calls := h.raft.takeCalls(); len(calls) != 1 || !strings.HasPrefix(calls[0], "ForceNewCluster ") {
		t.Errorf("calls %q, want one ForceNewCluster", calls)
	}
	if got := condition(h.cluster(), raftv1.ConditionProgressing); got != "True/"+raftv1.ReasonForcedNewCluster {
		t.Errorf("Progressing %s, want True/%s", got, raftv1.ReasonForcedNewCluster)
	}
}
