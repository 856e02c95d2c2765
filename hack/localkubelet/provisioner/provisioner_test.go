package provisioner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

const (
	testProvisioner = "raftkube.io/hostpath"
	testClass       = "local"
)

// start runs a provisioner on client until the test ends, and checks then
// that Run returned nil and left no goroutine behind.
func start(t *testing.T, client kubernetes.Interface, cfg Config) *Provisioner {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	cfg.Client = client
	if cfg.BaseDir == "" {
		cfg.BaseDir = t.TempDir()
	}
	cfg.Provisioner = testProvisioner
	cfg.StorageClass = testClass
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		goleak.VerifyNone(t, ignore)
	})
	return p
}

func claim(name, class string, uid types.UID) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: uid},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if class != "" {
		pvc.Spec.StorageClassName = &class
	}
	return pvc
}

func create(t *testing.T, client kubernetes.Interface, pvcs ...*corev1.PersistentVolumeClaim) {
	t.Helper()
	for _, pvc := range pvcs {
		if _, err := client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitVolume waits for the named volume to exist and returns it.
func waitVolume(t *testing.T, client kubernetes.Interface, name string) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	eventually(t, "volume "+name, func() bool {
		var err error
		pv, err = client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		return err == nil
	})
	return pv
}

// release marks a volume Released, as the controller-manager does when its
// claim is gone.
func release(t *testing.T, client kubernetes.Interface, pv *corev1.PersistentVolume) {
	t.Helper()
	pv = pv.DeepCopy()
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(context.Background(), pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func volumeNames(t *testing.T, client kubernetes.Interface) []string {
	t.Helper()
	list, err := client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pv := range list.Items {
		names = append(names, pv.Name)
	}
	slices.Sort(names)
	return names
}

func TestNewChecksConfig(t *testing.T) {
	client := fake.NewClientset()
	for _, cfg := range []Config{
		{BaseDir: "/d", Provisioner: "p", StorageClass: "c"},
		{Client: client, Provisioner: "p", StorageClass: "c"},
		{Client: client, BaseDir: "/d", StorageClass: "c"},
		{Client: client, BaseDir: "/d", Provisioner: "p"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted an incomplete config", cfg)
		}
	}
}

// TestInstallsDefaultClass: the class is created as the default, with
// Immediate binding and reclaim Delete.
func TestInstallsDefaultClass(t *testing.T) {
	client := fake.NewClientset()
	start(t, client, Config{DefaultClass: true})
	var sc *storagev1.StorageClass
	eventually(t, "storage class", func() bool {
		var err error
		sc, err = client.StorageV1().StorageClasses().Get(context.Background(), testClass, metav1.GetOptions{})
		return err == nil
	})
	if sc.Provisioner != testProvisioner || sc.Annotations[annDefaultClass] != "true" ||
		*sc.VolumeBindingMode != storagev1.VolumeBindingImmediate || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Errorf("storage class %+v: want provisioner %s, default, Immediate, Delete", sc, testProvisioner)
	}
}

// TestKeepsExistingClass: a class of that name is left as it is, and its
// claims are provisioned.
func TestKeepsExistingClass(t *testing.T) {
	existing := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: testClass}, Provisioner: "someone.else/local"}
	client := fake.NewClientset(existing)
	p := start(t, client, Config{DefaultClass: true})
	create(t, client, claim("data", testClass, "u1"))
	waitVolume(t, client, "pvc-u1")
	sc, err := client.StorageV1().StorageClasses().Get(context.Background(), testClass, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Provisioner != "someone.else/local" || sc.Annotations[annDefaultClass] != "" {
		t.Errorf("existing storage class changed: %+v", sc)
	}
	if _, err := os.Stat(p.Dir("ns", "data", "u1")); err != nil {
		t.Errorf("volume directory: %v", err)
	}
}

// TestProvisionsAndDeletes: a claim of the class gets a volume with the
// claim's size and access modes, pre-bound to it, on a directory anyone can
// write, pinned to the node; once Released, the directory and the volume go.
func TestProvisionsAndDeletes(t *testing.T) {
	// A umask that would leave the directory closed to other users: the
	// provisioner must open it anyway.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	client := fake.NewClientset()
	base := t.TempDir()
	p := start(t, client, Config{BaseDir: base, NodeName: "node-a"})
	pvc := claim("data-raft-0", testClass, "u1")
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
	create(t, client, pvc)

	pv := waitVolume(t, client, "pvc-u1")
	dir := filepath.Join(base, "pvc-u1_ns_data-raft-0")
	if got := p.Dir("ns", "data-raft-0", "u1"); got != dir {
		t.Errorf("Dir = %s, want %s", got, dir)
	}
	if hp := pv.Spec.HostPath; hp == nil || hp.Path != dir || hp.Type == nil || *hp.Type != corev1.HostPathDirectory {
		t.Errorf("hostPath %+v, want %s of type Directory", hp, dir)
	}
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("capacity %s, want 1Gi", got.String())
	}
	if !slices.Equal(pv.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}) {
		t.Errorf("access modes %v, want the claim's", pv.Spec.AccessModes)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Kind != "PersistentVolumeClaim" || ref.Namespace != "ns" || ref.Name != "data-raft-0" || ref.UID != "u1" {
		t.Errorf("claimRef %+v, want ns/data-raft-0 u1", ref)
	}
	if pv.Spec.StorageClassName != testClass || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Annotations[AnnProvisionedBy] != testProvisioner {
		t.Errorf("volume %s: class %q, reclaim %s, provisioned-by %q", pv.Name, pv.Spec.StorageClassName,
			pv.Spec.PersistentVolumeReclaimPolicy, pv.Annotations[AnnProvisionedBy])
	}
	wantAffinity := &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}},
	}}}}
	if got := pv.Spec.NodeAffinity; !apiequality.Semantic.DeepEqual(got, wantAffinity) {
		t.Errorf("node affinity %v, want %v", got, wantAffinity)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Errorf("volume directory mode %v, want a directory with 0777", fi.Mode())
	}

	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	release(t, client, pv)
	eventually(t, "released volume deleted", func() bool {
		_, err := client.CoreV1().PersistentVolumes().Get(context.Background(), pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("volume directory still there after deletion: %v", err)
	}
}

// TestIgnoresOtherClaims: claims of another class, of no class, selected for
// another node or asking for a block device, and bound claims, get nothing.
// Each informer delivers events in order, so once the last claim's volume
// exists, the ones before it have been looked at.
func TestIgnoresOtherClaims(t *testing.T) {
	client := fake.NewClientset()
	base := t.TempDir()
	start(t, client, Config{BaseDir: base, NodeName: "node-a"})
	otherNode := claim("elsewhere", testClass, "u3")
	otherNode.Annotations = map[string]string{AnnSelectedNode: "node-b"}
	block := claim("block", testClass, "u4")
	mode := corev1.PersistentVolumeBlock
	block.Spec.VolumeMode = &mode
	bound := claim("bound", testClass, "u5")
	bound.Spec.VolumeName = "static-volume"
	thisNode := claim("here", testClass, "u6")
	thisNode.Annotations = map[string]string{AnnSelectedNode: "node-a"}
	create(t, client, claim("other", "fast", "u1"), claim("none", "", "u2"), otherNode, block, bound, thisNode)

	waitVolume(t, client, "pvc-u6")
	if got := volumeNames(t, client); !slices.Equal(got, []string{"pvc-u6"}) {
		t.Errorf("volumes %v, want only pvc-u6", got)
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "pvc-u6_ns_here" {
		t.Errorf("base directory holds %v, want only pvc-u6_ns_here", entries)
	}
}

// TestDeletesOnlyItsOwn: a released volume of another provisioner is left
// alone; one of ours whose path is not the directory made for its claim is
// deleted without touching that path.
func TestDeletesOnlyItsOwn(t *testing.T) {
	base := t.TempDir()
	foreignDir := filepath.Join(base, "foreign")
	if err := os.Mkdir(foreignDir, 0o755); err != nil {
		t.Fatal(err)
	}
	volume := func(name, provisioner, path string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{AnnProvisionedBy: provisioner}},
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "ns", Name: "c", UID: "u1"},
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
		}
	}
	client := fake.NewClientset(
		volume("theirs", "someone.else/local", foreignDir),
		volume("edited", testProvisioner, foreignDir),
	)
	start(t, client, Config{BaseDir: base})
	eventually(t, "our released volume deleted", func() bool {
		return slices.Equal(volumeNames(t, client), []string{"theirs"})
	})
	if _, err := os.Stat(foreignDir); err != nil {
		t.Errorf("a path the provisioner did not make was removed: %v", err)
	}
}

