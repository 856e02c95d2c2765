// Package provisioner is a minimal dynamic provisioner for directory-backed
// volumes on a one-machine cluster. Claims of its StorageClass (which it
// installs, by default as the cluster's default class) get a hostPath
// PersistentVolume, pre-bound to the claim, whose directory it creates on this
// machine; the controller-manager then binds the two. When a claim is deleted
// its volume is Released, and the provisioner deletes the directory and the
// volume, so deleting a claim really deletes its data. It serves the class it
// installs and every other class that names it as provisioner.
//
// It is also the resizer of its volumes: when a bound claim of a class that
// allows expansion asks for more than it has, the volume's capacity and then
// the claim's status.capacity are set to the request, what external-resizer
// does for a CSI driver without node expansion. A directory has no size of
// its own to change. kube-controller-manager's expand controller leaves such
// claims alone: it finds no in-tree plugin that expands a hostPath volume and
// only records that it waits for an external controller.
//
// The local kubelet (package kubelet) runs it in-process; the real node runs
// it as a host process next to the kubelet (cmd/hostpath-provisioner), which
// is why it writes directories itself rather than going through a pod: the
// kubelet that mounts them is on the same machine.
package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// AnnProvisionedBy marks the volumes a provisioner made; the
	// controller-manager leaves the deletion of such volumes to it.
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnSelectedNode is where the scheduler names the node a claim's volume
	// must be reachable from (WaitForFirstConsumer classes).
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnStorageResizer names the controller expanding a claim, as
	// kube-controller-manager and external-resizer mark the claims they
	// expand.
	AnnStorageResizer = "volume.kubernetes.io/storage-resizer"
	// annDefaultClass makes a StorageClass the one claims without a class get.
	annDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// resync is how often every claim and volume is looked at again: a
	// provisioning or deletion that failed is retried then.
	resync = time.Minute
)

// Config configures a Provisioner.
type Config struct {
	// Client reaches the API server.
	Client kubernetes.Interface
	// BaseDir holds the volumes' directories, one per claim.
	BaseDir string
	// ByClaimName lays directories out as BaseDir/NAMESPACE/CLAIM, the path
	// the local kubelet's provider mounts for a claim (it sees claim names,
	// not volumes). Otherwise each volume gets BaseDir/pvc-UID_NAMESPACE_CLAIM
	// (UID: the claim's), as rancher's local-path-provisioner lays them out,
	// so a claim deleted and re-created under the same name never shares a
	// directory with its predecessor's volume, whose deletion removes it.
	ByClaimName bool
	// NodeName, when set, is the node the directories are on: volumes get a
	// required node affinity for its kubernetes.io/hostname label, so pods
	// using them are scheduled there (on a real cluster a hostPath volume is
	// only where its directory is), and claims the scheduler selected
	// another node for are left alone.
	NodeName string
	// Provisioner names this provisioner in the StorageClass and in its
	// volumes' pv.kubernetes.io/provisioned-by annotation.
	Provisioner string
	// StorageClass is the class whose claims get volumes; Run installs it
	// (Immediate binding, reclaim policy Delete) unless it exists. Claims of
	// any other class whose provisioner is Provisioner get volumes too.
	StorageClass string
	// DefaultClass marks the installed class as the cluster's default, so
	// claims that name no class get it.
	DefaultClass bool
	// Logger receives what goes wrong; nil means slog.Default().
	Logger *slog.Logger
}

// Provisioner provisions and deletes directory-backed volumes; see the
// package comment.
type Provisioner struct {
	cfg Config
	log *slog.Logger
	// classes reads StorageClasses from Run's informer; nil before Run.
	classes storagelisters.StorageClassLister
}

// New checks cfg and returns a Provisioner; Run starts it.
func New(cfg Config) (*Provisioner, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("provisioner config: no Client")
	case cfg.BaseDir == "":
		return nil, errors.New("provisioner config: no BaseDir")
	case cfg.Provisioner == "":
		return nil, errors.New("provisioner config: no Provisioner name")
	case cfg.StorageClass == "":
		return nil, errors.New("provisioner config: no StorageClass")
	}
	base, err := filepath.Abs(cfg.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("provisioner base dir %q: %w", cfg.BaseDir, err)
	}
	cfg.BaseDir = base
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Provisioner{cfg: cfg, log: log.With("provisioner", cfg.Provisioner, "storageClass", cfg.StorageClass)}, nil
}

// Dir is the directory of the volume for claim NAMESPACE/NAME with the
// given UID.
func (p *Provisioner) Dir(namespace, name string, uid types.UID) string {
	if p.cfg.ByClaimName {
		return filepath.Join(p.cfg.BaseDir, namespace, name)
	}
	return filepath.Join(p.cfg.BaseDir, volumeName(uid)+"_"+namespace+"_"+name)
}

