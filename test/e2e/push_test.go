package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPushAndPull is `make push` to a registry on loopback (imagetool's,
// go-containerregistry's registry run as a process) and the real node's
// containerd pulling the pushed raftnode image back through it: a pod of
// it runs `raftctl --version` and its image is the digest that was pushed.
// The chart pushed beside the images is pulled back with helm.
func TestPushAndPull(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if *nodeKind == "process" {
		t.Skip("the process kubelet pulls no images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(ctx, t)
	registry := startRegistry(ctx, t)
	repo := registry + "/raftkube"

	helmHome := t.TempDir()
	helmEnv := []string{"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmHome, "data")}
	push := exec.CommandContext(ctx, filepath.Join(repoRoot, "hack", "images.sh"), "push")
	push.Env = append(append(os.Environ(), helmEnv...), "REGISTRY="+repo, "OUT="+filepath.Join(buildDir, "images"),
		"IMAGETOOL="+filepath.Join(buildDir, "imagetool"), "HELM="+filepath.Join(repoRoot, "bin", "helm"))
	start := time.Now()
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("hack/images.sh push (make push REGISTRY=%s): %v\n%s", repo, err, out)
	}
	t.Logf("make push REGISTRY=%s: %v", repo, time.Since(start).Round(100*time.Millisecond))

	if err := e.localkubeNode("trust-registry", registry); err != nil {
		t.Fatal(err)
	}
	image := repo + "/raftnode:" + appVersion
	nonRoot, no, yes := true, false, true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pulled"},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name:            "raftctl",
				Image:           image,
				ImagePullPolicy: corev1.PullAlways,
				Command:         []string{"raftctl", "--version"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var done *corev1.Pod
	waitFor(ctx, t, "the pod of the pulled image to succeed", func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		done = p
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("pod of %s failed: %+v", image, p.Status.ContainerStatuses)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	logs, err := e.client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "raftctl " + appVersion + " (commit "; !strings.HasPrefix(string(logs), want) {
		t.Errorf("raftctl --version in the pulled image printed %q, want it to start with %q", logs, want)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(buildDir, "imagetool"), "digest", filepath.Join(buildDir, "images", "raftnode.tar")).Output()
	if err != nil {
		t.Fatalf("imagetool digest: %v", err)
	}
	digest := strings.TrimSpace(string(out))
	if got := done.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(got, "@"+digest) {
		t.Errorf("the pod ran image %s, want the pushed %s", got, digest)
	}

	// The chart: helm pulls it back and its appVersion names the images.
	show := exec.CommandContext(ctx, filepath.Join(repoRoot, "bin", "helm"), "show", "chart", "oci://"+repo+"/raftkube", "--plain-http")
	show.Env = append(os.Environ(), helmEnv...)
	out, err = show.CombinedOutput()
	if err != nil {
		t.Fatalf("helm show chart oci://%s/raftkube: %v\n%s", repo, err, out)
	}
	if !regexp.MustCompile(`(?m)^appVersion: "?` + regexp.QuoteMeta(appVersion) + `"?$`).Match(out) {
		t.Errorf("the pushed chart's appVersion is not %s:\n%s", appVersion, out)
	}
}

// startRegistry runs `imagetool registry` on a free loopback port until the
// test ends and returns its HOST:PORT.
func startRegistry(ctx context.Context, t *testing.T) string {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	reg := exec.Command(filepath.Join(buildDir, "imagetool"), "registry", "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--quiet")
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = reg.Process.Kill()
		_ = reg.Wait()
	})
	var addr string
	waitFor(ctx, t, "the registry's address", func(context.Context) (bool, error) {
		b, err := os.ReadFile(addrFile)
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != "", nil
	})
	return addr
}
