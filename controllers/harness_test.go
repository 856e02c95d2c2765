package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// harness drives the reconciler against the shared API server, one pass
// at a time, with a fakeRaft as the members. envtest has no
// controller-manager and no kubelet: the test plays both, creating the
// StatefulSet's pods and claims and marking pods running and ready.
type harness struct {
	t      *testing.T
	ctx    context.Context
	c      client.Client
	ns     string
	raft   *fakeRaft
	events *fakeRecorder
	r      *RaftClusterReconciler
	// failpoints are the names the reconciler's Failpoint was called with.
	failpoints []string
	nextIP     int
	// revision, when set, is the controller-revision-hash label of the pods
	// the harness creates, as the StatefulSet controller labels them with
	// its update revision (see setUpdateRevision).
	revision string
	// lastEvents are the events of the last step.
	lastEvents []testEvent
}

// newHarness creates a RaftCluster demo of the given spec.replicas (nil:
// the default), changed by opts, in a namespace of its own.
func newHarness(t *testing.T, replicas *int32, opts ...func(*raftv1.RaftCluster)) *harness {
	t.Helper()
	api := server(t)
	ns := api.Namespace(t)
	h := &harness{t: t, ctx: t.Context(), c: api.Client, ns: ns, raft: newFakeRaft(ns), events: &fakeRecorder{}}
	h.r = &RaftClusterReconciler{
		Client:    api.Client,
		Scheme:    api.Scheme,
		Recorder:  h.events,
		Members:   h.raft.factory,
		Settings:  Settings{NodeImage: "raftnode:test", ClusterDomain: "cluster.local"},
		Failpoint: func(name string) { h.failpoints = append(h.failpoints, name) },
	}
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"}, Spec: raftv1.RaftClusterSpec{Replicas: replicas}}
	for _, o := range opts {
		o(rc)
	}
	if err := h.c.Create(h.ctx, rc); err != nil {
		t.Fatalf("create RaftCluster: %v", err)
	}
	return h
}

func (h *harness) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: h.ns, Name: name}
}

// reconcile runs one pass and checks that it closed the member client it
// opened.
func (h *harness) reconcile() (ctrl.Result, error) {
	h.t.Helper()
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("demo")})
	if h.raft.opened != h.raft.closed {
		h.t.Fatalf("%d member clients opened, %d closed", h.raft.opened, h.raft.closed)
	}
	return res, err
}

// step runs one pass that must succeed and take a step of kind want:
// exactly one Normal event for it, or none for Wait and Steady.
func (h *harness) step(want plan.Kind) {
	h.t.Helper()
	res, err := h.reconcile()
	if err != nil {
		h.t.Fatalf("reconcile, expecting %s: %v", want, err)
	}
	if wantAfter := map[bool]time.Duration{true: requeueSteady, false: requeueChanging}[want == plan.Steady]; res.RequeueAfter != wantAfter {
		h.t.Errorf("requeue after %v, want %v for %s", res.RequeueAfter, wantAfter, want)
	}
	var got []string
	h.lastEvents = h.events.take()
	for _, e := range h.lastEvents {
		if e.Action == "Validate" || e.Action == "Wait" || e.Action == "Issue" {
			continue // warnings about the spec, an annotation or a stuck wait, certificates: not steps
		}
		got = append(got, e.Type+" "+e.Action)
	}
	var expect []string
	if want != plan.Wait && want != plan.Steady {
		expect = []string{corev1.EventTypeNormal + " " + want.String()}
	}
	if strings.Join(got, ",") != strings.Join(expect, ",") {
		h.t.Fatalf("pass took steps %v, want %v (Progressing: %+v)", got, expect, h.cluster().Status.Condition(raftv1.ConditionProgressing))
	}
	if want == plan.Steady || want == plan.Wait {
		c := h.cluster().Status.Condition(raftv1.ConditionProgressing)
		if steady := c != nil && c.Status == metav1.ConditionFalse && c.Reason == raftv1.ReasonReconciled; steady != (want == plan.Steady) {
			h.t.Fatalf("Progressing %+v after a pass expected to be %s", c, want)
		}
	}
}