// volumeName names the volume of the claim with the given UID, as the
// controller-manager's in-tree provisioners do.
func volumeName(uid types.UID) string { return "pvc-" + string(uid) }

// Run installs the StorageClass, then provisions and deletes volumes until ctx
// ends. It returns nil then, or the error that kept it from starting.
func (p *Provisioner) Run(ctx context.Context) error {
	if err := p.installClass(ctx); err != nil {
		return err
	}
	f := informers.NewSharedInformerFactory(p.cfg.Client, resync)
	p.classes = f.Storage().V1().StorageClasses().Lister()
	if _, err := f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.claimChanged(ctx, o) },
		UpdateFunc: func(_, o any) { p.claimChanged(ctx, o) },
	}); err != nil {
		return fmt.Errorf("watch persistent volume claims: %w", err)
	}
	if _, err := f.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.volumeChanged(ctx, o) },
		UpdateFunc: func(_, o any) { p.volumeChanged(ctx, o) },
	}); err != nil {
		return fmt.Errorf("watch persistent volumes: %w", err)
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	// Waits for the informers' goroutines, so none outlives Run.
	f.Shutdown()
	return nil
}

// installClass creates the StorageClass unless it exists. An existing class is
// left as it is (an administrator's choice), with a warning when it names
// another provisioner: its claims still get volumes from this one, since
// claims are matched by class name.
func (p *Provisioner) installClass(ctx context.Context) error {
	mode := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: p.cfg.StorageClass},
		Provisioner:       p.cfg.Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	if p.cfg.DefaultClass {
		sc.Annotations = map[string]string{annDefaultClass: "true"}
	}
	_, err := p.cfg.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("install storage class %s: %w", p.cfg.StorageClass, err)
	}
	existing, err := p.cfg.Client.StorageV1().StorageClasses().Get(ctx, p.cfg.StorageClass, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read existing storage class %s: %w", p.cfg.StorageClass, err)
	}
	if existing.Provisioner != p.cfg.Provisioner {
		p.log.Warn("the storage class exists with another provisioner; provisioning its claims anyway", "classProvisioner", existing.Provisioner)
	}
	return nil
}

// claimChanged provisions a volume for an unbound claim of one of our
// classes, and expands the volume of a bound one that asks for more.
func (p *Provisioner) claimChanged(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.DeletionTimestamp != nil || pvc.Spec.StorageClassName == nil {
		return
	}
	log := p.log.With("claim", pvc.Namespace+"/"+pvc.Name)
	class, ours, err := p.class(ctx, *pvc.Spec.StorageClassName)
	if err != nil {
		log.Warn("read the claim's storage class (retried within a minute)", "err", err)
		return
	}
	if !ours {
		return
	}
	if pvc.Spec.VolumeName != "" {
		if err := p.resize(ctx, pvc, class); err != nil {
			log.Warn("expand a volume (retried within a minute)", "err", err)
		}
		return
	}
	if node := pvc.Annotations[AnnSelectedNode]; p.cfg.NodeName != "" && node != "" && node != p.cfg.NodeName {
		return // the scheduler wants it on another node
	}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		log.Warn("claim asks for a block volume; only directories (volumeMode Filesystem) are provisioned")
		return
	}
	if err := p.provision(ctx, pvc); err != nil {
		log.Warn("provision a volume (retried within a minute)", "err", err)
	}
}

// class returns the StorageClass of that name (nil if there is none) and
// whether its claims are ours: it is the class we install, or names us as
// its provisioner.
func (p *Provisioner) class(ctx context.Context, name string) (*storagev1.StorageClass, bool, error) {
	sc, err := p.classes.Get(name)
	if apierrors.IsNotFound(err) {
		// The informer may not have seen a class created just now.
		sc, err = p.cfg.Client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, name == p.cfg.StorageClass, nil
	case err != nil:
		return nil, false, err
	}
	return sc, name == p.cfg.StorageClass || sc.Provisioner == p.cfg.Provisioner, nil
}

