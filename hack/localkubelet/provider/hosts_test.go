package provider

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestServiceEndpointsFromPods(t *testing.T) {
	pods := []hostsPod{
		{Namespace: "db", IP: "127.10.0.2", Labels: map[string]string{"app": "raft"}, Ready: true},
		{Namespace: "db", IP: "127.10.0.3", Labels: map[string]string{"app": "raft"}},
		{Namespace: "db", IP: "127.10.0.4", Labels: map[string]string{"app": "other"}, Ready: true},
		{Namespace: "x", IP: "127.10.0.5", Labels: map[string]string{"app": "raft"}, Ready: true},
	}
	sel := map[string]string{"app": "raft"}
	got := serviceEndpoints([]Service{
		{Namespace: "db", Name: "ready", Selector: sel},
		{Namespace: "db", Name: "all", Selector: sel, PublishNotReadyAddresses: true},
		{Namespace: "db", Name: "noselector"},
	}, pods)
	want := ServiceEndpoints{"db/ready": {"127.10.0.2"}, "db/all": {"127.10.0.2", "127.10.0.3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRenderHosts(t *testing.T) {
	pods := []hostsPod{
		{Namespace: "db", Hostname: "raft-1", Subdomain: "raft", IP: "127.10.0.3"},
		{Namespace: "db", Hostname: "raft-0", Subdomain: "raft", IP: "127.10.0.2"},
		{Namespace: "other", Hostname: "solo", IP: "127.10.0.9"},
	}
	services := ServiceEndpoints{
		"db/raft":       {"127.10.0.3", "127.10.0.2", "127.10.0.2"},
		"other/manager": {"127.10.0.9"},
	}
	got := string(renderHosts("db", "node1", pods, services))
	want := `# Kept by the local kubelet; rewritten in place on every change.
127.0.0.1	localhost node1
::1	localhost ip6-localhost ip6-loopback
127.10.0.2	raft-0.raft.db.svc.cluster.local raft-0.raft.db.svc raft-0.raft.db raft-0.raft raft-0
127.10.0.3	raft-1.raft.db.svc.cluster.local raft-1.raft.db.svc raft-1.raft.db raft-1.raft raft-1
127.10.0.2	raft.db.svc.cluster.local raft.db.svc raft.db raft
127.10.0.3	raft.db.svc.cluster.local raft.db.svc raft.db raft
127.10.0.9	manager.other.svc.cluster.local manager.other.svc manager.other
`
	if got != want {
		t.Errorf("hosts for db:\n%s\nwant:\n%s", got, want)
	}
	// From namespace "other", db's short names are not visible, its own are.
	other := string(renderHosts("other", "node1", pods, services))
	for _, line := range []string{"127.10.0.9\tsolo\n", "127.10.0.9\tmanager.other.svc.cluster.local manager.other.svc manager.other manager\n", "127.10.0.2\traft-0.raft.db.svc.cluster.local raft-0.raft.db.svc raft-0.raft.db\n"} {
		if !strings.Contains(other, line) {
			t.Errorf("hosts for other lacks %q:\n%s", line, other)
		}
	}
}

// TestPodsResolveEachOtherThroughHosts runs pods in their own mount
// namespaces: a pod resolves its peer's DNS name and a Service name, a
// Service change reaches a running pod, and the host's /etc/hosts is untouched.
func TestPodsResolveEachOtherThroughHosts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces need root")
	}
	for _, tool := range []string{"unshare", "mount", "getent"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	hostHosts, _ := os.ReadFile("/etc/hosts")
	e := newEnv(t, func(c *Config) { c.HostsFiles = true })
	sub := func(p *corev1.Pod) {
		p.Spec.Subdomain, p.Spec.Hostname, p.Labels = "raft", p.Name, map[string]string{"app": "raft"}
	}
	e.create(pod("raft-0", "exec sleep 60", sub))
	ip0 := e.waitFor("raft-0", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }).Status.PodIP

	e.p.SetServices([]Service{{Namespace: "ns", Name: "raft", Selector: map[string]string{"app": "raft"}}})
	// raft-1 resolves raft-0 by FQDN and the Service by short name, then
	// waits for the Service to gain a second address while it runs.
	script := `getent hosts raft-0.raft.ns.svc.cluster.local; getent hosts raft;
while [ "$(getent ahostsv4 raft | awk '{print $1}' | sort -u | wc -l)" -lt 2 ]; do sleep 0.05; done; echo updated; exec sleep 60`
	e.create(pod("raft-1", script, sub))
	// raft-1 becomes Ready itself (no probe) and so joins the Service.
	e.waitFor("raft-1", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	logPath, _ := e.p.LogPath("ns", "raft-1", "main")
	deadline := time.Now().Add(waitTimeout)
	var out string
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(logPath)
		if out = string(data); strings.Contains(out, "updated") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{ip0 + " ", "raft-0.raft.ns.svc.cluster.local", "updated"} {
		if !strings.Contains(out, want) {
			t.Errorf("raft-1 output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "raft.ns.svc.cluster.local") {
		t.Errorf("Service name not resolved:\n%s", out)
	}
	if now, _ := os.ReadFile("/etc/hosts"); string(now) != string(hostHosts) {
		t.Error("the host's /etc/hosts changed: the bind mount leaked out of the pod's namespace")
	}
}
