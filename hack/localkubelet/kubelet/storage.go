package kubelet

import (
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"github.com/raftkube/raftkube/hack/localkubelet/provisioner"
)

// The kubelet provisions claims with package provisioner: claims of the
// StorageClass it installs (the default class) get a PersistentVolume whose
// hostPath is the directory the provider mounts for that claim
// (STATE/pvc/NAMESPACE/CLAIM); the controller-manager binds the two. When a
// claim is deleted its volume is Released, and the provisioner deletes the
// directory and the volume, so PVC deletion really deletes data.
const (
	// StorageClassName is the default StorageClass the kubelet installs.
	StorageClassName = "local"
	// Provisioner names this provisioner in StorageClasses and volumes.
	Provisioner = "raftkube.io/local-kubelet"
)

// newProvisioner provisions into the directories the provider mounts. The
// volumes get no node affinity: every pod of this cluster runs here.
func newProvisioner(client kubernetes.Interface, stateDir string) (*provisioner.Provisioner, error) {
	return provisioner.New(provisioner.Config{
		Client:       client,
		BaseDir:      filepath.Join(stateDir, "pvc"),
		ByClaimName:  true,
		Provisioner:  Provisioner,
		StorageClass: StorageClassName,
		DefaultClass: true,
	})
}
