package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/raftnode/client"
)

// TestStorage grows spec.storage.size of a cluster on a StorageClass that
// allows expansion (served by the node's host-path provisioner, which is
// also its resizer): every claim reaches the new size, the StatefulSet is
// re-created with the new claim template while its pods keep running (same
// pods, no restart, their revision still the StatefulSet's, data intact),
// and members added afterwards get the new size. A cluster on the default
// class, which does not allow expansion, gets StorageResizing
// False/ExpansionNotSupported and a Warning event, its claims unchanged,
// until the class is changed to allow it.
// The seconds each takes are logged (measurements, not asserted).
func TestStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	c := e.clusterClient(t)
	e.tool(ctx, t, "helm", "install", "raftkube", filepath.Join(repoRoot, "charts", "raftkube"),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "3m")

	// The node's provisioner serves every class that names it.
	provisioner := "raftkube.io/hostpath"
	if !e.real {
		provisioner = "raftkube.io/local-kubelet"
	}
	allow := true
	immediate := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	if err := c.Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "expandable"}, Provisioner: provisioner,
		AllowVolumeExpansion: &allow, VolumeBindingMode: &immediate, ReclaimPolicy: &reclaim,
	}); err != nil {
		t.Fatal(err)
	}

	// Both clusters start together; "fixed" uses the default class.
	grow, fixed := "grow", "fixed"
	start := time.Now()
	e.createCluster(ctx, t, c, grow, 3, "expandable")
	e.createCluster(ctx, t, c, fixed, 1, "")
	waitNamed(ctx, t, c, grow, "Available with 3 voters", available(3))
	waitNamed(ctx, t, c, fixed, "Available with 1 voter", available(1))
	t.Logf("two clusters Available: %.1fs", time.Since(start).Seconds())

	e.growOnline(ctx, t, c, grow)
	e.growRefused(ctx, t, c, fixed)
}

// createCluster creates a RaftCluster of n replicas and 1Gi claims in the
// given storage class ("": the default one).
func (e *env) createCluster(ctx context.Context, t *testing.T, c ctrlclient.Client, name string, n int32, class string) {
	t.Helper()
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	rc.Spec.Replicas = &n
	rc.Spec.Storage.Size = resource.MustParse("1Gi")
	if class != "" {
		rc.Spec.Storage.StorageClassName = &class
	}
	if err := c.Create(ctx, rc); err != nil {
		t.Fatalf("create RaftCluster %s: %v", name, err)
	}
}

