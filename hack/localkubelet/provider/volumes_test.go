package provider

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

type fakeTokens struct{}

func (fakeTokens) Token(_ context.Context, ns, sa, pod, _ string, aud string, _ int64) (string, error) {
	return "token-for-" + ns + "-" + sa + "-" + pod + "-" + aud, nil
}

// TestVolumes mounts every supported volume kind into a container and reads
// them back from inside it; a claim's data survives its pod.
func TestVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces need root")
	}
	for _, tool := range []string{"unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	objs := fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"app.conf": "x=1"}}},
		secrets:    map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"pw": []byte("s3cret"), "other": []byte("no")}}},
	}
	e := newEnv(t, func(c *Config) { c.HostsFiles, c.Objects, c.Tokens = true, objs, fakeTokens{} })
	// Mount points under a temp dir, so the test leaves nothing on the host.
	mnt := t.TempDir()
	at := func(name string) string { return filepath.Join(mnt, name) }
	script := `set -e; cat ` + at("cfg") + `/app.conf; echo; cat ` + at("sec") + `/password; echo;
cat ` + at("info") + `/name; echo; cat ` + at("info") + `/labels; echo; cat ` + at("sa") + `/token; echo;
echo scratch > ` + at("scratch") + `/f; cat ` + at("scratch") + `/f;
cat ` + at("data") + `/count 2>/dev/null || true; echo run >> ` + at("data") + `/count;
if echo x > ` + at("ro") + `/f 2>/dev/null; then echo ro-writable; else echo ro-ok; fi; echo done; exec sleep 60`
	withVolumes := func(p *corev1.Pod) {
		p.Labels = map[string]string{"app": "v"}
		p.Spec.Volumes = []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", Items: []corev1.KeyToPath{{Key: "pw", Path: "password"}}}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			}}}},
			{Name: "sa", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api"}},
			}}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-vol"}}},
			{Name: "ro", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}
		c := &p.Spec.Containers[0]
		for _, v := range p.Spec.Volumes {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: at(v.Name), ReadOnly: v.Name == "ro"})
		}
	}
	readLog := func(name string) string {
		logPath, _ := e.p.LogPath("ns", name, "main")
		deadline := time.Now().Add(waitTimeout)
		for {
			data, _ := os.ReadFile(logPath)
			if strings.Contains(string(data), "done") || time.Now().After(deadline) {
				return string(data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	e.create(pod("vol", script, withVolumes))
	out := readLog("vol")
	for _, want := range []string{"x=1\n", "s3cret\n", "vol\n", `app="v"`, "token-for-ns-default-vol-api\n", "scratch\n", "ro-ok\n", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "run\n") {
		t.Errorf("claim not empty on first use:\n%s", out)
	}

	// The same claim in a new pod still holds what the first pod wrote.
	e.delete("vol", 0)
	e.waitGone("vol")
	e.create(pod("vol", script, func(p *corev1.Pod) { withVolumes(p); p.UID = "uid-vol-2" }))
	if out := readLog("vol"); !strings.Contains(out, "run\n") {
		t.Errorf("claim data lost across pods:\n%s", out)
	}
}

func TestVolumeMountsWithoutNamespacesAreConfigErrors(t *testing.T) {
	e := newEnv(t)
	e.create(pod("novol", "exec sleep 60", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/data"}}
	}))
	e.waitFor("novol", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		w := main0(p).State.Waiting
		return w != nil && w.Reason == ReasonCreateContainerConfigError
	})
}
