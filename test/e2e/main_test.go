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
	buildDir   string // fresh binaries: localkube, localkubelet, raftnode, raftnode-entrypoint
	buildError error
)

// entrypoint is the test's stand-in for the raftkube/raftnode:dev image's
// entrypoint. A StatefulSet gives every pod the same spec, so RAFTNODE_BOOTSTRAP
// cannot be set for pod 0 alone; this script sets it when the pod's ordinal
// (from POD_NAME, the downward API) is 0 and then execs raftnode, so the process
// the kubelet supervises is raftnode itself. Bootstrap is ignored once the data
// dir holds a member, so a restarted pod 0 rejoins instead of forming a new
// cluster.
const entrypoint = `#!/bin/sh
case "$POD_NAME" in
*-0) RAFTNODE_BOOTSTRAP=true; export RAFTNODE_BOOTSTRAP ;;
esac
exec %q "$@"
`

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

// build compiles the three binaries from their modules and writes the
// entrypoint script.
func build() error {
	for _, b := range []struct{ dir, pkg, out string }{
		{"hack/localkube", "./cmd/localkube", "localkube"},
		{"hack/localkubelet", "./cmd/localkubelet", "localkubelet"},
		{".", "./cmd/node", "raftnode"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, b.out), b.pkg)
		cmd.Dir = filepath.Join(repoRoot, b.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", b.pkg, b.dir, err, out)
		}
	}
	script := fmt.Sprintf(entrypoint, filepath.Join(buildDir, "raftnode"))
	return os.WriteFile(filepath.Join(buildDir, "raftnode-entrypoint"), []byte(script), 0o755)
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
