// Package kubeenv runs controller-runtime's envtest control plane (etcd and
// kube-apiserver, built into bin/ by `make k8s-tools`) for the project's
// tests, with the generated CRDs of config/crd/bases installed, so tests see
// what `kubectl apply` users get rather than the Go types.
//
// One server serves a whole test binary: a package-level Shared starts it on
// first use and TestMain stops it. A missing binary is an error naming the
// command that builds it: these tests never skip.
package kubeenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
)

// RepoRoot is the repository's root directory, found from this file's path.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir returns the directory holding etcd, kube-apiserver and kubectl:
// KUBEBUILDER_ASSETS (the Makefile sets it to bin/), or the repository's bin/.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s is missing from %s: run `make k8s-tools` (or `make test`, which builds it): %w", name, dir, err)
		}
	}
	return dir, nil
}

// Server is a running API server and an uncached client for it: every read
// goes to the server, so a test sees what it (or the code under test) wrote.
type Server struct {
	Config *rest.Config
	Client client.Client
	// Scheme knows client-go's types, CustomResourceDefinitions and the
	// RaftCluster API.
	Scheme *k8sruntime.Scheme
	env    *envtest.Environment
}

// Start starts etcd and kube-apiserver and installs the generated CRDs.
func Start() (*Server, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, raftv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest with the CRDs of config/crd/bases: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("client for envtest: %w", err), env.Stop())
	}
	return &Server{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Kubectl runs the pinned kubectl against the server as a cluster admin,
// for tests of what users see (kubectl explain, get), and returns its
// output; a failure includes its standard error.
func (s *Server) Kubectl(args ...string) (string, error) {
	user, err := s.env.AddUser(envtest.User{Name: "kubectl-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add kubectl user: %w", err)
	}
	kubectl, err := user.Kubectl()
	if err != nil {
		return "", fmt.Errorf("kubectl: %w", err)
	}
	stdout, stderr, err := kubectl.Run(args...)
	out, _ := io.ReadAll(stdout)
	if err != nil {
		errOut, _ := io.ReadAll(stderr)
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut)
	}
	return string(out), nil
}

// Stop stops the API server and etcd.
func (s *Server) Stop() error { return s.env.Stop() }

// Namespace creates a namespace of the test's own, so tests can reuse object
// names.
func (s *Server) Namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "raftcluster-"}}
	if err := s.Client.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// Shared is a Server started by the first test that asks for it.
type Shared struct {
	once   sync.Once
	server *Server
	err    error
}

// Get returns the shared server, starting it on first use; a failure to
// start fails t.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.server, sh.err = Start() })
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.server
}

// Stop stops the server if one was started; TestMain calls it after m.Run.
func (sh *Shared) Stop() error {
	if sh.server == nil {
		return nil
	}
	return sh.server.Stop()
}

// Main is a TestMain body for a package whose tests share sh: it runs the
// tests, stops the server, and, when they passed, fails on goroutines left
// running (goleak). It returns the exit code for os.Exit.
func (sh *Shared) Main(m *testing.M) int {
	code := m.Run()
	if err := sh.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		code = max(code, 1)
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
	return code
}
