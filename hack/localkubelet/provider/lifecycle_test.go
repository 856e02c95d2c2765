package provider

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkube/raftkube/hack/localkubelet/internal/testbin"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// These tests run real, small processes (sh, sleep, httpserve) through
// ExecRunner: what is under test is process supervision itself. They wait
// for conditions by polling with a deadline, never for fixed times.

const waitTimeout = 15 * time.Second

// recorder keeps every pod the provider notified.
type recorder struct {
	mu   sync.Mutex
	pods []*corev1.Pod
}

func (r *recorder) notify(p *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods = append(r.pods, p.DeepCopy())
}

func (r *recorder) last(name string) *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.pods) - 1; i >= 0; i-- {
		if r.pods[i].Name == name {
			return r.pods[i]
		}
	}
	return nil
}

type env struct {
	t    *testing.T
	p    *Provider
	rec  *recorder
	ipam *LoopbackIPAM
}

func newEnv(t *testing.T, mods ...func(*Config)) *env {
	t.Helper()
	ipam, err := NewLoopbackIPAM("127.30.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		NodeName:    "test-node",
		HostIP:      "127.0.0.1",
		StateDir:    t.TempDir(),
		Images:      ImageTable{"host": HostCommand, "raftnode:dev": "/nonexistent/raftnode"},
		IPAM:        ipam,
		BaseEnv:     []string{"PATH=" + os.Getenv("PATH")},
		BackoffBase: 50 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, p: p, rec: &recorder{}, ipam: ipam}
	p.NotifyPods(context.Background(), e.rec.notify)
	t.Cleanup(e.deleteAll)
	return e
}

// deleteAll stops whatever a test left running.
func (e *env) deleteAll() {
	pods, _ := e.p.GetPods(context.Background())
	for _, pod := range pods {
		pod.DeletionGracePeriodSeconds = new(int64)
		_ = e.p.DeletePod(context.Background(), pod)
	}
	for _, pod := range pods {
		e.waitGone(pod.Name)
	}
}

// pod builds a one-container pod running `sh -c script` on the host.
func pod(name, script string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name:    "main",
				Image:   "host",
				Command: []string{"sh", "-c", script},
			}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func (e *env) create(p *corev1.Pod) {
	e.t.Helper()
	if err := e.p.CreatePod(context.Background(), p); err != nil {
		e.t.Fatalf("CreatePod: %v", err)
	}
}

// waitFor polls the provider's view of the pod until cond holds.
func (e *env) waitFor(name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := e.p.GetPod(context.Background(), "ns", name)
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("pod %s: timed out waiting for %s; last status: %+v", name, what, last.Status)
	return nil
}

func (e *env) waitGone(name string) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if _, err := e.p.GetPod(context.Background(), "ns", name); errdefs.IsNotFound(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("pod %s still known after deletion", name)
}

func (e *env) delete(name string, grace int64) {
	e.t.Helper()
	p, err := e.p.GetPod(context.Background(), "ns", name)
	if err != nil {
		e.t.Fatal(err)
	}
	p.DeletionGracePeriodSeconds = &grace
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if err := e.p.DeletePod(context.Background(), p); err != nil {
		e.t.Fatalf("DeletePod: %v", err)
	}
}

func main0(p *corev1.Pod) corev1.ContainerStatus { return p.Status.ContainerStatuses[0] }

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestUnknownImageFailsWithErrImagePull(t *testing.T) {
	e := newEnv(t)
	for _, image := range []string{"nosuch/image:1", "raftnode:dev"} {
		name := strings.NewReplacer("/", "-", ":", "-").Replace(image)
		e.create(pod(name, "", func(p *corev1.Pod) { p.Spec.Containers[0].Image = image }))
		got := e.waitFor(name, "ErrImagePull", func(p *corev1.Pod) bool {
			w := main0(p).State.Waiting
			return w != nil && w.Reason == ReasonErrImagePull
		})
		if got.Status.Phase != corev1.PodPending {
			t.Errorf("%s: phase %s, want Pending", image, got.Status.Phase)
		}
		if msg := main0(got).State.Waiting.Message; !strings.Contains(msg, image) {
			t.Errorf("%s: message %q does not name the image", image, msg)
		}
		// The status must have reached virtual-kubelet without any process event.
		deadline := time.Now().Add(waitTimeout)
		for e.rec.last(name) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if e.rec.last(name) == nil {
			t.Errorf("%s: CreatePod did not notify", image)
		}
	}
}

