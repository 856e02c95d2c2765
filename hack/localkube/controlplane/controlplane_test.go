package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoBinDir is the bin/ the Makefile builds the Kubernetes binaries into;
// LOCALKUBE_BIN overrides it.
func repoBinDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LOCALKUBE_BIN"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeBinDir makes a bin dir whose components are the given shell scripts;
// the others just sleep, and are never reached.
func fakeBinDir(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler} {
		body, ok := scripts[name]
		if !ok {
			body = "exec sleep 300"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readPID reads a pid a fake component wrote.
func readPID(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake component wrote no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertGone fails unless pid no longer exists (our children are reaped by Stop).
func assertGone(t *testing.T, what string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s (pid %d) still exists after stop (kill 0: %v)", what, pid, err)
	}
}

func assertNoDir(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s still there (stat: %v)", dir, err)
	}
}

func TestStartFailsNamingComponentWithLogTail(t *testing.T) {
	bin := fakeBinDir(t, map[string]string{Etcd: "echo 'etcd: boom: unknown flag' >&2; exit 3"})
	state := filepath.Join(t.TempDir(), "state")
	_, err := Start(t.Context(), Options{BinDir: bin, StateDir: state, HealthTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("Start succeeded with an etcd that exits")
	}
	for _, want := range []string{"etcd: exited", "exit status 3", "last lines of", "boom: unknown flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	assertNoDir(t, state)
}

func TestStartTimeoutKillsWhatItStarted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "etcd.pid")
	// Ignores SIGTERM, so Stop has to escalate to SIGKILL.
	bin := fakeBinDir(t, map[string]string{Etcd: "trap '' TERM; echo $$ > " + pidFile + "; echo 'etcd starting'; exec sleep 300"})
	state := filepath.Join(t.TempDir(), "state")
	began := time.Now()
	_, err := Start(t.Context(), Options{BinDir: bin, StateDir: state, HealthTimeout: time.Second, StopGrace: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("Start succeeded with an etcd that never answers")
	}
	for _, want := range []string{"etcd: ", "not healthy within 1s", "etcd starting"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Start took %s to fail; want about the 1s timeout plus the 200ms grace", d)
	}
	assertGone(t, "fake etcd", readPID(t, pidFile))
	assertNoDir(t, state)
}

func TestStartCanceledKillsWhatItStarted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "etcd.pid")
	bin := fakeBinDir(t, map[string]string{Etcd: "echo $$ > " + pidFile + "; exec sleep 300"})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := Start(ctx, Options{BinDir: bin})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	assertGone(t, "fake etcd", readPID(t, pidFile))
}

// TestApiserverFailureStopsEtcd uses the real etcd and an apiserver that
// never gets ready and ignores SIGTERM.
func TestApiserverFailureStopsEtcd(t *testing.T) {
	realEtcd := filepath.Join(repoBinDir(t), Etcd)
	if _, err := os.Stat(realEtcd); err != nil {
		t.Fatalf("no etcd in %s: run `make k8s-tools`: %v", repoBinDir(t), err)
	}
	pidFile := filepath.Join(t.TempDir(), "apiserver.pid")
	bin := fakeBinDir(t, map[string]string{
		Etcd:          `exec "` + realEtcd + `" "$@"`,
		KubeAPIServer: "trap '' TERM; echo $$ > " + pidFile + "; echo 'apiserver: waiting forever'; exec sleep 300",
	})
	state := filepath.Join(t.TempDir(), "state")
	_, err := Start(t.Context(), Options{BinDir: bin, StateDir: state, HealthTimeout: 3 * time.Second, StopGrace: 500 * time.Millisecond, KeepState: true})
	if err == nil {
		t.Fatal("Start succeeded with an apiserver that never answers")
	}
	t.Logf("Start failed as it should:\n%v", err)
	if !strings.HasPrefix(err.Error(), "kube-apiserver: ") || !strings.Contains(err.Error(), "apiserver: waiting forever") {
		t.Errorf("error does not name kube-apiserver with its log:\n%v", err)
	}
	assertGone(t, "fake kube-apiserver", readPID(t, pidFile))
	s, rerr := ReadState(state)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(s.Processes) != 2 || s.Processes[0].Name != Etcd {
		t.Fatalf("state records %+v, want etcd then kube-apiserver", s.Processes)
	}
	assertGone(t, "etcd", s.Processes[0].PID)
}

