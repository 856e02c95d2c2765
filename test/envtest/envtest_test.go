// Package envtest checks that controller-runtime's envtest runs on the
// Kubernetes binaries pinned in hack/k8stools and built into bin/ (make
// k8s-tools), the ones every controller test uses: a missing binary fails the
// test with the command that builds it, never skips it.
package envtest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/raftkube/raftkube/test/kubeenv"
)

// kubeVersion is the version hack/k8stools pins.
const kubeVersion = "v1.37.2"

// assets is the directory with etcd, kube-apiserver and kubectl; a missing
// binary fails the test with the command that builds it.
func assets(t *testing.T) string {
	t.Helper()
	dir, err := kubeenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEnvtestRunsThePinnedControlPlane(t *testing.T) {
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t)}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if !strings.HasPrefix(v.GitVersion, kubeVersion) {
		t.Errorf("kube-apiserver %s, want the pinned %s", v.GitVersion, kubeVersion)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "envtest-smoke"}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), ns.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("read the namespace back: %v", err)
	}
}