func TestRunningPodGetsIPEnvAndLog(t *testing.T) {
	e := newEnv(t)
	p := pod("web-0", `echo "name=$POD_NAME ns=$POD_NAMESPACE ip=$POD_IP host=$HOSTNAME arg=$1"; exec sleep 60`, func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		c.Args = []string{"x", "$(POD_NAME)-arg"}
		c.Env = []corev1.EnvVar{fieldRef("POD_NAME", "metadata.name"), fieldRef("POD_NAMESPACE", "metadata.namespace"), fieldRef("POD_IP", "status.podIP")}
	})
	e.create(p)
	got := e.waitFor("web-0", "Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && isReady(p)
	})
	ip := got.Status.PodIP
	if !strings.HasPrefix(ip, "127.30.0.") {
		t.Fatalf("pod IP %q not from the pod range", ip)
	}
	cs := main0(got)
	if cs.ContainerID == "" || cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 {
		t.Errorf("container status %+v", cs)
	}
	logPath, _ := e.p.LogPath("ns", "web-0", "main")
	want := fmt.Sprintf("name=web-0 ns=ns ip=%s host=web-0 arg=web-0-arg", ip)
	deadline := time.Now().Add(waitTimeout)
	var data []byte
	for time.Now().Before(deadline) {
		data, _ = os.ReadFile(logPath)
		if strings.Contains(string(data), want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(data), want) {
		t.Errorf("log %q does not contain %q", data, want)
	}

	// A second pod gets a different address.
	e.create(pod("web-1", "exec sleep 60"))
	other := e.waitFor("web-1", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if other.Status.PodIP == ip {
		t.Errorf("two pods share IP %s", ip)
	}
}

func TestReadinessProbes(t *testing.T) {
	server := testbin.HTTPServe(t)
	e := newEnv(t)
	probes := map[string]*corev1.Probe{
		"http": {ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web")}}, PeriodSeconds: 1},
		"tcp":  {ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		"exec": {ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "ready"}}}, PeriodSeconds: 1},
	}
	for kind, probe := range probes {
		// The server starts only once the file "gate" exists, so the test
		// sees the pod running but not ready first. Both pods listen on
		// port 8080: each has its own address.
		script := `while [ ! -f gate ]; do sleep 0.05; done; touch ready; exec ` + server + ` "$POD_IP:8080"`
		e.create(pod(kind, script, func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Env = []corev1.EnvVar{fieldRef("POD_IP", "status.podIP")}
			c.Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}
			c.ReadinessProbe = probe
		}))
	}
	for kind := range probes {
		got := e.waitFor(kind, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if isReady(got) || main0(got).Ready {
			t.Errorf("%s: ready before the probe could pass", kind)
		}
		logPath, _ := e.p.LogPath("ns", kind, "main")
		gate := strings.TrimSuffix(logPath, "main.log") + "gate"
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for kind := range probes {
		e.waitFor(kind, kind+" probe ready", func(p *corev1.Pod) bool { return isReady(p) && main0(p).Ready })
	}
}

func TestCrashRestartsWithBackoff(t *testing.T) {
	e := newEnv(t)
	e.create(pod("crash", "echo started; exit 3"))
	// Between restarts, in back-off: a snapshot taken while an instance runs
	// would rightly be Ready (no readiness probe) for a moment.
	got := e.waitFor("crash", "3 restarts, waiting in back-off", func(p *corev1.Pod) bool {
		return main0(p).RestartCount >= 3 && main0(p).State.Waiting != nil
	})
	cs := main0(got)
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running while restarting", got.Status.Phase)
	}
	term := cs.LastTerminationState.Terminated
	if term == nil || term.ExitCode != 3 || term.Reason != ReasonError {
		t.Errorf("last termination %+v, want exit 3 reason Error", term)
	}
	if isReady(got) {
		t.Error("crash-looping pod reported Ready")
	}
	// Backoff doubles: 50, 100, 200, 200 ms; three restarts cannot take less than 350 ms.
	if first := got.Status.StartTime.Time; time.Since(first) < 300*time.Millisecond {
		t.Errorf("3 restarts in %s: backoff not applied", time.Since(first))
	}
	logPath, _ := e.p.LogPath("ns", "crash", "main")
	data, _ := os.ReadFile(logPath)
	if n := strings.Count(string(data), "started"); n < 3 {
		t.Errorf("log has %d starts, want >= 3 (appended across restarts)", n)
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		name      string
		policy    corev1.RestartPolicy
		exit      int
		wantPhase corev1.PodPhase
	}{
		{"never-ok", corev1.RestartPolicyNever, 0, corev1.PodSucceeded},
		{"never-fail", corev1.RestartPolicyNever, 2, corev1.PodFailed},
		{"onfailure-ok", corev1.RestartPolicyOnFailure, 0, corev1.PodSucceeded},
	}
	e := newEnv(t)
	for _, tt := range tests {
		e.create(pod(tt.name, fmt.Sprintf("exit %d", tt.exit), func(p *corev1.Pod) { p.Spec.RestartPolicy = tt.policy }))
	}
	for _, tt := range tests {
		got := e.waitFor(tt.name, string(tt.wantPhase), func(p *corev1.Pod) bool { return p.Status.Phase == tt.wantPhase })
		cs := main0(got)
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != int32(tt.exit) || cs.RestartCount != 0 {
			t.Errorf("%s: container %+v, want terminated with %d and no restarts", tt.name, cs, tt.exit)
		}
	}
	// OnFailure restarts a failing container.
	e.create(pod("onfailure-fail", "exit 1", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }))
	e.waitFor("onfailure-fail", "a restart", func(p *corev1.Pod) bool { return main0(p).RestartCount >= 1 })
}

