package controllers

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers/plan"
)

// newStorageHarness is a harness whose cluster's claims are of a storage
// class of its own (named after the namespace), created with the given
// allowVolumeExpansion; it converges to 3 voters and binds the claims at
// 1Gi, as a provisioner would.
func newStorageHarness(t *testing.T, allowExpansion bool) (*harness, *storagev1.StorageClass) {
	t.Helper()
	h := newHarness(t, nil)
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: "class-" + h.ns},
		Provisioner:          "example.com/test",
		AllowVolumeExpansion: &allowExpansion,
	}
	if err := h.c.Create(h.ctx, sc); err != nil {
		t.Fatalf("create storage class: %v", err)
	}
	t.Cleanup(func() { _ = h.c.Delete(h.ctx, sc) })
	// The class is fixed at creation: the harness's cluster, not yet
	// reconciled, is replaced by one that names it.
	rc := h.cluster()
	if err := h.c.Delete(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	rc = &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "demo"}}
	rc.Spec.Storage.StorageClassName = &sc.Name
	if err := h.c.Create(h.ctx, rc); err != nil {
		t.Fatal(err)
	}
	h.converge()
	for _, c := range h.claims() {
		h.bindClaim(c.Name, c.Spec.Resources.Requests[corev1.ResourceStorage])
	}
	return h, sc
}

// claims are the namespace's claims, by name.
func (h *harness) claims() []corev1.PersistentVolumeClaim {
	h.t.Helper()
	var list corev1.PersistentVolumeClaimList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list claims: %v", err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.PersistentVolumeClaim) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

// bindClaim plays the volume binder and the resizer: the claim is Bound
// with the given capacity.
func (h *harness) bindClaim(name string, capacity resource.Quantity) {
	h.t.Helper()
	c := &corev1.PersistentVolumeClaim{}
	h.get(c, name)
	c.Status.Phase = corev1.ClaimBound
	c.Status.AccessModes = c.Spec.AccessModes
	c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: capacity}
	if err := h.c.Status().Update(h.ctx, c); err != nil {
		h.t.Fatalf("bind claim %s: %v", name, err)
	}
}

func (h *harness) setStorageSize(size string) {
	h.t.Helper()
	rc := h.cluster()
	rc.Spec.Storage.Size = resource.MustParse(size)
	if err := h.c.Update(h.ctx, rc); err != nil {
		h.t.Fatalf("set spec.storage.size %s: %v", size, err)
	}
}

// requests are the claims' storage requests, by name.
func (h *harness) requests() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, c := range h.claims() {
		q := c.Spec.Resources.Requests[corev1.ResourceStorage]
		out[c.Name] = q.String()
	}
	return out
}

func (h *harness) podUIDs() map[string]string {
	h.t.Helper()
	var pods corev1.PodList
	if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("list pods: %v", err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID)
	}
	return out
}

// storagePass runs one pass that must succeed and returns its events as
// "Type Reason".
func (h *harness) storagePass() []string {
	h.t.Helper()
	if _, err := h.reconcile(); err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	var out []string
	for _, e := range h.events.take() {
		out = append(out, e.Type+" "+e.Reason)
		h.lastEvents = append(h.lastEvents, e)
	}
	return out
}

func storageCondition(h *harness) *metav1.Condition {
	h.t.Helper()
	return h.cluster().Status.Condition(raftv1.ConditionStorageResizing)
}

