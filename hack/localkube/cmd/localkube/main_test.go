package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
	"github.com/raftkube/raftkube/hack/localkube/node"
	"go.uber.org/goleak"
)

// TestMain fails the package on a leaked goroutine. Started by a node as its
// helper (node.HelperEnv=1, `node lookup` in a pod's network namespace), the
// test binary is localkube instead.
func TestMain(m *testing.M) {
	if os.Getenv(node.HelperEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "node" && os.Args[2] == "lookup" {
		os.Exit(node.LookupMain(os.Args[3:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage:"},
		{[]string{"sideways"}, `unknown command "sideways"`},
		{[]string{"up"}, "--bin is required"},
		{[]string{"node"}, "usage: localkube node"},
		{[]string{"node", "sideways"}, `unknown node command "sideways"`},
		{[]string{"node", "kill", "--state", "/nonexistent"}, "NAMESPACE/POD[/CONTAINER]"},
		{[]string{"node", "kill", "--state", "/nonexistent", "justapod"}, "want NAMESPACE/POD[/CONTAINER]"},
		{[]string{"node", "cut", "--state", "/nonexistent", "a"}, "A B"},
		{[]string{"node", "pause", "--state", "/nonexistent", "ns/pod"}, "read node state"},
	} {
		err := run(tc.args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestDownWithoutStateDirIsANoOp(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"down", "--state", filepath.Join(t.TempDir(), "none")}, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !strings.Contains(out.String(), "nothing to stop") {
		t.Errorf("down said %q", out.String())
	}
}

// TestUpDetachThenDown is the `make`-target path: up --detach returns with the
// control plane healthy and recorded; down stops every recorded process.
func TestUpDetachThenDown(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("LOCALKUBE_BIN"); d != "" {
		bin = d
	}
	if _, err := os.Stat(filepath.Join(bin, controlplane.KubeAPIServer)); err != nil {
		t.Fatalf("%s/kube-apiserver is missing: run `make k8s-tools`: %v", bin, err)
	}
	state := filepath.Join(t.TempDir(), "state")
	var out strings.Builder
	if err := run([]string{"up", "--detach", "--bin", bin, "--state", state}, &out); err != nil {
		t.Fatalf("up --detach: %v", err)
	}
	t.Log(out.String())
	s, err := controlplane.ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = run([]string{"down", "--state", state}, &strings.Builder{}) }()
	if len(s.Processes) != 4 {
		t.Fatalf("state records %+v, want 4 processes", s.Processes)
	}
	kubectl := exec.CommandContext(t.Context(), filepath.Join(bin, "kubectl"), "--kubeconfig", s.Kubeconfig, "get", "--raw", "/readyz")
	if got, err := kubectl.Output(); err != nil || strings.TrimSpace(string(got)) != "ok" {
		t.Fatalf("kubectl get --raw /readyz = %q, %v", got, err)
	}

	out.Reset()
	if err := run([]string{"down", "--state", state}, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	for _, p := range s.Processes {
		// Detached, yet children of this test process: up's discarded
		// ControlPlane still reaps them, a moment after down saw them die.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(p.PID, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after down (kill 0: %v)", p.Name, p.PID, err)
		}
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir still there: %v", err)
	}
}

// TestUpNodeDetachThenDown is `make localkube-up NODE=1` and the e2e tests'
// fault commands: up --detach --node returns with the node Ready, `node kill`
// restarts a container, and down stops everything and undoes the node's
// host changes. Root only; it skips saying what is missing.
func TestUpNodeDetachThenDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real node needs root")
	}
	bin, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("LOCALKUBE_BIN"); d != "" {
		bin = d
	}
	cniBin := filepath.Join(bin, "cni")
	if d := os.Getenv("LOCALKUBE_CNI_BIN"); d != "" {
		cniBin = d
	}
	images := filepath.Join(bin, "images", "pause.tar") + "," + filepath.Join(bin, "images", "coredns.tar")
	if env := os.Getenv("LOCALKUBE_NODE_IMAGES"); env != "" {
		images = env
	}
	var missing []string
	for _, p := range append([]string{filepath.Join(bin, "kubelet"), filepath.Join(bin, "kube-proxy"), filepath.Join(cniBin, "bridge")}, strings.Split(images, ",")...) {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Skipf("not built: %v", missing)
	}
	args := []string{"up", "--detach", "--node", "--bin", bin, "--cni-bin", cniBin, "--images", images, "--lock-wait", "5m"}
	if _, err := os.Stat(filepath.Join(bin, node.Provisioner)); err != nil {
		args = append(args, "--no-provisioner")
	}
	state := filepath.Join(t.TempDir(), "state")
	var out strings.Builder
	if err := run(append(args, "--state", state), &out); err != nil {
		t.Fatalf("up --detach --node: %v", err)
	}
	t.Log(out.String())
	defer func() { _ = run([]string{"down", "--state", state}, &strings.Builder{}) }()
	st, err := node.ReadState(filepath.Join(state, "node"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := controlplane.ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", s.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// The CoreDNS pod's container, restarted by the kubelet after `node kill`.
	pod := kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[0].metadata.name}")
	if err := run([]string{"node", "kill", "--state", state, "kube-system/" + pod}, &out); err != nil {
		t.Fatalf("node kill: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := kubectl("-n", "kube-system", "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
		if got == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restartCount %s a minute after node kill, want 1", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// kubectl logs and exec go through the kubelet (its webhook authn/authz).
	if logs := kubectl("-n", "kube-system", "logs", pod, "--previous"); !strings.Contains(logs, "CoreDNS") {
		t.Errorf("kubectl logs --previous = %q, want CoreDNS's banner", logs)
	}
	if v := kubectl("-n", "kube-system", "exec", pod, "--", "/coredns", "-version"); !strings.Contains(v, "CoreDNS") {
		t.Errorf("kubectl exec = %q", v)
	}

	out.Reset()
	if err := run([]string{"down", "--state", state}, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir still there: %v", err)
	}
	if _, err := os.Stat("/sys/class/net/" + st.Bridge); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bridge %s still there: %v", st.Bridge, err)
	}
	if _, err := os.Stat(st.LockFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock %s still there: %v", st.LockFile, err)
	}
	for _, p := range append(s.Processes, st.Processes...) {
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(p.PID, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after down (kill 0: %v)", p.Name, p.PID, err)
		}
	}
}
