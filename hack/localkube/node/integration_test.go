package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// repoBinDir is the bin/ the Makefile builds into; LOCALKUBE_BIN overrides it.
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

// nodeInputs returns the bin dir, CNI plugin dir and image tarballs,
// skipping the test (with what is missing) when not root or something is not
// built. LOCALKUBE_NODE_IMAGES (comma-separated) overrides
// BIN/images/{pause,coredns}.tar, LOCALKUBE_CNI_BIN overrides BIN/cni.
func nodeInputs(t *testing.T) (bin, cniBin string, images []string, provisioner bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real node needs root")
	}
	bin = repoBinDir(t)
	images = []string{filepath.Join(bin, "images", "pause.tar"), filepath.Join(bin, "images", "coredns.tar")}
	if env := os.Getenv("LOCALKUBE_NODE_IMAGES"); env != "" {
		images = strings.Split(env, ",")
	}
	cniBin = filepath.Join(bin, "cni")
	if env := os.Getenv("LOCALKUBE_CNI_BIN"); env != "" {
		cniBin = env
	}
	var missing []string
	for _, p := range append([]string{
		filepath.Join(bin, controlplane.KubeAPIServer), filepath.Join(bin, Kubelet), filepath.Join(bin, KubeProxy),
		filepath.Join(cniBin, "bridge"), "/usr/bin/containerd", "/usr/sbin/runc",
	}, images...) {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Skipf("not built: %v (make k8s-tools node-images, hack/cniplugins into bin/cni)", missing)
	}
	_, err := os.Stat(filepath.Join(bin, Provisioner))
	return bin, cniBin, images, err == nil
}

// hostView is what the test compares before Start and after Stop.
type hostView struct {
	Sysctls map[string]string
	Chains  map[string][]string
	Links   []string
	Dirs    map[string]bool
	Cgroups map[string]bool
	Shims   []string // sockets in shimSocketDir
}