func TestDeleteGracefulAndForced(t *testing.T) {
	e := newEnv(t)
	// Exits 0 on SIGTERM.
	e.create(pod("graceful", `trap 'exit 0' TERM; sleep 60 & wait`))
	// Ignores SIGTERM (and so does its sleep, which inherits the ignore).
	e.create(pod("stubborn", `trap '' TERM; exec sleep 60`))
	for _, name := range []string{"graceful", "stubborn"} {
		e.waitFor(name, "Running", func(p *corev1.Pod) bool { return main0(p).State.Running != nil })
	}
	inUse := e.ipam.InUse()

	start := time.Now()
	e.delete("graceful", 30)
	e.waitGone("graceful")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful pod took %s to stop despite exiting on SIGTERM", d)
	}
	final := e.rec.last("graceful")
	if term := main0(final).State.Terminated; term == nil || term.ExitCode != 0 {
		t.Errorf("graceful: final state %+v, want terminated with 0", main0(final).State)
	}
	if final.Status.Phase != corev1.PodSucceeded {
		t.Errorf("graceful: final phase %s", final.Status.Phase)
	}

	start = time.Now()
	e.delete("stubborn", 1)
	e.waitGone("stubborn")
	if d := time.Since(start); d < time.Second {
		t.Errorf("stubborn pod killed after %s, before its 1s grace period", d)
	}
	final = e.rec.last("stubborn")
	if term := main0(final).State.Terminated; term == nil || term.ExitCode != 137 {
		t.Errorf("stubborn: final state %+v, want terminated with 137 (SIGKILL)", main0(final).State)
	}
	if got := e.ipam.InUse(); got != inUse-2 {
		t.Errorf("addresses in use %d after deleting both pods, want %d", got, inUse-2)
	}
}

func TestLivenessProbeRestarts(t *testing.T) {
	e := newEnv(t)
	e.create(pod("live", `exec sleep 60`, func(p *corev1.Pod) {
		p.Spec.TerminationGracePeriodSeconds = new(int64)
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}},
			PeriodSeconds:    1,
			FailureThreshold: 1,
		}
	}))
	got := e.waitFor("live", "restart after liveness failure", func(p *corev1.Pod) bool { return main0(p).RestartCount >= 1 })
	if term := main0(got).LastTerminationState.Terminated; term == nil || term.ExitCode != 143 {
		t.Errorf("last termination %+v, want SIGTERM exit 143", term)
	}
}