func TestStopDetached(t *testing.T) {
	state := t.TempDir()
	p, err := startProcess("sleeper", "/bin/sh", []string{"-c", "trap '' TERM; exec sleep 300"}, filepath.Join(state, "sleeper.log"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeState(filepath.Join(state, stateFileName), State{Processes: []ProcessRecord{{Name: "sleeper", PID: p.pid(), StartTime: p.startTime}}}); err != nil {
		t.Fatal(err)
	}
	if !alive(p.pid(), p.startTime) {
		t.Fatal("the sleeper is not alive")
	}
	if alive(p.pid(), p.startTime+1) {
		t.Fatal("a pid with another start time counts as alive")
	}
	if err := StopDetached(t.Context(), state, 200*time.Millisecond); err != nil {
		t.Fatalf("StopDetached: %v", err)
	}
	<-p.done // reaps it; a detached process is reaped by whoever adopted it
	assertGone(t, "sleeper", p.pid())
	assertNoDir(t, state)
}

func TestStopDetachedRefusesDirWithoutState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := StopDetached(t.Context(), dir, time.Second); err == nil {
		t.Fatal("StopDetached accepted a directory without state.json")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatalf("the directory was touched: %v", err)
	}
}

func TestStartRefusesNonEmptyStateDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Options{BinDir: fakeBinDir(t, nil), StateDir: dir}); err == nil {
		t.Fatal("Start accepted a non-empty state dir")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatalf("the directory was touched: %v", err)
	}
}

func TestStartNamesMissingBinaries(t *testing.T) {
	_, err := Start(t.Context(), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Fatalf("Start error = %v, want one naming the missing binaries", err)
	}
}

// kubectl runs kubectl against cp with stdin, returning its stdout.
func kubectl(ctx context.Context, t *testing.T, bin string, cp *ControlPlane, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cp.Kubeconfig()}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

const statefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: localkube-test
spec:
  serviceName: web
  replicas: 3
  podManagementPolicy: Parallel  # OrderedReady would wait for web-0 to run, and there is no kubelet
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: registry.invalid/web:1
`

// TestControlPlane starts the real control plane, drives it with kubectl and
// stops it. It skips only when bin/kube-apiserver has not been built.
func TestControlPlane(t *testing.T) {
	bin := repoBinDir(t)
	if _, err := os.Stat(filepath.Join(bin, KubeAPIServer)); err != nil {
		t.Fatalf("%s/kube-apiserver is missing: run `make k8s-tools`: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	began := time.Now()
	cp, err := Start(ctx, Options{BinDir: bin, StateDir: filepath.Join(t.TempDir(), "state"), Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("control plane healthy in %s at %s", time.Since(began).Round(time.Millisecond), cp.APIServerURL())
	stopped := false
	defer func() {
		if !stopped {
			_ = cp.Stop(context.Background())
		}
	}()
	procs := cp.Processes()
	if len(procs) != 4 {
		t.Fatalf("Processes() = %+v, want 4", procs)
	}

	if out, err := kubectl(ctx, t, bin, cp, "", "get", "--raw", "/readyz"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("get --raw /readyz = %q, %v; want ok", out, err)
	}
	if _, err := kubectl(ctx, t, bin, cp, "", "create", "namespace", "localkube-test"); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(ctx, t, bin, cp, statefulSet, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	// The StatefulSet controller makes the pods (once the service-account
	// controller has made the namespace's default ServiceAccount, which the
	// ServiceAccount admission plugin requires); the scheduler, with no node,
	// marks them Unschedulable.
	const want = "web-0=Unschedulable web-1=Unschedulable web-2=Unschedulable"
	jsonpath := `{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="PodScheduled")].reason} {end}`
	var got string
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := kubectl(ctx, t, bin, cp, "", "get", "pods", "-n", "localkube-test", "-o", "jsonpath="+jsonpath)
		got = strings.TrimSpace(out)
		if err == nil && got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods = %q (%v), want %q\n--- controller manager log ---\n%s", got, err, want, tailFile(cp.LogPath(KubeControllerManager), 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("pods scheduled-as-unschedulable %s after start", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	stopped = true
	if err := cp.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("control plane stopped in %s", time.Since(began).Round(time.Millisecond))
	for _, p := range procs {
		assertGone(t, p.Name, p.PID)
	}
	assertNoDir(t, cp.StateDir())
}

func TestWaitReportsAnExitedComponent(t *testing.T) {
	dir := t.TempDir()
	quitter, err := startProcess("quitter", "/bin/sh", []string{"-c", "echo bye; exit 4"}, filepath.Join(dir, "quitter.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	sleeper, err := startProcess("sleeper", "/bin/sh", []string{"-c", "exec sleep 300"}, filepath.Join(dir, "sleeper.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	cp := &ControlPlane{opts: withDefaults(Options{KeepState: true}), layout: layout{dir: dir}, procs: []*process{sleeper, quitter}}
	err = cp.Wait(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "quitter: exited: exit status 4") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("Wait = %v, want quitter's exit with its log", err)
	}
	if err := cp.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, "sleeper", sleeper.pid())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (&ControlPlane{}).Wait(ctx); err != nil {
		t.Errorf("Wait with a canceled context = %v, want nil", err)
	}
}

// TestTwoControlPlanesAtOnce starts two in parallel: their ports, state and
// PKI must not collide.
func TestTwoControlPlanesAtOnce(t *testing.T) {
	bin := repoBinDir(t)
	if _, err := os.Stat(filepath.Join(bin, KubeAPIServer)); err != nil {
		t.Fatalf("%s/kube-apiserver is missing: run `make k8s-tools`: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cps := make([]*ControlPlane, 2)
	errs := make([]error, 2)
	done := make(chan int)
	for i := range cps {
		go func() {
			cps[i], errs[i] = Start(ctx, Options{BinDir: bin})
			done <- i
		}()
	}
	<-done
	<-done
	defer func() {
		for _, cp := range cps {
			if cp != nil {
				_ = cp.Stop(context.Background())
			}
		}
	}()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("control plane %d: %v", i, err)
		}
	}
	if cps[0].APIServerURL() == cps[1].APIServerURL() || cps[0].StateDir() == cps[1].StateDir() {
		t.Fatalf("both control planes at %s in %s", cps[0].APIServerURL(), cps[0].StateDir())
	}
	for i, cp := range cps {
		// Each admin token works on its own apiserver only.
		client, err := healthClient(cp.CACert())
		if err != nil {
			t.Fatal(err)
		}
		if ok, what := probe(ctx, client, cp.APIServerURL()+"/readyz", cp.AdminToken()); !ok {
			t.Errorf("control plane %d /readyz: %s", i, what)
		}
		other := cps[1-i]
		if ok, _ := probe(ctx, client, cp.APIServerURL()+"/api/v1/namespaces", other.AdminToken()); ok {
			t.Errorf("control plane %d accepted the other's admin token", i)
		}
	}
	for i, cp := range cps {
		procs := cp.Processes()
		if err := cp.Stop(ctx); err != nil {
			t.Errorf("stop control plane %d: %v", i, err)
		}
		for _, p := range procs {
			assertGone(t, p.Name, p.PID)
		}
		assertNoDir(t, cp.StateDir())
	}
}