func viewHost(t *testing.T) hostView {
	t.Helper()
	v := hostView{Sysctls: map[string]string{}, Chains: map[string][]string{}, Dirs: map[string]bool{}, Cgroups: map[string]bool{}}
	for _, k := range hostSysctls {
		if val, err := readSysctl("/proc/sys", k); err == nil {
			v.Sysctls[k] = val
		}
	}
	for _, bin := range iptablesBins {
		for _, table := range iptablesTables {
			c, err := execIptables{}.chains(bin, table)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(c)
			v.Chains[bin+" "+table] = c
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		v.Links = append(v.Links, i.Name)
	}
	slices.Sort(v.Links)
	for _, d := range hostDirs {
		_, err := os.Lstat(d)
		v.Dirs[d] = err == nil
	}
	if entries, err := os.ReadDir(shimSocketDir); err == nil {
		for _, e := range entries {
			v.Shims = append(v.Shims, e.Name())
		}
	}
	for _, d := range kubepodsDirs("/sys/fs/cgroup") {
		_, err := os.Stat(d)
		v.Cgroups[d] = err == nil
	}
	return v
}

// processesMentioning lists the processes whose command line names dir.
func processesMentioning(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(data), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return out
}

func TestNodeIntegration(t *testing.T) {
	bin, cniBin, images, provisioner := nodeInputs(t)
	ctx := t.Context()
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: bin, StateDir: filepath.Join(t.TempDir(), "cp")})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	before := viewHost(t)
	stateDir := filepath.Join(t.TempDir(), "node")
	began := time.Now()
	n, err := Start(ctx, Options{
		BinDir:        bin,
		CNIBinDir:     cniBin,
		StateDir:      stateDir,
		ControlPlane:  FromControlPlane(cp),
		Images:        images,
		NoProvisioner: !provisioner,
		HelperBin:     os.Args[0],
		ReadyTimeout:  readyTimeout(t),
		LockWait:      5 * time.Minute, // cmd/localkube's test may run a node too
		Logf:          t.Logf,
	})
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	t.Logf("node Ready, DNS answering and resolving in a pod %s after the control plane", time.Since(began).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = n.Stop(context.Background())
		}
	})
	if !provisioner {
		t.Logf("%s not built: ran without the provisioner", filepath.Join(bin, Provisioner))
	}

	api, err := newAPIClient(cp.APIServerURL(), cp.CACert(), cp.AdminToken())
	if err != nil {
		t.Fatal(err)
	}
	defer api.close()
	st := n.State()
	_, podNet, _ := net.ParseCIDR(st.PodCIDR)

	// CoreDNS answers for a Service other than the one Start asked about.
	addrs, err := resolver(net.JoinHostPort(st.DNSServiceIP, "53")).LookupHost(ctx, "kube-dns.kube-system.svc.cluster.local.")
	if err != nil || !reflect.DeepEqual(addrs, []string{st.DNSServiceIP}) {
		t.Fatalf("kube-dns.kube-system from the host = %v, %v; want [%s]", addrs, err, st.DNSServiceIP)
	}

	// Two pods: a TCP server (CoreDNS's binary listening on 1053, with a
	// Corefile of plugins every build of the image has) and a client.
	corednsImage := ""
	refs, err := ctr(ctx, st.Ctr, st.ContainerdSocket, "images", "list", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range strings.Fields(refs) {
		if strings.HasPrefix(r, CoreDNSImagePrefix) {
			corednsImage = r
		}
	}
	cm := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "srv", "namespace": "default"},
		"data":     map[string]string{"Corefile": ".:1053 {\n    errors\n    cache 30\n}\n"},
	}
	if err := createObjects(ctx, api, []object{{"/api/v1/namespaces/default/configmaps", cm}}); err != nil {
		t.Fatal(err)
	}
	podBegan := time.Now()
	for _, p := range []struct{ name, image string }{{"srv", corednsImage}, {"cli", DefaultPauseImage}} {
		ctrSpec := map[string]any{"name": p.name, "image": p.image, "imagePullPolicy": "Never"}
		spec := map[string]any{
			"terminationGracePeriodSeconds": 0,
			"containers":                    []any{ctrSpec},
			"securityContext":               map[string]any{"runAsNonRoot": true, "runAsUser": 65532},
		}
		if p.name == "srv" {
			ctrSpec["args"] = []string{"-conf", "/etc/srv/Corefile"}
			ctrSpec["volumeMounts"] = []any{map[string]any{"name": "conf", "mountPath": "/etc/srv"}}
			spec["volumes"] = []any{map[string]any{"name": "conf", "configMap": map[string]string{"name": "srv"}}}
		}
		pod := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": p.name, "namespace": "default", "labels": map[string]string{"app": p.name}},
			"spec":     spec,
		}
		if err := createObjects(ctx, api, []object{{"/api/v1/namespaces/default/pods", pod}}); err != nil {
			t.Fatal(err)
		}
	}
	svc := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "srv", "namespace": "default"},
		"spec": map[string]any{
			"selector": map[string]string{"app": "srv"},
			"ports":    []any{map[string]any{"port": 80, "targetPort": 1053, "protocol": "TCP"}},
		},
	}
	if err := createObjects(ctx, api, []object{{"/api/v1/namespaces/default/services", svc}}); err != nil {
		t.Fatal(err)
	}
	ips := map[string]string{}
	for _, name := range []string{"srv", "cli"} {
		err := poll(ctx, 60*time.Second, 50*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
			var p podStatus
			if err := api.get(ctx, "/api/v1/namespaces/default/pods/"+name, &p); err != nil {
				return false, nil
			}
			if p.Status.Phase != "Running" || p.Status.PodIP == "" {
				return false, nil
			}
			ips[name] = p.Status.PodIP
			return true, nil
		}, func() string { return "pod " + name + " Running" })
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("two pods Running in %s: srv %s, cli %s", time.Since(podBegan).Round(time.Millisecond), ips["srv"], ips["cli"])
	for name, ip := range ips {
		if !podNet.Contains(net.ParseIP(ip)) {
			t.Errorf("pod %s has IP %s, outside the pod CIDR %s", name, ip, st.PodCIDR)
		}
	}

	cliPID, err := ContainerPID(ctx, stateDir, "default", "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	// A Service name resolves inside a pod, through its resolv.conf's search path.
	var svcIP struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if err := api.get(ctx, "/api/v1/namespaces/default/services/srv", &svcIP); err != nil {
		t.Fatal(err)
	}
	h := helperCmd{bin: os.Args[0]}
	if err := poll(ctx, 30*time.Second, 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		got, err := h.lookupInPod(ctx, cliPID, "srv")
		return err == nil && reflect.DeepEqual(got, []string{svcIP.Spec.ClusterIP}), nil
	}, func() string { return "srv resolving to " + svcIP.Spec.ClusterIP + " in pod cli" }); err != nil {
		t.Fatal(err)
	}

	// No default route in a pod: nothing it sends leaves the machine.
	routes, err := runCmd(ctx, "nsenter", "--net=/proc/"+strconv.Itoa(cliPID)+"/ns/net", "--", "ip", "route")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(routes, "default") {
		t.Errorf("pod cli has a default route:\n%s", routes)
	}

	dial := func(addr string) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, "nsenter", "--net=/proc/"+strconv.Itoa(cliPID)+"/ns/net", "--", os.Args[0])
		cmd.Env = append(os.Environ(), dialEnv+"="+addr)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("dial %s from cli: %w: %s", addr, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	srvAddr := net.JoinHostPort(ips["srv"], "1053")
	svcAddr := net.JoinHostPort(svcIP.Spec.ClusterIP, "80")
	waitDial := func(addr string) {
		t.Helper()
		if err := poll(ctx, 30*time.Second, 200*time.Millisecond, nil, func(context.Context) (bool, error) {
			return dial(addr) == nil, nil
		}, func() string { return "a connection from cli to " + addr }); err != nil {
			t.Fatal(err)
		}
	}
	waitDial(srvAddr)
	waitDial(svcAddr) // pod to pod through a ClusterIP on one bridge

	// Cut and heal. The cut must come before kube-proxy's acceptance of
	// established connections, or a connection open before the cut (a
	// member's gRPC stream) goes on as if nothing happened.
	if err := Cut(ctx, stateDir, "default/cli", ips["srv"]); err != nil {
		t.Fatal(err)
	}
	if first := firstRule(t, "FORWARD"); !slices.Equal(first, []string{"-A", "FORWARD", "-j", forwardChain}) {
		t.Errorf("first FORWARD rule during a cut is %q, want the jump to %s", first, forwardChain)
	}
	for _, addr := range []string{srvAddr, svcAddr} {
		if err := dial(addr); err == nil {
			t.Errorf("cli reached %s across a cut", addr)
		}
	}
	if err := Heal(ctx, stateDir, ips["cli"], "default/srv"); err != nil {
		t.Fatal(err)
	}
	waitDial(srvAddr)

	// Pause and resume: the server's processes are frozen, then thawed.
	srvPID, err := ContainerPID(ctx, stateDir, "default", "srv", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := PauseContainer(ctx, stateDir, "default", "srv", ""); err != nil {
		t.Fatal(err)
	}
	if got := freezerState(t, srvPID); got != "FROZEN" {
		t.Errorf("paused container's freezer state %q, want FROZEN", got)
	}
	if err := ResumeContainer(ctx, stateDir, "default", "srv", ""); err != nil {
		t.Fatal(err)
	}
	if got := freezerState(t, srvPID); got != "THAWED" {
		t.Errorf("resumed container's freezer state %q, want THAWED", got)
	}
	waitDial(srvAddr)

	// Kill: the kubelet restarts the container, counting it.
	if err := KillContainer(ctx, stateDir, "default", "srv", ""); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 60*time.Second, 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		var p podStatus
		if err := api.get(ctx, "/api/v1/namespaces/default/pods/srv", &p); err != nil {
			return false, nil
		}
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil, nil
	}, func() string { return "srv restarted once" }); err != nil {
		t.Fatal(err)
	}
	_ = api.do(ctx, http.MethodDelete, "/api/v1/namespaces/default/services/srv", nil, nil)

	if provisioner {
		checkVolume(ctx, t, api)
	}

	// Stop, then nothing is left.
	stopBegan := time.Now()
	stopped = true
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("node stopped in %s", time.Since(stopBegan).Round(time.Millisecond))
	after := viewHost(t)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("host differs after Stop:\nbefore %+v\nafter  %+v", before, after)
	}
	if ps := processesMentioning(stateDir); len(ps) > 0 {
		t.Errorf("processes left: %q", ps)
	}
	if ps := shimPIDs(st.ContainerdSocket); len(ps) > 0 {
		t.Errorf("shims left: %v", ps)
	}
	if mps, err := mountsUnder(stateDir); err != nil || len(mps) > 0 {
		t.Errorf("mounts left: %q (%v)", mps, err)
	}
	for _, d := range []string{stateDir, "/var/lib/cni/networks/" + cniNetworkName} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", d, err)
		}
	}
	if _, err := os.Stat(DefaultLockFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock %s still there (%v)", DefaultLockFile, err)
	}
}