// TestStorageExpansion: a larger spec.storage.size asks every bound claim
// for it (never a larger one for less), deletes the StatefulSet with its
// pods orphaned and, once the garbage collector removed it, re-creates it
// with the new claim template and the same replicas, pods untouched; the
// condition counts the claims that report the size, and new members' claims
// get it.
func TestStorageExpansion(t *testing.T) {
	h, _ := newStorageHarness(t, true)
	if c := storageCondition(h); c != nil {
		t.Fatalf("StorageResizing %+v before any resize was asked for", c)
	}
	// A claim someone expanded by hand beyond the new size.
	big := &corev1.PersistentVolumeClaim{}
	h.get(big, "data-demo-2")
	big.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
	if err := h.c.Update(h.ctx, big); err != nil {
		t.Fatal(err)
	}
	h.bindClaim("data-demo-2", resource.MustParse("3Gi"))
	pods := h.podUIDs()
	oldSts := &appsv1.StatefulSet{}
	h.get(oldSts, "demo")

	h.setStorageSize("2Gi")
	events := h.storagePass()
	want := map[string]string{"data-demo-0": "2Gi", "data-demo-1": "2Gi", "data-demo-2": "3Gi"}
	if got := h.requests(); !maps.Equal(got, want) {
		t.Errorf("claim requests %v, want %v", got, want)
	}
	if want := []string{"Normal " + raftv1.ReasonResizing, "Normal " + raftv1.ReasonRecreatingStatefulSet}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	sts := &appsv1.StatefulSet{}
	h.get(sts, "demo")
	if sts.DeletionTimestamp == nil || !slices.Contains(sts.Finalizers, metav1.FinalizerOrphanDependents) {
		t.Fatalf("StatefulSet deletion %v, finalizers %v: want it deleted with its dependents orphaned", sts.DeletionTimestamp, sts.Finalizers)
	}
	c := storageCondition(h)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != raftv1.ReasonResizing ||
		!strings.HasPrefix(c.Message, "1 of 3 claims at 2Gi") || !strings.Contains(c.Message, "re-creating the StatefulSet") {
		t.Errorf("StorageResizing %+v, want True/Resizing, 1 of 3 claims at 2Gi, re-creating the StatefulSet", c)
	}

	// The garbage collector has not removed the StatefulSet yet: the pass
	// takes no step on it.
	if events := h.storagePass(); len(events) != 0 {
		t.Errorf("events %v while the StatefulSet is being deleted, want none", events)
	}
	if p := h.cluster().Status.Condition(raftv1.ConditionProgressing); p == nil || p.Status != metav1.ConditionTrue {
		t.Errorf("Progressing %+v while the StatefulSet is being deleted, want True", p)
	}

	// The garbage collector orphans the pods and removes it; the next pass
	// creates it again, with the new template.
	sts.Finalizers = nil
	if err := h.c.Update(h.ctx, sts); err != nil {
		t.Fatalf("play the garbage collector: %v", err)
	}
	h.step(plan.SetReplicas)
	sts = &appsv1.StatefulSet{}
	h.get(sts, "demo")
	if sts.UID == oldSts.UID {
		t.Fatal("the StatefulSet was not re-created")
	}
	if got := templateSize(sts); got.String() != "2Gi" || *sts.Spec.Replicas != 3 {
		t.Errorf("new StatefulSet: claim template %s, replicas %d; want 2Gi, 3", got.String(), *sts.Spec.Replicas)
	}
	if sts.Annotations[annotationTemplateHash] != oldSts.Annotations[annotationTemplateHash] ||
		templateHash(&sts.Spec.Template) != templateHash(&oldSts.Spec.Template) {
		t.Error("the re-created StatefulSet has another pod template: its pods would be restarted")
	}
	if got := h.podUIDs(); !maps.Equal(got, pods) {
		t.Errorf("pods %v after the re-creation, want the same %v", got, pods)
	}

	// The resizer reports the size, one claim after the other.
	h.bindClaim("data-demo-0", resource.MustParse("2Gi"))
	h.storagePass()
	if c := storageCondition(h); c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "2 of 3 claims at 2Gi; waiting for data-demo-1 (1Gi)") {
		t.Errorf("StorageResizing %+v, want True, 2 of 3 claims at 2Gi, waiting for data-demo-1", c)
	}
	h.bindClaim("data-demo-1", resource.MustParse("2Gi"))
	if events := h.storagePass(); !slices.Contains(events, "Normal "+raftv1.ReasonResized) {
		t.Errorf("events %v, want a Normal %s", events, raftv1.ReasonResized)
	}
	c = storageCondition(h)
	if c.Status != metav1.ConditionFalse || c.Reason != raftv1.ReasonResized ||
		c.Message != "3 of 3 claims at 2Gi; larger, and never shrunk: data-demo-2 (3Gi)" {
		t.Errorf("StorageResizing %+v, want False/Resized, 3 of 3 claims at 2Gi, data-demo-2 larger", c)
	}
	if events := h.storagePass(); len(events) != 0 {
		t.Errorf("a pass after the resize recorded %v, want nothing", events)
	}

	// A new member's claim comes from the new template.
	h.setReplicas(5)
	h.converge()
	if got := h.requests()["data-demo-4"]; got != "2Gi" {
		t.Errorf("the new member's claim asks for %s, want 2Gi", got)
	}
	if c := storageCondition(h); c.Reason != raftv1.ReasonResized || !strings.HasPrefix(c.Message, "5 of 5 claims at 2Gi") {
		t.Errorf("StorageResizing %+v after scaling up, want Resized, 5 of 5 claims at 2Gi", c)
	}
}