func (h *harness) cluster() *raftv1.RaftCluster {
	h.t.Helper()
	rc := &raftv1.RaftCluster{}
	if err := h.c.Get(h.ctx, h.key("demo"), rc); err != nil {
		h.t.Fatalf("get RaftCluster: %v", err)
	}
	return rc
}

func (h *harness) get(obj client.Object, name string) {
	h.t.Helper()
	if err := h.c.Get(h.ctx, h.key(name), obj); err != nil {
		h.t.Fatalf("get %T %s: %v", obj, name, err)
	}
}

func (h *harness) statefulSetReplicas() int32 {
	h.t.Helper()
	sts := &appsv1.StatefulSet{}
	h.get(sts, "demo")
	return *sts.Spec.Replicas
}

// setReplicas changes spec.replicas through the scale subresource, as
// `kubectl scale` does.
func (h *harness) setReplicas(n int32) {
	h.t.Helper()
	rc := h.cluster()
	scale := &autoscalingv1.Scale{}
	if err := h.c.SubResource("scale").Get(h.ctx, rc, scale); err != nil {
		h.t.Fatalf("get scale: %v", err)
	}
	scale.Spec.Replicas = n
	if err := h.c.SubResource("scale").Update(h.ctx, rc, client.WithSubResourceBody(scale)); err != nil {
		h.t.Fatalf("update scale: %v", err)
	}
}

// startPod plays the StatefulSet controller and the kubelet for ordinal i:
// it creates the claim (unless it exists) and the pod, marks the pod
// running and ready with a fresh IP, and starts its member in the fake.
func (h *harness) startPod(i int) {
	h.t.Helper()
	rc := h.cluster()
	name := fmt.Sprintf("demo-%d", i)
	claim := &corev1.PersistentVolumeClaim{}
	fresh := false // an empty volume
	switch err := h.c.Get(h.ctx, h.key("data-"+name), claim); {
	case apierrors.IsNotFound(err):
		fresh = true
		claim = &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "data-" + name, Labels: selectorLabels(rc)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		// As the StatefulSet controller does: from its claim template.
		sts := &appsv1.StatefulSet{}
		if err := h.c.Get(h.ctx, h.key("demo"), sts); err == nil && len(sts.Spec.VolumeClaimTemplates) > 0 {
			claim.Spec = *sts.Spec.VolumeClaimTemplates[0].Spec.DeepCopy()
		}
		if err := h.c.Create(h.ctx, claim); err != nil {
			h.t.Fatalf("create claim: %v", err)
		}
	case err != nil:
		h.t.Fatalf("get claim: %v", err)
	}
	cm := &corev1.ConfigMap{}
	h.get(cm, "demo-bootstrap")
	labels := mergeLabels(map[string]string{appsv1.StatefulSetPodNameLabel: name}, selectorLabels(rc))
	if h.revision != "" {
		labels[appsv1.StatefulSetRevisionLabel] = h.revision
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: containerName, Image: "raftnode:test"}},
			Volumes: []corev1.Volume{{Name: dataVolume, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}}},
		},
	}
	if err := h.c.Create(h.ctx, pod); err != nil {
		h.t.Fatalf("create pod %s: %v", name, err)
	}
	h.nextIP++
	ip := fmt.Sprintf("10.1.0.%d", h.nextIP)
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: containerName, Image: "raftnode:test", ImageID: "raftnode@sha256:0", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	if err := h.c.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatalf("mark pod %s running: %v", name, err)
	}
	// raftnode ignores bootstrap mode on a volume that holds data.
	bootstrap := cm.Data[bootstrapKey] == name
	if bootstrap && fresh && h.raft.clusterID != 0 {
		h.t.Errorf("pod %s starts in bootstrap mode on an empty volume while cluster %x exists: it would found a second cluster", name, h.raft.clusterID)
		bootstrap = false
	}
	h.raft.start(name, claim.UID, podEndpoint(ip), bootstrap)
}

// cannotRun plays the kubelet failing to start pod demo-i's container for
// reason (an image pull failure, a crash loop): the pod is Pending and not
// ready, its member does not answer.
func (h *harness) cannotRun(i int, reason string) {
	h.t.Helper()
	pod := &corev1.Pod{}
	h.get(pod, fmt.Sprintf("demo-%d", i))
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: containerName, Image: "raftnode:bad",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "cannot pull raftnode:bad"}},
		}},
	}
	if err := h.c.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatalf("mark pod %s waiting: %v", pod.Name, err)
	}
}