// growOnline writes a key, grows the cluster's claims 1Gi -> 2Gi, checks
// that nothing restarted and the key is there, then scales 3 -> 5 and
// checks the new members' claims.
func (e *env) growOnline(ctx context.Context, t *testing.T, c ctrlclient.Client, name string) {
	t.Helper()
	kv := e.memberClient(ctx, t, name, 3)
	if _, err := kv.Put(ctx, []byte("storage-test"), []byte("written at 1Gi")); err != nil {
		t.Fatalf("put: %v", err)
	}
	before := e.podsOf(ctx, t, name)
	oldSts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	setSize(ctx, t, c, name, "2Gi")
	waitFor(ctx, t, name+": every claim at 2Gi", func(ctx context.Context) (bool, error) {
		return e.claimsAt(ctx, name, 3, "2Gi")
	})
	claimsDone := time.Since(start)
	waitFor(ctx, t, name+": StatefulSet re-created with 2Gi claims", func(ctx context.Context) (bool, error) {
		sts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if sts.UID == oldSts.UID || sts.Status.UpdateRevision == "" || sts.Status.ObservedGeneration < sts.Generation {
			return false, fmt.Errorf("StatefulSet %s, update revision %q", sts.UID, sts.Status.UpdateRevision)
		}
		size := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
		return size.String() == "2Gi", fmt.Errorf("claim template %s", size.String())
	})
	rc := waitNamed(ctx, t, c, name, "StorageResizing False/Resized and Available", func(rc *raftv1.RaftCluster) bool {
		return available(3)(rc) && condition(rc, raftv1.ConditionStorageResizing) == "False/"+raftv1.ReasonResized
	})
	t.Logf("storage 1Gi -> 2Gi: claims at 2Gi in %.1fs, StatefulSet re-created and Resized in %.1fs (%s)",
		claimsDone.Seconds(), time.Since(start).Seconds(), rc.Status.Condition(raftv1.ConditionStorageResizing).Message)
	// Where the time went: when the manager asked each claim for the size.
	t.Logf("spec changed at %s", start.UTC().Format(time.RFC3339Nano))
	for line := range strings.SplitSeq(e.managerLog(ctx, t), "\n") {
		if strings.Contains(line, "claim expansion requested") && strings.Contains(line, "data-"+name+"-") {
			t.Log(line)
		}
	}

	// The same pods, never restarted, adopted by the new StatefulSet on its
	// update revision: the rolling restart has nothing to do.
	sts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := e.podsOf(ctx, t, name)
	for podName, old := range before {
		p, ok := after[podName]
		switch {
		case !ok:
			t.Errorf("pod %s is gone after the resize", podName)
		case p.UID != old.UID:
			t.Errorf("pod %s was re-created during the resize", podName)
		case restarts(p) != restarts(old):
			t.Errorf("pod %s restarted during the resize (%d -> %d)", podName, restarts(old), restarts(p))
		case p.Labels[appsv1.StatefulSetRevisionLabel] != sts.Status.UpdateRevision:
			t.Errorf("pod %s on revision %s, the new StatefulSet's is %s: a rolling restart would replace it",
				podName, p.Labels[appsv1.StatefulSetRevisionLabel], sts.Status.UpdateRevision)
		case metav1.GetControllerOf(&p) == nil || metav1.GetControllerOf(&p).UID != sts.UID:
			t.Errorf("pod %s is not adopted by the new StatefulSet: controller %v", podName, metav1.GetControllerOf(&p))
		}
	}
	for i := range 3 {
		pv := e.volumeOf(ctx, t, fmt.Sprintf("data-%s-%d", name, i))
		if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" {
			t.Errorf("volume %s capacity %s, want 2Gi", pv.Name, got.String())
		}
	}
	got, found, err := kv.Get(ctx, []byte("storage-test"))
	if err != nil || !found || string(got.GetValue()) != "written at 1Gi" {
		t.Errorf("after the resize: get = %q, %v, %v; want the value written before", got.GetValue(), found, err)
	}

	// New members get 2Gi claims.
	start = time.Now()
	e.tool(ctx, t, "kubectl", "scale", "raft/"+name, "--replicas=5")
	waitNamed(ctx, t, c, name, "Available with 5 voters", available(5))
	waitFor(ctx, t, name+": 5 claims at 2Gi", func(ctx context.Context) (bool, error) {
		return e.claimsAt(ctx, name, 5, "2Gi")
	})
	t.Logf("scale 3 -> 5 with 2Gi claims: %.1fs", time.Since(start).Seconds())
	for i := 3; i < 5; i++ {
		claim, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-%s-%d", name, i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "2Gi" {
			t.Errorf("claim %s of a new member asks for %s, want 2Gi", claim.Name, q.String())
		}
	}
	_ = kv.Close()
}