func TestMissingConfigMapIsConfigError(t *testing.T) {
	e := newEnv(t)
	e.create(pod("cfg", "exec sleep 60", func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k"},
		}}}
	}))
	got := e.waitFor("cfg", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		w := main0(p).State.Waiting
		return w != nil && w.Reason == ReasonCreateContainerConfigError
	})
	if msg := main0(got).State.Waiting.Message; !strings.Contains(msg, "missing") {
		t.Errorf("message %q does not name the ConfigMap", msg)
	}
	if got.Status.Phase != corev1.PodPending || main0(got).RestartCount != 0 {
		t.Errorf("phase %s restarts %d, want Pending and 0", got.Status.Phase, main0(got).RestartCount)
	}
}

func TestContainerLogsTail(t *testing.T) {
	e := newEnv(t)
	e.create(pod("logs", "printf 'a\\nb\\nc\\n'; exec sleep 60"))
	e.waitFor("logs", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	deadline := time.Now().Add(waitTimeout)
	for {
		rc, err := e.p.GetContainerLogs(context.Background(), "ns", "logs", "main", api.ContainerLogOpts{Tail: 2})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if string(data) == "b\nc\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail 2 = %q, want %q", data, "b\nc\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeletePodThatNeverStarted(t *testing.T) {
	e := newEnv(t)
	e.create(pod("bad", "", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nosuch:1" }))
	e.waitFor("bad", "ErrImagePull", func(p *corev1.Pod) bool { return main0(p).State.Waiting.Reason == ReasonErrImagePull })
	e.delete("bad", 30)
	e.waitGone("bad")
	if n := e.ipam.InUse(); n != 0 {
		t.Errorf("%d addresses still in use", n)
	}
}

// fakeNetwork records the addresses attached.
type fakeNetwork struct {
	mu       sync.Mutex
	attached map[netip.Addr]bool
	detached []netip.Addr
}

func (f *fakeNetwork) Attach(_ context.Context, ip netip.Addr) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached[ip] = true
	if os.Geteuid() != 0 {
		return uint32(os.Getegid()), nil // the only group a non-root kubelet may take
	}
	return PodGID(ip), nil
}

func (f *fakeNetwork) Detach(_ context.Context, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, ip)
	f.detached = append(f.detached, ip)
	return nil
}

func TestPodNetworkGroupAndDetach(t *testing.T) {
	nw := &fakeNetwork{attached: map[netip.Addr]bool{}}
	e := newEnv(t, func(c *Config) { c.Network = nw })
	e.create(pod("web-0", `echo "gid=$(id -g)"; exec sleep 60`))
	got := e.waitFor("web-0", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	ip := netip.MustParseAddr(got.Status.PodIP)
	nw.mu.Lock()
	attached := nw.attached[ip]
	nw.mu.Unlock()
	if !attached {
		t.Fatalf("pod address %s not attached to the network", ip)
	}
	wantGID := PodGID(ip)
	if os.Geteuid() != 0 {
		wantGID = uint32(os.Getegid())
	}
	logPath, _ := e.p.LogPath("ns", "web-0", "main")
	want := fmt.Sprintf("gid=%d", wantGID)
	deadline := time.Now().Add(waitTimeout)
	var data []byte
	for time.Now().Before(deadline) && !strings.Contains(string(data), want) {
		time.Sleep(20 * time.Millisecond)
		data, _ = os.ReadFile(logPath)
	}
	if !strings.Contains(string(data), want) {
		t.Errorf("log %q: the process did not run with group %d", data, wantGID)
	}
	e.delete("web-0", 0)
	e.waitGone("web-0")
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if !slices.Contains(nw.detached, ip) {
		t.Errorf("address %s not detached after the pod went (detached %v)", ip, nw.detached)
	}
}

func TestTerminatedPodObjectRemovedAtOnce(t *testing.T) {
	removed := make(chan types.UID, 1)
	e := newEnv(t, func(c *Config) {
		c.RemovePod = func(_ context.Context, ns, name string, uid types.UID) error {
			if ns == "ns" && name == "web-0" {
				removed <- uid
			}
			return nil
		}
	})
	p := pod("web-0", "exec sleep 60")
	e.create(p)
	e.waitFor("web-0", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	start := time.Now()
	e.delete("web-0", 30) // sleep exits on SIGTERM, long before the grace period ends
	select {
	case uid := <-removed:
		if uid != p.UID {
			t.Errorf("removed pod object uid %s, want %s", uid, p.UID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pod object was not removed within 10s of its process exiting on SIGTERM (grace period 30s)")
	}
	t.Logf("pod object removed %v after deletion", time.Since(start).Round(time.Millisecond))
}
