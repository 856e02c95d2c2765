package controllers

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// One kube-apiserver (and etcd) serves every envtest test of this binary:
// started by the first test that needs it, stopped by TestMain. The unit
// tests of the pure parts never start it. The CRD is the generated one from
// config/crd/bases, so the status and scale subresources are what users get.
//
// envtest runs no kube-controller-manager: no StatefulSet controller makes
// pods and no garbage collector deletes owned objects. The tests create the
// pods and claims themselves and check owner references; the e2e suite
// (test/e2e) covers garbage collection and real pods.
var shared struct {
	once sync.Once
	env  *envtest.Environment
	api  *apiServer
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
			code = max(code, 1)
		}
	}
	if code == 0 {
		if err := goleak.Find(
			// client-go's log flusher, started by klog's init.
			goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// apiServer is the shared control plane and a client for it.
type apiServer struct {
	cfg    *rest.Config
	client client.Client
	scheme *k8sruntime.Scheme
}

// assets returns the directory with etcd, kube-apiserver and kubectl:
// KUBEBUILDER_ASSETS (the Makefile sets it to bin/), or the repository's bin/.
// A missing binary is an error naming the command that builds it: these tests
// never skip.
func assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(repoDir(), "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s is missing from %s: run `make k8s-tools` (or `make test`, which builds it): %w", name, dir, err)
		}
	}
	return dir, nil
}

func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func startAPIServer() (*apiServer, error) {
	dir, err := assets()
	if err != nil {
		return nil, err
	}
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, raftv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(repoDir(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest with the CRDs of config/crd/bases: %w", err)
	}
	shared.env = env
	// No cache: every read goes to the API server, so a pass sees what the
	// previous one wrote and the tests are deterministic.
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client for envtest: %w", err)
	}
	return &apiServer{cfg: cfg, client: c, scheme: scheme}, nil
}

// server returns the shared API server, starting it on first use.
func server(t *testing.T) *apiServer {
	t.Helper()
	shared.once.Do(func() { shared.api, shared.err = startAPIServer() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.api
}

// namespace creates a namespace of the test's own, so every test can name
// its cluster demo.
func (s *apiServer) namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "raftcluster-"}}
	if err := s.client.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}