// TestByClaimName: the local kubelet's layout, NAMESPACE/CLAIM, without node
// affinity; a released volume whose claim name was taken by a newer claim
// keeps the directory, which is the newer claim's now.
func TestByClaimName(t *testing.T) {
	client := fake.NewClientset()
	base := t.TempDir()
	p := start(t, client, Config{BaseDir: base, ByClaimName: true})
	create(t, client, claim("data", testClass, "u1"))
	pv := waitVolume(t, client, "pvc-u1")
	dir := filepath.Join(base, "ns", "data")
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || p.Dir("ns", "data", "other-uid") != dir {
		t.Errorf("hostPath %+v, want %s", pv.Spec.HostPath, dir)
	}
	if pv.Spec.NodeAffinity != nil {
		t.Errorf("node affinity %v without a node name", pv.Spec.NodeAffinity)
	}

	// The claim is deleted and re-created under its name before its old
	// volume is released.
	ctx := context.Background()
	if err := client.CoreV1().PersistentVolumeClaims("ns").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	create(t, client, claim("data", testClass, "u2"))
	waitVolume(t, client, "pvc-u2")
	release(t, client, pv)
	eventually(t, "old volume deleted", func() bool {
		return slices.Equal(volumeNames(t, client), []string{"pvc-u2"})
	})
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the newer claim's directory was removed with the old volume: %v", err)
	}

	// Once that claim is gone too, its volume takes the directory with it.
	if err := client.CoreV1().PersistentVolumeClaims("ns").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pv2, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	release(t, client, pv2)
	eventually(t, "directory removed", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
}