// TestStorageExpansionNotSupported: a class without allowVolumeExpansion
// (whose claims the API server itself refuses to expand) changes nothing,
// says which class and how to fix it, once as a Warning event; allowing
// expansion on the class lets the resize go on.
func TestStorageExpansionNotSupported(t *testing.T) {
	h, sc := newStorageHarness(t, false)
	// What the operator avoids: the API server's PersistentVolumeClaimResize
	// admission refuses such an expansion.
	probe := &corev1.PersistentVolumeClaim{}
	h.get(probe, "data-demo-0")
	probe.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if err := h.c.Update(h.ctx, probe); !apierrors.IsForbidden(err) {
		t.Fatalf("expanding a claim of a class without expansion: %v, want Forbidden", err)
	}
	before := h.resourceVersions()

	h.setStorageSize("2Gi")
	events := h.storagePass()
	if want := []string{"Warning " + raftv1.ReasonExpansionNotSupported}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	if note := h.lastEvents[len(h.lastEvents)-1].Note; !strings.Contains(note, "storage class "+sc.Name) || !strings.Contains(note, "allowVolumeExpansion: true") {
		t.Errorf("warning %q does not name the class and the fix", note)
	}
	c := storageCondition(h)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != raftv1.ReasonExpansionNotSupported ||
		!strings.Contains(c.Message, "storage class "+sc.Name+" of claims data-demo-0, data-demo-1, data-demo-2 does not allow volume expansion") {
		t.Errorf("StorageResizing %+v, want False/ExpansionNotSupported naming the class and the claims", c)
	}
	want := map[string]string{"data-demo-0": "1Gi", "data-demo-1": "1Gi", "data-demo-2": "1Gi"}
	if got := h.requests(); !maps.Equal(got, want) {
		t.Errorf("claim requests %v, want unchanged %v", got, want)
	}
	after := h.resourceVersions()
	if before["*v1.StatefulSet demo"] != after["*v1.StatefulSet demo"] {
		t.Error("the StatefulSet changed although no claim can grow")
	}
	if events := h.storagePass(); len(events) != 0 {
		t.Errorf("the next pass recorded %v again, want nothing new", events)
	}

	// The change can be taken back: the claims have the size asked for.
	h.setStorageSize("1Gi")
	h.storagePass()
	if c := storageCondition(h); c == nil || c.Status != metav1.ConditionFalse || c.Reason != raftv1.ReasonResized {
		t.Errorf("StorageResizing %+v after the size was taken back, want False/Resized", c)
	}
	h.setStorageSize("2Gi")
	h.storagePass()

	// Changing the class looks at the clusters waiting for it, only them.
	other := newHarness(t, nil)
	other.converge()
	reqs := h.r.clustersAwaitingClass(h.ctx, sc)
	if !slices.Contains(reqs, reconcile.Request{NamespacedName: h.key("demo")}) || slices.Contains(reqs, reconcile.Request{NamespacedName: other.key("demo")}) {
		t.Errorf("a StorageClass change enqueues %v, want %s/demo and not %s/demo", reqs, h.ns, other.ns)
	}
	allow := true
	sc.AllowVolumeExpansion = &allow
	if err := h.c.Update(h.ctx, sc); err != nil {
		t.Fatal(err)
	}
	h.storagePass()
	want = map[string]string{"data-demo-0": "2Gi", "data-demo-1": "2Gi", "data-demo-2": "2Gi"}
	if got := h.requests(); !maps.Equal(got, want) {
		t.Errorf("claim requests %v once the class allows expansion, want %v", got, want)
	}
	if c := storageCondition(h); c.Reason != raftv1.ReasonResizing {
		t.Errorf("StorageResizing %+v, want Resizing", c)
	}
}

// TestResizeProgress: the condition for each state of the claims.
func TestResizeProgress(t *testing.T) {
	gi := func(n int) resource.Quantity { return resource.MustParse(fmt.Sprintf("%dGi", n)) }
	claim := func(name string, request, capacity int, bound bool, infeasible corev1.ClaimResourceStatus) claimState {
		return claimState{claim: &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}},
			request: gi(request), capacity: gi(capacity), bound: bound, infeasible: infeasible}
	}
	for _, tc := range []struct {
		name       string
		claims     []claimState
		recreating bool
		want       string
	}{
		{"done", []claimState{claim("a", 2, 2, true, ""), claim("b", 2, 0, false, "")}, false,
			"False/Resized: 2 of 2 claims at 2Gi"},
		{"waiting", []claimState{claim("a", 2, 1, true, ""), claim("b", 1, 0, false, "")}, false,
			"True/Resizing: 0 of 2 claims at 2Gi; waiting for a (1Gi), b (not bound yet: expanded once bound)"},
		{"recreating", []claimState{claim("a", 2, 2, true, "")}, true,
			"True/Resizing: 1 of 1 claims at 2Gi; re-creating the StatefulSet so new members get 2Gi"},
		{"infeasible", []claimState{claim("a", 2, 1, true, corev1.PersistentVolumeClaimControllerResizeInfeasible), claim("b", 2, 2, true, "")}, false,
			"False/ResizeFailed: 1 of 2 claims at 2Gi; the storage driver cannot expand a (ControllerResizeInfeasible): see the claims' events, and the class's driver for what it supports"},
	} {
		c := resizeProgress(tc.claims, gi(2), tc.recreating)
		if got := fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestNotExpandable: the message names each refusing class with its claims
// and the fix, and claims of no class.
func TestNotExpandable(t *testing.T) {
	named := func(names ...string) []claimState {
		var out []claimState
		for _, n := range names {
			out = append(out, claimState{claim: &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n}}})
		}
		return out
	}
	got := notExpandable(map[string][]claimState{"slow": named("data-demo-0", "data-demo-1"), "": named("data-demo-2")}, resource.MustParse("2Gi"))
	want := "spec.storage.size 2Gi: no claim changed: claims data-demo-2 have no storage class, and only claims of a class that allows expansion can grow; " +
		"storage class slow of claims data-demo-0, data-demo-1 does not allow volume expansion; if its driver can expand volumes, set allowVolumeExpansion: true on it (kubectl patch storageclass slow -p '{\"allowVolumeExpansion\":true}')"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
