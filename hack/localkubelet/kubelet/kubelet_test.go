package kubelet

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/raftkube/raftkube/hack/localkubelet/provider"
)

// freeAddr returns a loopback address with a free port for the kubelet API.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNodeAndPodThroughVirtualKubelet runs the whole kubelet against a fake
// clientset: the Node is registered Ready with its capacity and lease, and a
// pod bound to it is run and reported Running with its pod IP through the
// library's pod controller (which needs the provider's NotifyPods calls).
func TestNodeAndPodThroughVirtualKubelet(t *testing.T) {
	client := fake.NewClientset()
	k, err := New(Config{
		NodeName:    "local-node",
		Client:      client,
		ListenAddr:  freeAddr(t),
		StateDir:    t.TempDir(),
		PodCIDR:     "127.31.0.0/24",
		Images:      provider.ImageTable{"busybox": provider.HostCommand},
		CPU:         "4",
		Memory:      "8Gi",
		Pods:        "20",
		BackoffBase: 50 * time.Millisecond,
		BackoffMax:  time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("kubelet: %v", err)
		}
	})
	if err := k.WaitReady(ctx, 20*time.Second); err != nil {
		t.Fatalf("kubelet not ready: %v", err)
	}

	// The Ready condition is pushed by the node controller after WaitReady.
	var n *corev1.Node
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err = client.CoreV1().Nodes().Get(ctx, "local-node", metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not registered Ready: %v %+v", err, n)
		}
	}
	if got := n.Status.Capacity[corev1.ResourcePods]; got.String() != "20" {
		t.Errorf("pod capacity %s, want 20", got.String())
	}
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "local-node", metav1.GetOptions{}); err != nil {
		t.Errorf("node lease: %v", err)
	}

	grace := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: "default", UID: "uid-sleeper"},
		Spec: corev1.PodSpec{
			NodeName:                      "local-node",
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers:                    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sleep", "60"}}},
		},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := client.CoreV1().Pods("default").Get(ctx, "sleeper", metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning && got.Status.PodIP != "" && podReady(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running and Ready in the API: %+v", got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := k.Provider.PodIP("default", "sleeper"); !ok {
		t.Fatal("provider does not know the running pod")
	}

	// Deleting the pod in the API stops its process and frees its address.
	if err := client.CoreV1().Pods("default").Delete(ctx, "sleeper", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := k.Provider.PodIP("default", "sleeper"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("provider still runs the pod deleted in the API")
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