// bind plays the controller-manager's binder: the claim is bound to its
// volume with the volume's capacity.
func bind(t *testing.T, client kubernetes.Interface, name, volume string) *corev1.PersistentVolumeClaim {
	t.Helper()
	ctx := context.Background()
	pvc, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvc.Spec.VolumeName = volume
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}
	if pvc, err = client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pvc
}

// request sets the claim's storage request, as a user expanding it does.
func request(t *testing.T, client kubernetes.Interface, pvc *corev1.PersistentVolumeClaim, size string) {
	t.Helper()
	pvc = pvc.DeepCopy()
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(size)
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Update(context.Background(), pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func capacity(l corev1.ResourceList) string {
	q := l[corev1.ResourceStorage]
	return q.String()
}

// TestResizes: a bound claim of a class that names this provisioner and
// allows expansion gets its volume's capacity, then its status.capacity, set
// to what it asks for, and is marked as expanded by this provisioner; claims
// of the installed class (no expansion), of another provisioner's class,
// and of a volume not ours are left alone.
func TestResizes(t *testing.T) {
	yes := true
	client := fake.NewClientset(
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "expandable"}, Provisioner: testProvisioner, AllowVolumeExpansion: &yes},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}, Provisioner: "someone.else/local", AllowVolumeExpansion: &yes},
	)
	start(t, client, Config{})
	ctx := context.Background()
	create(t, client, claim("fixed", testClass, "u1"), claim("grows", "expandable", "u2"), claim("foreign", "expandable", "u3"))
	waitVolume(t, client, "pvc-u1")
	pv := waitVolume(t, client, "pvc-u2")
	if pv.Spec.StorageClassName != "expandable" {
		t.Errorf("volume of a claim of class expandable has class %q", pv.Spec.StorageClassName)
	}
	// A volume someone else made, bound to claim foreign.
	foreign := waitVolume(t, client, "pvc-u3").DeepCopy()
	foreign.Annotations[AnnProvisionedBy] = "someone.else/local"
	if _, err := client.CoreV1().PersistentVolumes().Update(ctx, foreign, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	create(t, client, claim("other", "theirs", "u4"))

	// Changed in this order; the informer delivers them in order, so once
	// the last is expanded the others have been looked at.
	request(t, client, bind(t, client, "fixed", "pvc-u1"), "2Gi")
	request(t, client, bind(t, client, "foreign", "pvc-u3"), "2Gi")
	request(t, client, bind(t, client, "grows", "pvc-u2"), "2Gi")
	var got *corev1.PersistentVolumeClaim
	eventually(t, "claim grows expanded", func() bool {
		var err error
		got, err = client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "grows", metav1.GetOptions{})
		return err == nil && capacity(got.Status.Capacity) == "2Gi"
	})
	if capacity(got.Status.AllocatedResources) != "2Gi" || got.Annotations[AnnStorageResizer] != testProvisioner {
		t.Errorf("expanded claim: allocated %s, %s=%q; want 2Gi, %s", capacity(got.Status.AllocatedResources),
			AnnStorageResizer, got.Annotations[AnnStorageResizer], testProvisioner)
	}
	for name, want := range map[string]string{"pvc-u1": "1Gi", "pvc-u2": "2Gi", "pvc-u3": "1Gi"} {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := capacity(pv.Spec.Capacity); got != want {
			t.Errorf("volume %s capacity %s, want %s", name, got, want)
		}
	}
	for _, name := range []string{"fixed", "foreign"} {
		c, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if capacity(c.Status.Capacity) != "1Gi" || c.Annotations[AnnStorageResizer] != "" {
			t.Errorf("claim %s: capacity %s, resizer %q; want it left alone", name, capacity(c.Status.Capacity), c.Annotations[AnnStorageResizer])
		}
	}
	if names := volumeNames(t, client); slices.Contains(names, "pvc-u4") {
		t.Errorf("a claim of another provisioner's class got a volume: %v", names)
	}
}