// resize expands the volume of a bound claim whose request exceeds its
// capacity, when its class allows expansion and the volume is one we made
// for it: the claim is marked as ours to expand, the volume's capacity set,
// then the claim's status.capacity (which tells the claim's users the
// resize is done).
func (p *Provisioner) resize(ctx context.Context, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) error {
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	if pvc.Status.Phase != corev1.ClaimBound || want.Cmp(have) <= 0 ||
		class == nil || class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion {
		return nil
	}
	pvs := p.cfg.Client.CoreV1().PersistentVolumes()
	pv, err := pvs.Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get volume %s: %w", pvc.Spec.VolumeName, err)
	}
	if pv.Annotations[AnnProvisionedBy] != p.cfg.Provisioner || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
		return nil // not a volume we made for this claim
	}
	claims := p.cfg.Client.CoreV1().PersistentVolumeClaims(pvc.Namespace)
	cur := pvc.DeepCopy()
	if pvc.Annotations[AnnStorageResizer] != p.cfg.Provisioner {
		// The UID precondition: a claim re-created meanwhile is not ours to mark.
		patch := fmt.Appendf(nil, `{"metadata":{"uid":%q,"annotations":{%q:%q}}}`, pvc.UID, AnnStorageResizer, p.cfg.Provisioner)
		if cur, err = claims.Patch(ctx, pvc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("mark claim as expanded by %s: %w", p.cfg.Provisioner, err)
		}
	}
	if c := pv.Spec.Capacity[corev1.ResourceStorage]; c.Cmp(want) < 0 {
		pv.Spec.Capacity[corev1.ResourceStorage] = want
		if _, err := pvs.Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("set capacity of volume %s to %s: %w", pv.Name, want.String(), err)
		}
	}
	// cur is the claim as the annotation left it: a change since makes the
	// status update conflict, and the change's event brings the claim back.
	cur.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
	cur.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
	delete(cur.Status.AllocatedResourceStatuses, corev1.ResourceStorage)
	cur.Status.Conditions = slices.DeleteFunc(cur.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
		return c.Type == corev1.PersistentVolumeClaimResizing || c.Type == corev1.PersistentVolumeClaimFileSystemResizePending
	})
	if _, err := claims.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("report capacity %s in the claim's status: %w", want.String(), err)
	}
	p.log.Info("expanded volume", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name, "from", have.String(), "to", want.String())
	return nil
}

// provision creates the claim's directory and its volume.
func (p *Provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	dir := p.Dir(pvc.Namespace, pvc.Name, pvc.UID)
	if err := makeDir(dir); err != nil {
		return err
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        volumeName(pvc.UID),
			Annotations: map[string]string{AnnProvisionedBy: p.cfg.Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              *pvc.Spec.StorageClassName,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType}},
		},
	}
	if p.cfg.NodeName != "" {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{p.cfg.NodeName},
			}}}},
		}}
	}
	if _, err := p.cfg.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create persistent volume %s: %w", pv.Name, err)
	}
	return nil
}

// makeDir creates a volume's directory, writable by everyone: a hostPath
// volume gets no fsGroup ownership from the kubelet, and the pods that use
// these volumes run as non-root users (raftnode's image runs as uid 65532),
// so the directory must be open to any uid. rancher's local-path-provisioner
// does the same. The mode is set again after mkdir because mkdir's is masked
// by the process umask. Parents get mkdir's usual mode: a container sees only
// the bind-mounted directory, never its parents.
func makeDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create volume parent directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create volume directory: %w", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("open volume directory to all users: %w", err)
	}
	return nil
}

// volumeChanged deletes a Released volume of ours, and its data.
func (p *Provisioner) volumeChanged(ctx context.Context, o any) {
	pv, ok := o.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[AnnProvisionedBy] != p.cfg.Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return
	}
	if err := p.delete(ctx, pv); err != nil {
		p.log.Warn("delete a released volume (retried within a minute)", "volume", pv.Name, "err", err)
	}
}

// delete removes a released volume's directory, then the volume.
func (p *Provisioner) delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	removeDir, err := p.ownsDir(ctx, pv)
	if err != nil {
		return err
	}
	if removeDir {
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			return fmt.Errorf("delete volume directory: %w", err)
		}
	}
	err = p.cfg.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: metav1.NewUIDPreconditions(string(pv.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete persistent volume: %w", err)
	}
	return nil
}

// ownsDir tells whether the released volume's directory is its own to
// delete: it must be the one this provisioner made for the claim (never an
// arbitrary path someone edited into the volume), and, where directories are
// named by claim, no newer claim of that name may have taken it over.
func (p *Provisioner) ownsDir(ctx context.Context, pv *corev1.PersistentVolume) (bool, error) {
	ref := pv.Spec.ClaimRef
	if ref == nil || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != p.Dir(ref.Namespace, ref.Name, ref.UID) {
		return false, nil
	}
	if !p.cfg.ByClaimName {
		return true, nil
	}
	claim, err := p.cfg.Client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("look for a newer claim %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return claim.UID == ref.UID, nil
}
