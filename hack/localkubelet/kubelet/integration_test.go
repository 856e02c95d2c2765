package kubelet

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
	"github.com/raftkube/raftkube/hack/localkubelet/internal/testbin"
	"github.com/raftkube/raftkube/hack/localkubelet/provider"
)

// TestAgainstRealControlPlane starts the project's control plane (real
// kube-apiserver, controller-manager and scheduler from bin/) and the local
// kubelet, then checks: the Node is Ready, a 2-replica StatefulSet's pods are
// scheduled here, Running and Ready through their readiness probes, the pods
// resolve each other's names, and `kubectl logs` reaches the kubelet API.
// It skips when bin/ lacks the control plane binaries (they take minutes to
// build; the Makefile builds them).
func TestAgainstRealControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	binDir, _ := filepath.Abs("../../../bin")
	if d := os.Getenv("LOCALKUBE_BIN"); d != "" {
		binDir = d
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Fatalf("no %s in %s: run `make k8s-tools`", b, binDir)
		}
	}
	server := testbin.HTTPServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: binDir, Logf: t.Logf})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	defer func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	}()
	rc, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(rc)

	// Pods report to this listener, which records the address each comes from.
	sources := listenSources(t)
	stateDir := t.TempDir()
	if os.Geteuid() == 0 {
		// Runs after the kubelet stopped (deferred below, so earlier).
		defer func() {
			out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").CombinedOutput()
			if err != nil {
				t.Errorf("iptables -S: %v: %s", err, out)
			}
			if k, _ := New(Config{NodeName: "x", Client: client, ListenAddr: "127.0.0.1:1", StateDir: stateDir, PodCIDR: "127.32.0.0/24", SourceAddresses: true}); k != nil && strings.Contains(string(out), k.network.Chain) {
				t.Errorf("chain %s left behind after the kubelet stopped:\n%s", k.network.Chain, out)
			}
		}()
	}
	k, err := New(Config{
		NodeName:    "local-node",
		RESTConfig:  rc,
		ListenAddr:  freeAddr(t),
		StateDir:    stateDir,
		PodCIDR:     "127.32.0.0/24",
		Images:      provider.ImageTable{"busybox": provider.HostCommand},
		CPU:         "4",
		Memory:      "8Gi",
		Pods:        "20",
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  time.Second,
		HostsFiles:  os.Geteuid() == 0,
		Provisioner: true,
		// Root: pods send from their own addresses.
		SourceAddresses: os.Geteuid() == 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	kctx, stopKubelet := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(kctx) }()
	defer func() {
		stopKubelet()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("kubelet: %v", err)
		}
	}()
	if err := k.WaitReady(ctx, time.Minute); err != nil {
		t.Fatalf("kubelet: %v", err)
	}
	eventually(t, "node Ready", func() bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "local-node", metav1.GetOptions{})
		return err == nil && nodeReady(n)
	})

	replicas, grace := int32(2), int64(1)
	labels := map[string]string{"app": "web"}
	if _, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "tcp", Port: 8080}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir() // the claim's mount point; a temp dir so no mount point is left on the host
	script := `echo "hello from $POD_NAME"; getent hosts web-0.web.default.svc.cluster.local || true
if [ -d ` + dataDir + ` ]; then cat ` + dataDir + `/boots 2>/dev/null || true; echo "boot of $POD_NAME" >> ` + dataDir + `/boots; fi
echo "sa: $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace) $(wc -c < /var/run/secrets/kubernetes.io/serviceaccount/token)"
echo "uts hostname: $(cat /proc/sys/kernel/hostname)"
bash -c 'echo "$POD_NAME" >/dev/tcp/127.0.0.1/` + sources.port + `' || echo "could not report to the test"
exec ` + server + ` "$POD_IP:8080"`
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName:          "web",
			Replicas:             &replicas,
			PodManagementPolicy:  appsv1.ParallelPodManagement,
			Selector:             &metav1.LabelSelector{MatchLabels: labels},
			VolumeClaimTemplates: claimTemplates(),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name: "web", Image: "busybox", Command: []string{"sh", "-c", script},
						Env: []corev1.EnvVar{
							{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
						},
						VolumeMounts: volumeMounts(dataDir),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "StatefulSet readyReplicas=2", func() bool {
		s, err := client.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 2
	})
	eventually(t, "kubectl logs through the kubelet API", func() bool {
		raw, err := client.CoreV1().Pods("default").GetLogs("web-1", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return false
		}
		if !strings.Contains(string(raw), "hello from web-1") {
			return false
		}
		if os.Geteuid() != 0 {
			return true
		}
		// With mount namespaces, web-1 resolved web-0 by its DNS name and
		// found its service-account namespace and token (TokenRequest).
		// It runs in a UTS namespace of its own, named after the pod.
		return strings.Contains(string(raw), "web-0.web.default.svc.cluster.local") &&
			strings.Contains(string(raw), "uts hostname: web-1\n") &&
			strings.Contains(string(raw), "sa: default ") && !strings.Contains(string(raw), "sa: default 0")
	})
	if os.Geteuid() != 0 {
		return
	}

	// Each pod's connection came from its pod IP (SourceAddresses).
	for _, name := range []string{"web-0", "web-1"} {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, name+"'s report", func() bool { return sources.from(name) != "" })
		if got := sources.from(name); got != p.Status.PodIP {
			t.Errorf("%s connected from %s, want its pod IP %s", name, got, p.Status.PodIP)
		}
	}

	// A deleted pod comes back with the same name and finds its claim's data.
	old, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web-0 back with its data", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil || p.UID == old.UID || !podReady(p) {
			return false
		}
		raw, err := client.CoreV1().Pods("default").GetLogs("web-0", &corev1.PodLogOptions{}).DoRaw(ctx)
		return err == nil && strings.Contains(string(raw), "boot of web-0")
	})

	// Deleting the claim deletes its volume and its data.
	pvc, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.AppsV1().StatefulSets("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data-web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	claimDir := k.provisioner.Dir("default", "data-web-1", pvc.UID)
	eventually(t, "claim's volume and directory deleted", func() bool {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		_, statErr := os.Stat(claimDir)
		return apierrors.IsNotFound(err) && os.IsNotExist(statErr)
	})
}

// volumeMounts and claimTemplates give the StatefulSet a claim when the
// kubelet can mount it (root: mount namespaces).
func volumeMounts(dir string) []corev1.VolumeMount {
	if os.Geteuid() != 0 {
		return nil
	}
	return []corev1.VolumeMount{{Name: "data", MountPath: dir}}
}

func claimTemplates() []corev1.PersistentVolumeClaim {
	if os.Geteuid() != 0 {
		return nil
	}
	return []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
		},
	}}
}

// sourceListener records, for each pod name a connection sends, the address
// the connection came from.
type sourceListener struct {
	port string
	mu   sync.Mutex
	seen map[string]string
}

func listenSources(t *testing.T) *sourceListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &sourceListener{port: port, seen: map[string]string{}}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			c.Close()
			s.mu.Lock()
			s.seen[strings.TrimSpace(line)] = host
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sourceListener) from(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[name]
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
