package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// processNodeName is the process kubelet's Node.
const processNodeName = "local-node"

// env is a running control plane and node.
type env struct {
	client     *kubernetes.Clientset
	rest       *rest.Config
	kubeconfig string
	controlDir string // localkube's --state
	// real: the pods run in containers on the real node (`localkube up
	// --node`); otherwise as processes under the process kubelet.
	real bool
	// The process kubelet's:
	cuts        *netCuts // the network cuts in force (cutNetwork)
	kubeletDir  string   // the kubelet's --state-dir
	kubeletLog  string
	mountPoints string // parent of the pods' mount points
}

// startEnv starts the control plane and the node -e2e.node names, and
// returns once the node is Ready. Cleanup tears both down and checks that
// nothing of them is left on the machine.
func startEnv(ctx context.Context, t *testing.T) *env {
	t.Helper()
	requireBuild(t)
	if *nodeKind == "process" {
		return startProcessEnv(ctx, t)
	}
	return startRealEnv(ctx, t)
}

// dataDir is where a hand-made StatefulSet's pods keep their data: a path
// in the container, or for the process kubelet (whose pods see the host's
// file system) a mount point of its own.
func (e *env) dataDir() string {
	if e.real {
		return "/var/lib/raftnode"
	}
	return filepath.Join(e.mountPoints, "data")
}

// startRealEnv starts the control plane and a real node with `localkube up
// --node`, which imports the images and waits until the node is Ready and
// CoreDNS answers inside a pod. Cleanup runs `localkube down`, then checks
// that no process of the run and no mount under its directories is left
// (localkube's own tests check the node's host state in depth).
func startRealEnv(ctx context.Context, t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{controlDir: filepath.Join(root, "localkube"), real: true}
	t.Cleanup(func() { checkGone(t, root, "") })
	up := exec.CommandContext(ctx, filepath.Join(buildDir, "localkube"), "up", "--detach", "--node",
		"--bin", filepath.Join(repoRoot, "bin"), "--state", e.controlDir, "--grace", "5s",
		"--images", strings.Join(imageTarballs(), ","),
		// One real node per machine: another run's (hack/localkube's tests,
		// a second go test) is waited for, not failed on.
		"--lock-wait", "10m")
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	t.Cleanup(func() {
		out, err := exec.Command(filepath.Join(buildDir, "localkube"), "down", "--state", e.controlDir, "--grace", "5s").CombinedOutput()
		if err != nil {
			t.Errorf("localkube down: %v\n%s", err, out)
		}
	})
	began := time.Now()
	if err := up.Run(); err != nil {
		t.Fatalf("localkube up --node: %v\n%s", err, upOut.String())
	}
	t.Logf("control plane and real node up in %v:\n%s", time.Since(began).Round(100*time.Millisecond), upOut.String())
	e.connect(t)
	// Runs before `localkube down` (which removes the logs).
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpLogs(t)
		}
	})
	return e
}

// connect makes the env's clients from the control plane's kubeconfig.
func (e *env) connect(t *testing.T) {
	t.Helper()
	e.kubeconfig = filepath.Join(e.controlDir, "kubeconfig")
	rc, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	e.rest = rc
	e.client, err = kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
}

// startProcessEnv starts the control plane and the process kubelet and
// waits for the Node to be Ready. Cleanup stops both (kubelet first) and
// then checks that none of their processes, nor any mount under the
// kubelet's state dir, remains.
func startProcessEnv(ctx context.Context, t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{
		controlDir:  filepath.Join(root, "localkube"),
		kubeletDir:  filepath.Join(root, "kubelet"),
		kubeletLog:  filepath.Join(root, "kubelet.log"),
		mountPoints: filepath.Join(root, "mnt"),
	}
	// Mount points the pods need on the host (the service-account volume,
	// the operator's data dir): the kubelet creates them and must remove
	// what it created.
	created := map[string]bool{}
	for _, dir := range []string{"/var/run/secrets", "/var/lib/raftnode"} {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			created[dir] = true
		}
	}
	// Runs last: after the kubelet and the control plane were stopped.
	t.Cleanup(func() {
		checkGone(t, root, e.kubeletDir)
		for dir := range created {
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("mount point %s left on the host after teardown", dir)
			}
		}
	})

	up := exec.CommandContext(ctx, filepath.Join(buildDir, "localkube"), "up", "--detach",
		"--bin", filepath.Join(repoRoot, "bin"), "--state", e.controlDir, "--grace", "5s")
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	t.Cleanup(func() {
		out, err := exec.Command(filepath.Join(buildDir, "localkube"), "down", "--state", e.controlDir, "--grace", "5s").CombinedOutput()
		if err != nil {
			t.Errorf("localkube down: %v\n%s", err, out)
		}
	})
	if err := up.Run(); err != nil {
		t.Fatalf("localkube up: %v\n%s", err, upOut.String())
	}
	e.connect(t)
	kubeconfig := e.kubeconfig

	logFile, err := os.Create(e.kubeletLog)
	if err != nil {
		t.Fatal(err)
	}
	kubelet := exec.Command(filepath.Join(buildDir, "localkubelet"),
		"--kubeconfig", kubeconfig,
		"--node-name", processNodeName,
		"--listen", freeAddr(t),
		"--state-dir", e.kubeletDir,
		"--pod-cidr", "127.42.0.0/24",
		"--hosts-files=true",
		"--pod-source-addresses=true", // pods send from their pod IPs, so cutNetwork can tell them apart
		"--restart-backoff", "200ms", "--restart-backoff-max", "2s",
		// Any tag: the repositories `make images` names; the manager's
		// failpoints tag (`make test-images`) is the test build.
		"--image", "ghcr.io/raftkube/raftnode="+filepath.Join(buildDir, "raftnode"),
		"--image", "ghcr.io/raftkube/manager="+filepath.Join(buildDir, "manager"),
		"--image", "ghcr.io/raftkube/manager:"+failpointsTag()+"="+filepath.Join(buildDir, "manager-failpoints"),
	)
	kubelet.Stdout, kubelet.Stderr = logFile, logFile
	if err := kubelet.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start localkubelet: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- kubelet.Wait(); _ = logFile.Close() }()
	t.Cleanup(func() {
		_ = kubelet.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("localkubelet exited: %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = kubelet.Process.Kill()
			t.Errorf("localkubelet did not stop within 20s of SIGTERM; killed: %v", <-exited)
		}
	})
	// Runs before the kubelet stops (and removes the pod directories).
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpLogs(t)
		}
	})

	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := e.client.CoreV1().Nodes().Get(ctx, processNodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node %s not Ready: %v", processNodeName, err)
	}
	// The teardown check must see the processes it looks for.
	if procs := processesUsing(root, buildDir); len(procs) < 5 {
		t.Fatalf("expected the kubelet and 4 control plane processes to match, found:\n%s", strings.Join(procs, "\n"))
	}
	return e
}