// setUpdateRevision plays the StatefulSet controller on a template
// change: it reports rev as the StatefulSet's update revision, and the pods
// the harness creates from now on carry it.
func (h *harness) setUpdateRevision(rev string) {
	h.t.Helper()
	sts := &appsv1.StatefulSet{}
	h.get(sts, "demo")
	sts.Status.UpdateRevision = rev
	if err := h.c.Status().Update(h.ctx, sts); err != nil {
		h.t.Fatalf("set the StatefulSet's update revision: %v", err)
	}
	h.revision = rev
}

// podRevisions are the pods' controller-revision-hash labels, by name.
func (h *harness) podRevisions() map[string]string {
	h.t.Helper()
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list pods: %v", err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = p.Labels[appsv1.StatefulSetRevisionLabel]
	}
	return out
}

// loseVolume deletes pod demo-i and its claim, as a lost node does; the
// claim's pvc-protection finalizer is removed as kube-controller-manager
// would once the pod is gone.
func (h *harness) loseVolume(i int) {
	h.t.Helper()
	h.deletePod(i)
	claim := &corev1.PersistentVolumeClaim{}
	h.get(claim, fmt.Sprintf("data-demo-%d", i))
	if err := h.c.Delete(h.ctx, claim); err != nil {
		h.t.Fatalf("delete claim: %v", err)
	}
	h.releaseClaim(claim.Name)
}

// releaseClaim removes the finalizers of a deleted claim, as the
// pvc-protection controller would, so it goes.
func (h *harness) releaseClaim(name string) {
	h.t.Helper()
	claim := &corev1.PersistentVolumeClaim{}
	if err := h.c.Get(h.ctx, h.key(name), claim); apierrors.IsNotFound(err) {
		return
	}
	claim.Finalizers = nil
	if err := h.c.Update(h.ctx, claim); err != nil && !apierrors.IsNotFound(err) {
		h.t.Fatalf("release claim %s: %v", name, err)
	}
}

// startMissingPods starts a pod for every ordinal below the StatefulSet's
// replicas that has none.
func (h *harness) startMissingPods() {
	h.t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := h.c.Get(h.ctx, h.key("demo"), sts); apierrors.IsNotFound(err) {
		return
	}
	for i := range int(*sts.Spec.Replicas) {
		if err := h.c.Get(h.ctx, h.key(fmt.Sprintf("demo-%d", i)), &corev1.Pod{}); apierrors.IsNotFound(err) {
			h.startPod(i)
		}
	}
}

// kubelet plays kube-controller-manager and the kubelets between two
// passes: the members of pods that are gone stop, deleted claims no pod uses
// are released (pvc-protection), and the StatefulSet's missing pods start.
func (h *harness) kubelet() {
	h.t.Helper()
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list pods: %v", err)
	}
	used := map[string]bool{}
	running := map[string]bool{}
	for _, p := range pods.Items {
		used["data-"+p.Name] = true
		if p.Status.PodIP != "" {
			running[podEndpoint(p.Status.PodIP)] = true
		}
	}
	for _, n := range h.raft.nodes {
		if n.endpoint != "" && !running[n.endpoint] {
			h.raft.stop(n.endpoint)
		}
	}
	var claims corev1.PersistentVolumeClaimList
	if err := h.c.List(h.ctx, &claims, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list claims: %v", err)
	}
	for _, c := range claims.Items {
		if c.DeletionTimestamp != nil && !used[c.Name] {
			h.releaseClaim(c.Name)
		}
	}
	h.startMissingPods()
	h.probe()
}

// probe plays the kubelet's readiness probes: a pod is ready while its
// member is in the configuration and not removed, as raftnode's /readyz.
func (h *harness) probe() {
	h.t.Helper()
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list pods: %v", err)
	}
	config := h.raft.configIDs()
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.PodIP == "" {
			continue
		}
		for _, n := range h.raft.nodes {
			if n.endpoint != podEndpoint(p.Status.PodIP) {
				continue
			}
			ready := !n.removed && slices.Contains(config, n.id)
			if ready == podReady(p) {
				continue
			}
			status := corev1.ConditionFalse
			if ready {
				status = corev1.ConditionTrue
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
			if err := h.c.Status().Update(h.ctx, p); err != nil {
				h.t.Fatalf("set pod %s ready=%v: %v", p.Name, ready, err)
			}
		}
	}
}

