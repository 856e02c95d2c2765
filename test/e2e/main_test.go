// Package e2e runs raftnode and the operator on a real Kubernetes control
// plane (hack/localkube: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler from bin/) and a node. By default the node is a real one
// (`localkube up --node`: containerd, runc, kubelet, kube-proxy, CNI bridge,
// CoreDNS) running the images `make images` builds; -e2e.node=process runs
// the pods as host processes under the local process kubelet
// (hack/localkubelet) instead. TestMain builds what the chosen node needs
// into a temporary directory once.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

// nodeKind chooses the node the pods run on.
var nodeKind = flag.String("e2e.node", "real", "the node pods run on: real (containerd, kubelet, kube-proxy, CoreDNS; needs root) or process (the local process kubelet)")

// Set by TestMain.
var (
	repoRoot   string // the main module's directory
	buildDir   string // fresh binaries and, for the real node, image tarballs
	buildError error
	// appVersion is the chart's appVersion: the tag of the images `make images` builds.
	appVersion string
)

func TestMain(m *testing.M) {
	flag.Parse()
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
	if !testing.Short() {
		buildError = build()
	}
	return m.Run()
}

// Image references, as `make images` names them (see hack/images.sh).
func nodeImage() string    { return "ghcr.io/raftkube/raftnode:" + appVersion }
func managerImage() string { return "ghcr.io/raftkube/manager:" + appVersion }

// failpointsTag is the tag of the manager built with -tags failpoints (`make
// test-images`), the one manager that RAFTKUBE_FAILPOINTS can crash; the
// release image refuses failpoints.
func failpointsTag() string { return appVersion + "-failpoints" }

// build compiles the binaries from their modules and, for the real node,
// builds the images for this machine's platform the way `make images` does.
func build() error {
	v, err := chartAppVersion()
	if err != nil {
		return err
	}
	appVersion = v
	type goBuild struct{ dir, pkg, out, tags string }
	builds := []goBuild{
		{"hack/localkube", "./cmd/localkube", "localkube", ""},
		{".", "./cmd/node", "raftnode", ""},
		{".", "./cmd/manager", "manager", ""},
	}
	if *nodeKind == "process" {
		builds = append(builds, goBuild{"hack/localkubelet", "./cmd/localkubelet", "localkubelet", ""},
			goBuild{".", "./cmd/manager", "manager-failpoints", "failpoints"})
	} else {
		builds = append(builds, goBuild{"hack/imagetool", "./cmd/imagetool", "imagetool", ""})
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-o", filepath.Join(buildDir, b.out), b.pkg)
		cmd.Dir = filepath.Join(repoRoot, b.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", b.pkg, b.dir, err, out)
		}
	}
	if *nodeKind == "process" {
		return nil
	}
	for _, target := range []string{"images", "test-images", "node-images"} {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "images.sh"), target)
		cmd.Env = append(os.Environ(), "IMAGETOOL="+filepath.Join(buildDir, "imagetool"),
			"OUT="+filepath.Join(buildDir, "images"), "PLATFORMS=linux/"+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("hack/images.sh %s: %w\n%s", target, err, out)
		}
	}
	return nil
}

// chartAppVersion reads appVersion from the chart.
func chartAppVersion() (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "charts", "raftkube", "Chart.yaml"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?\s*$`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no appVersion in charts/raftkube/Chart.yaml")
	}
	return string(m[1]), nil
}

// imageTarballs are the tarballs the real node imports.
func imageTarballs() []string {
	var out []string
	for _, name := range []string{"raftnode", "manager", "manager-failpoints", "pause", "coredns"} {
		out = append(out, filepath.Join(buildDir, "images", name+".tar"))
	}
	return out
}

func requireBuild(t *testing.T) {
	t.Helper()
	if buildError != nil {
		t.Fatal(buildError)
	}
	need := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
	if *nodeKind != "process" {
		if os.Geteuid() != 0 {
			t.Fatal("the real node needs root (or run with -e2e.node=process)")
		}
		need = append(need, "kubelet", "kube-proxy", "hostpath-provisioner", "cni/bridge")
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(repoRoot, "bin", b)); err != nil {
			t.Fatalf("no %s in %s/bin: run `make k8s-tools node-tools`", b, repoRoot)
		}
	}
}