// dumpLogs logs the tails of the kubelet's and the containers' logs, and the
// pods' statuses.
func (e *env) dumpLogs(t *testing.T) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.kubeletDir, "pods", "*", "*.log"))
	files = append([]string{e.kubeletLog}, files...)
	if e.real {
		// The node's components (containerd, kubelet, kube-proxy, the
		// provisioner) and the containers' logs as the kubelet keeps them.
		files, _ = filepath.Glob(filepath.Join(e.controlDir, "node", "logs", "*.log"))
		pods, _ := filepath.Glob(filepath.Join(e.controlDir, "node", "kubelet", "pod-logs", "*", "*", "*.log"))
		files = append(files, pods...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		const tail = 4000
		if len(b) > tail {
			b = b[len(b)-tail:]
		}
		t.Logf("%s (tail):\n%s", f, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if pods, err := e.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s: phase %s, ip %s, conditions %v, containers %v", p.Name, p.Status.Phase, p.Status.PodIP, p.Status.Conditions, p.Status.ContainerStatuses)
		}
	}
}

// checkGone waits until no process has root in its command line (the
// control plane's and the node's state, raftnode's data) or runs a binary
// from buildDir, and checks that no mount under root is left in this mount
// namespace and no iptables chain of the process kubelet (kubeletDir) or of
// the test's cuts; with kubeletDir empty (the real node), that no chain of
// kube-proxy is left either.
func checkGone(t *testing.T, root, kubeletDir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var left []string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		left = processesUsing(root, buildDir)
		return len(left) == 0, nil
	})
	if err != nil {
		t.Errorf("processes left after teardown:\n%s", strings.Join(left, "\n"))
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
		return
	}
	for line := range strings.SplitSeq(string(mounts), "\n") {
		if strings.Contains(line, root) {
			t.Errorf("mount left after teardown: %s", line)
		}
	}
	// The process kubelet's source-NAT chain (named after its state dir, see
	// the kubelet's provider.NewSourceNAT) and the test's cut chain, or
	// kube-proxy's chains, are gone.
	chains := []string{cutChain()}
	if kubeletDir != "" {
		sum := sha256.Sum256([]byte(kubeletDir))
		chains = append(chains, "LKL-SNAT-"+hex.EncodeToString(sum[:4]))
	} else {
		chains = append(chains, "KUBE-SERVICES", "KUBE-FORWARD")
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			t.Errorf("iptables -t %s -S: %v: %s", table, err, out)
			continue
		}
		for _, chain := range chains {
			if strings.Contains(string(out), chain) {
				t.Errorf("iptables chain %s left after teardown:\n%s", chain, out)
			}
		}
	}
}

// processesUsing lists "PID: cmdline" of the processes whose command line
// mentions any of dirs.
func processesUsing(dirs ...string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // gone, or a zombie
		}
		cmdline := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ")
		for _, dir := range dirs {
			if strings.Contains(cmdline, dir) {
				out = append(out, fmt.Sprintf("%d: %s", pid, cmdline))
				break
			}
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// tool runs one of the pinned tools in bin/ (kubectl, helm) against the
// env's control plane and returns its combined output; a failure fails t.
func (e *env) tool(ctx context.Context, t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := e.toolErr(ctx, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// toolErr is tool returning the error instead of failing.
func (e *env) toolErr(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "bin", name), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "HELM_CACHE_HOME="+filepath.Join(e.controlDir, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(e.controlDir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(e.controlDir, "helm-data"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitFor polls cond every 200ms until it holds or ctx ends; what names the
// condition in the failure, last (if set) says what was last seen.
func waitFor(ctx context.Context, t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s: %v", what, errors.Join(err, last))
	}
}