// freezerState reads the cgroup v1 freezer state of a process's cgroup.
func freezerState(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		// ID:controllers:path
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "freezer") {
			state, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", f[2], "freezer.state"))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(state))
		}
	}
	t.Fatalf("pid %d has no freezer cgroup", pid)
	return ""
}

// readyTimeout is Options.ReadyTimeout: LOCALKUBE_NODE_READY_TIMEOUT, or the default.
func readyTimeout(t *testing.T) time.Duration {
	if env := os.Getenv("LOCALKUBE_NODE_READY_TIMEOUT"); env != "" {
		d, err := time.ParseDuration(env)
		if err != nil {
			t.Fatalf("LOCALKUBE_NODE_READY_TIMEOUT: %v", err)
		}
		return d
	}
	return 0
}

// checkVolume claims a volume of the default StorageClass (the host-path
// provisioner's) and runs a pod that mounts it.
func checkVolume(ctx context.Context, t *testing.T, api *apiClient) {
	t.Helper()
	began := time.Now()
	pvc := map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": "data", "namespace": "default"},
		"spec": map[string]any{
			"accessModes": []string{"ReadWriteOnce"},
			"resources":   map[string]any{"requests": map[string]string{"storage": "1Mi"}},
		},
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "vol", "namespace": "default"},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 0,
			"containers": []any{map[string]any{
				"name": "pause", "image": DefaultPauseImage, "imagePullPolicy": "Never",
				"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/data"}},
			}},
			"volumes": []any{map[string]any{"name": "data", "persistentVolumeClaim": map[string]string{"claimName": "data"}}},
		},
	}
	if err := createObjects(ctx, api, []object{
		{"/api/v1/namespaces/default/persistentvolumeclaims", pvc},
		{"/api/v1/namespaces/default/pods", pod},
	}); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 60*time.Second, 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		var p podStatus
		if err := api.get(ctx, "/api/v1/namespaces/default/pods/vol", &p); err != nil {
			return false, nil
		}
		return p.Status.Phase == "Running", nil
	}, func() string { return "pod vol Running with its claimed volume" }); err != nil {
		t.Fatal(err)
	}
	t.Logf("a claimed volume bound and mounted in a Running pod in %s", time.Since(began).Round(time.Millisecond))
}

// firstRule is the first rule of a filter chain.
func firstRule(t *testing.T, chain string) []string {
	t.Helper()
	rules, err := execIptables{}.rules("iptables", "filter")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if len(r) > 1 && r[0] == "-A" && r[1] == chain {
			return r
		}
	}
	return nil
}