// growRefused grows a cluster on the default class, which does not allow
// expansion: the condition and a Warning event name the class and the fix,
// and nothing changes until the class allows expansion.
func (e *env) growRefused(ctx context.Context, t *testing.T, c ctrlclient.Client, name string) {
	t.Helper()
	oldSts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	setSize(ctx, t, c, name, "2Gi")
	rc := waitNamed(ctx, t, c, name, "StorageResizing False/ExpansionNotSupported", func(rc *raftv1.RaftCluster) bool {
		return condition(rc, raftv1.ConditionStorageResizing) == "False/"+raftv1.ReasonExpansionNotSupported
	})
	msg := rc.Status.Condition(raftv1.ConditionStorageResizing).Message
	t.Logf("storage class without expansion -> condition in %.1fs: %s", time.Since(start).Seconds(), msg)
	if !strings.Contains(msg, "storage class local") || !strings.Contains(msg, "allowVolumeExpansion: true") {
		t.Errorf("condition message %q does not name the class and the fix", msg)
	}
	waitFor(ctx, t, name+": a Warning event "+raftv1.ReasonExpansionNotSupported, func(ctx context.Context) (bool, error) {
		events, err := e.client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == name && ev.Type == corev1.EventTypeWarning && ev.Reason == raftv1.ReasonExpansionNotSupported {
				return strings.Contains(ev.Note, "storage class local"), fmt.Errorf("note %q", ev.Note)
			}
		}
		return false, nil
	})
	ok, err := e.claimsAt(ctx, name, 1, "1Gi")
	if !ok {
		t.Errorf("claim of %s changed: %v", name, err)
	}
	claim, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-"+name+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("claim %s asks for %s although its class does not allow expansion", claim.Name, q.String())
	}
	sts, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.UID != oldSts.UID {
		t.Error("the StatefulSet was re-created although no claim can grow")
	}

	// Allowing expansion on the class (the provisioner can resize) lets the
	// resize go on at once: the operator watches classes.
	pod := e.podsOf(ctx, t, name)[name+"-0"]
	start = time.Now()
	if _, err := e.client.StorageV1().StorageClasses().Patch(ctx, "local", types.MergePatchType,
		[]byte(`{"allowVolumeExpansion":true}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNamed(ctx, t, c, name, "StorageResizing False/Resized and Available", func(rc *raftv1.RaftCluster) bool {
		return available(1)(rc) && condition(rc, raftv1.ConditionStorageResizing) == "False/"+raftv1.ReasonResized
	})
	t.Logf("class allows expansion -> claim at 2Gi, Resized: %.1fs", time.Since(start).Seconds())
	if p := e.podsOf(ctx, t, name)[name+"-0"]; p.UID != pod.UID || restarts(p) != restarts(pod) {
		t.Errorf("the member's pod was restarted or re-created by the resize")
	}
}

// setSize sets spec.storage.size.
func setSize(ctx context.Context, t *testing.T, c ctrlclient.Client, name, size string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"storage":{"size":%q}}}`, size)
	rc := &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Patch(ctx, rc, ctrlclient.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("set %s's storage size to %s: %v", name, size, err)
	}
}

// claimsAt reports whether claims data-NAME-0..n-1 all report size as
// their capacity.
func (e *env) claimsAt(ctx context.Context, name string, n int, size string) (bool, error) {
	want := resource.MustParse(size)
	for i := range n {
		claim, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-%s-%d", name, i), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if got := claim.Status.Capacity[corev1.ResourceStorage]; got.Cmp(want) != 0 {
			return false, fmt.Errorf("claim %s at %s", claim.Name, got.String())
		}
	}
	return true, nil
}

// volumeOf is the volume bound to the claim.
func (e *env) volumeOf(ctx context.Context, t *testing.T, claim string) *corev1.PersistentVolume {
	t.Helper()
	pvc, err := e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := e.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// podsOf are the cluster's pods by name.
func (e *env) podsOf(ctx context.Context, t *testing.T, name string) map[string]corev1.Pod {
	t.Helper()
	pods, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: raftv1.LabelCluster + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		out[p.Name] = p
	}
	return out
}

func restarts(p corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// memberClient reaches the cluster's pods 0..n-1 at their IPs, with the
// application's certificate.
func (e *env) memberClient(ctx context.Context, t *testing.T, name string, n int) *client.Client {
	t.Helper()
	creds := e.clusterCreds(ctx, t, ns, name, appCert)
	var endpoints []string
	for i := range n {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("%s-%d", name, i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		endpoints = append(endpoints, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clientPort)))
	}
	kv, err := client.New(ctx, client.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, TLS: creds.config()})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// waitNamed polls the named cluster until cond holds.
func waitNamed(ctx context.Context, t *testing.T, c ctrlclient.Client, name, what string, cond func(*raftv1.RaftCluster) bool) *raftv1.RaftCluster {
	t.Helper()
	return waitClusterIn(ctx, t, c, ctrlclient.ObjectKey{Namespace: ns, Name: name}, what, cond)
}