// createPendingPod creates pod demo-i as the StatefulSet controller does,
// on its existing claim, but it never starts: its claim is being deleted.
func (h *harness) createPendingPod(i int) {
	h.t.Helper()
	name := fmt.Sprintf("demo-%d", i)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name, Labels: selectorLabels(h.cluster())},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: containerName, Image: "raftnode:test"}},
			Volumes: []corev1.Volume{{Name: dataVolume, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + name},
			}}},
		},
	}
	if err := h.c.Create(h.ctx, pod); err != nil {
		h.t.Fatalf("create pod %s: %v", name, err)
	}
	if pod.Status.Phase != corev1.PodPending {
		h.t.Fatalf("new pod in phase %q, want Pending", pod.Status.Phase)
	}
}

// deletePod deletes pod demo-i, as the StatefulSet controller does on
// scale-down; its member stops answering. Unscheduled, the pod goes at once.
func (h *harness) deletePod(i int) {
	h.t.Helper()
	pod := &corev1.Pod{}
	h.get(pod, fmt.Sprintf("demo-%d", i))
	if err := h.c.Delete(h.ctx, pod); err != nil {
		h.t.Fatalf("delete pod: %v", err)
	}
	h.raft.stop(podEndpoint(pod.Status.PodIP))
}

// drain is the pass that waits for the leavers' pods to stop being ready,
// then the readiness probes that withdraw it.
func (h *harness) drain() {
	h.t.Helper()
	h.step(plan.Wait)
	if c := h.cluster().Status.Condition(raftv1.ConditionProgressing); !strings.Contains(c.Message, "stays until its readiness is withdrawn") {
		h.t.Fatalf("Progressing %q, want a wait for the leavers' readiness", c.Message)
	}
	h.probe()
}

// converge runs passes, starting the pods the StatefulSet asks for and
// letting learners catch up, until a pass finds the cluster Steady.
func (h *harness) converge() {
	h.t.Helper()
	for range 20 {
		if _, err := h.reconcile(); err != nil {
			h.t.Fatalf("reconcile: %v", err)
		}
		if c := h.cluster().Status.Condition(raftv1.ConditionProgressing); c != nil && c.Status == metav1.ConditionFalse && c.Reason == raftv1.ReasonReconciled {
			h.raft.takeCalls()
			h.events.take()
			h.failpoints = nil
			return
		}
		h.kubelet()
		h.raft.catchUp()
	}
	h.t.Fatalf("not Steady after 20 passes: %+v", h.cluster().Status)
}

// resourceVersions are the owned objects' resource versions, by kind and
// name, to check that a pass changed none.
func (h *harness) resourceVersions() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, o := range []struct {
		obj  client.Object
		name string
	}{
		{&corev1.Service{}, "demo-peer"}, {&corev1.Service{}, "demo"}, {&corev1.ConfigMap{}, "demo-bootstrap"},
		{&policyv1.PodDisruptionBudget{}, "demo"}, {&appsv1.StatefulSet{}, "demo"},
	} {
		h.get(o.obj, o.name)
		out[fmt.Sprintf("%T %s", o.obj, o.name)] = o.obj.GetResourceVersion()
	}
	return out
}

func (h *harness) minAvailable() int {
	h.t.Helper()
	pdb := &policyv1.PodDisruptionBudget{}
	h.get(pdb, "demo")
	return pdb.Spec.MinAvailable.IntValue()
}

// condition is condition t as "Status/Reason".
func condition(rc *raftv1.RaftCluster, t string) string {
	c := rc.Status.Condition(t)
	if c == nil {
		return "<none>"
	}
	return string(c.Status) + "/" + c.Reason
}

func memberNamesRoles(rc *raftv1.RaftCluster) []string {
	var out []string
	for _, m := range rc.Status.Members {
		out = append(out, fmt.Sprintf("%s:%s:%s:%v", m.Name, m.ID, m.Role, m.Ready))
	}
	return out
}
