package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/virtual-kubelet/virtual-kubelet/log"
)

// A minimal dynamic provisioner for directory-backed volumes. Claims of the
// StorageClass it installs (the default class) get a PersistentVolume whose
// hostPath is the directory the provider mounts for that claim
// (STATE/pvc/NAMESPACE/CLAIM); the controller-manager binds the two. When a
// claim is deleted its volume is Released, and the provisioner deletes the
// directory and the volume, so PVC deletion really deletes data.
const (
	// StorageClassName is the default StorageClass the kubelet installs.
	StorageClassName = "local"
	// Provisioner names this provisioner in StorageClasses and volumes.
	Provisioner             = "raftkube.io/local-kubelet"
	annProvisionedBy        = "pv.kubernetes.io/provisioned-by"
	annStorageProvisioner   = "volume.kubernetes.io/storage-provisioner"
	annBetaStorageProvision = "volume.beta.kubernetes.io/storage-provisioner"
)

type provisioner struct {
	client   kubernetes.Interface
	stateDir string
}

// claimDir must match provider.Provider's volume directory for a claim.
func (p provisioner) claimDir(ns, claim string) string {
	return filepath.Join(p.stateDir, "pvc", ns, claim)
}

// run installs the StorageClass and starts the claim and volume informers.
func (p provisioner) run(ctx context.Context) error {
	mode := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	if _, err := p.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("install storage class: %w", err)
	}
	f := informers.NewSharedInformerFactory(p.client, time.Minute)
	_, _ = f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.claimChanged(ctx, o) },
		UpdateFunc: func(_, o any) { p.claimChanged(ctx, o) },
	})
	_, _ = f.Core().V1().PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.volumeChanged(ctx, o) },
		UpdateFunc: func(_, o any) { p.volumeChanged(ctx, o) },
	})
	f.Start(ctx.Done())
	return nil
}

// claimChanged provisions a volume for an unbound claim of our class.
func (p provisioner) claimChanged(ctx context.Context, o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Annotations[annStorageProvisioner] != Provisioner && pvc.Annotations[annBetaStorageProvision] != Provisioner &&
		(pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClassName) {
		return
	}
	dir := p.claimDir(pvc.Namespace, pvc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.G(ctx).WithError(err).Warn("provision claim directory")
		return
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{annProvisionedBy: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClassName,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPathType}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		log.G(ctx).WithError(err).Warn("create persistent volume")
	}
}

// volumeChanged deletes a Released volume of ours, and its data.
func (p provisioner) volumeChanged(ctx context.Context, o any) {
	pv, ok := o.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[annProvisionedBy] != Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return
	}
	if ref := pv.Spec.ClaimRef; ref != nil && pv.Spec.HostPath != nil && pv.Spec.HostPath.Path == p.claimDir(ref.Namespace, ref.Name) {
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			log.G(ctx).WithError(err).Warn("delete claim directory")
			return
		}
	}
	if err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		log.G(ctx).WithError(err).Warn("delete persistent volume")
	}
}
