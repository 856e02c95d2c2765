// Package e2e runs raftnode as a StatefulSet on a real Kubernetes control plane
// (hack/localkube: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler from bin/) and the local kubelet (hack/localkubelet, which
// runs each pod's container as a local process). Both are separate Go modules,
// so TestMain builds them, and raftnode, into a temporary directory once and
// the test runs them as processes.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Set by TestMain.
var (
	repoRoot   string // the main module's directory
	buildDir   string // fresh binaries: localkube, localkubelet, raftnode, manager
	buildError error
)

func TestMain(m *testing.M) {
	code := run(m)
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

func run(m *testing.M) int {
	var err error
	repoRoot, err = filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buildDir, err = os.MkdirTemp("", "raftkube-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(buildDir) }()
	buildError = build()
	return m.Run()
}

// build compiles the binaries from their modules.
func build() error {
	for _, b := range []struct{ dir, pkg, out string }{
		{"hack/localkube", "./cmd/localkube", "localkube"},
		{"hack/localkubelet", "./cmd/localkubelet", "localkubelet"},
		{".", "./cmd/node", "raftnode"},
		{".", "./cmd/manager", "manager"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, b.out), b.pkg)
		cmd.Dir = filepath.Join(repoRoot, b.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", b.pkg, b.dir, err, out)
		}
	}
	return nil
}

func requireBuild(t *testing.T) {
	t.Helper()
	if buildError != nil {
		t.Fatal(buildError)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(repoRoot, "bin", b)); err != nil {
			t.Fatalf("no %s in %s/bin: run `make k8s-tools`", b, repoRoot)
		}
	}
}
