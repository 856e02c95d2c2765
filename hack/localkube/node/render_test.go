package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decode parses rendered JSON for comparison with a want written as Go values.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("rendered invalid JSON: %v\n%s", err, data)
	}
	return m
}

// at walks a decoded JSON value along keys (map keys, or list indexes as ints).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestRenderKubeletConfig(t *testing.T) {
	c := kubeletConfig{
		NodeIP: "10.244.0.1", Port: 10250, HealthzPort: 10248, CACertFile: "/s/pki/ca.crt",
		TLSCertFile: "/s/pki/kubelet-serving.crt", TLSKeyFile: "/s/pki/kubelet-serving.key",
		ContainerdSocket: "/s/containerd/containerd.sock", ResolvConf: "/s/kubelet/resolv.conf",
		PodLogsDir: "/s/kubelet/pod-logs", ClusterDNS: "10.0.0.10", PodCIDR: "10.244.0.0/24",
	}
	data, err := renderKubeletConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, data)
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"kind"}, "KubeletConfiguration"},
		{[]any{"apiVersion"}, "kubelet.config.k8s.io/v1beta1"},
		{[]any{"address"}, "10.244.0.1"},
		{[]any{"port"}, 10250.0},
		{[]any{"healthzBindAddress"}, "127.0.0.1"},
		{[]any{"readOnlyPort"}, 0.0},
		{[]any{"failCgroupV1"}, false},
		{[]any{"cgroupDriver"}, "cgroupfs"},
		{[]any{"cgroupsPerQOS"}, true},
		{[]any{"failSwapOn"}, false},
		{[]any{"containerRuntimeEndpoint"}, "unix:///s/containerd/containerd.sock"},
		{[]any{"resolvConf"}, "/s/kubelet/resolv.conf"},
		{[]any{"podLogsDir"}, "/s/kubelet/pod-logs"},
		{[]any{"clusterDNS", 0}, "10.0.0.10"},
		{[]any{"clusterDomain"}, "cluster.local"},
		{[]any{"authentication", "anonymous", "enabled"}, false},
		{[]any{"authentication", "webhook", "enabled"}, true},
		{[]any{"authentication", "x509", "clientCAFile"}, "/s/pki/ca.crt"},
		{[]any{"authorization", "mode"}, "Webhook"},
		{[]any{"serializeImagePulls"}, false},
		{[]any{"imageGCHighThresholdPercent"}, 100.0},
		{[]any{"evictionHard", "nodefs.available"}, "1%"},
		{[]any{"rotateCertificates"}, false},
		{[]any{"serverTLSBootstrap"}, false},
		{[]any{"tlsCertFile"}, "/s/pki/kubelet-serving.crt"},
		{[]any{"staticPodPath"}, nil},
	} {
		if v := at(got, tc.path...); !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%v = %#v, want %#v", tc.path, v, tc.want)
		}
	}
}

func TestRenderKubeProxyConfig(t *testing.T) {
	data, err := renderKubeProxyConfig(kubeProxyConfig{
		Kubeconfig: "/cp/kubeconfig", NodeIP: "10.244.0.1", NodeName: "n1", PodCIDR: "10.244.0.0/24",
		HealthzPort: 1001, MetricsPort: 1002,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, data)
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"kind"}, "KubeProxyConfiguration"},
		{[]any{"mode"}, "iptables"},
		{[]any{"clientConnection", "kubeconfig"}, "/cp/kubeconfig"},
		{[]any{"bindAddress"}, "10.244.0.1"},
		{[]any{"healthzBindAddress"}, "127.0.0.1:1001"},
		{[]any{"metricsBindAddress"}, "127.0.0.1:1002"},
		{[]any{"hostnameOverride"}, "n1"},
		{[]any{"clusterCIDR"}, "10.244.0.0/24"},
		{[]any{"nodePortAddresses", 0}, "10.244.0.1/32"},
		{[]any{"conntrack", "maxPerCore"}, 0.0},
		{[]any{"conntrack", "min"}, 0.0},
		{[]any{"conntrack", "tcpEstablishedTimeout"}, "0s"},
		{[]any{"conntrack", "tcpCloseWaitTimeout"}, "0s"},
		{[]any{"iptables", "localhostNodePorts"}, false},
	} {
		if v := at(got, tc.path...); !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%v = %#v, want %#v", tc.path, v, tc.want)
		}
	}
}

func TestRenderConflist(t *testing.T) {
	data, err := renderConflist(cniConfig{Bridge: "rk0", PodCIDR: "10.244.0.0/24", Gateway: "10.244.0.1", ServiceCIDR: "10.0.0.0/24", DataDir: "/s/cni/networks"})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, data)
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"name"}, "localkube"},
		{[]any{"cniVersion"}, "1.0.0"},
		{[]any{"plugins", 0, "type"}, "bridge"},
		{[]any{"plugins", 0, "bridge"}, "rk0"},
		{[]any{"plugins", 0, "isGateway"}, true},
		{[]any{"plugins", 0, "isDefaultGateway"}, false},
		{[]any{"plugins", 0, "ipMasq"}, false},
		{[]any{"plugins", 0, "hairpinMode"}, true},
		{[]any{"plugins", 0, "ipam", "type"}, "host-local"},
		{[]any{"plugins", 0, "ipam", "dataDir"}, "/s/cni/networks"},
		{[]any{"plugins", 0, "ipam", "ranges", 0, 0, "subnet"}, "10.244.0.0/24"},
		{[]any{"plugins", 0, "ipam", "ranges", 0, 0, "gateway"}, "10.244.0.1"},
		// No default route: only the service range besides the pods' own.
		{[]any{"plugins", 0, "ipam", "routes"}, []any{map[string]any{"dst": "10.0.0.0/24"}}},
		{[]any{"plugins", 1, "type"}, "portmap"},
		{[]any{"plugins", 1, "capabilities", "portMappings"}, true},
	} {
		if v := at(got, tc.path...); !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%v = %#v, want %#v", tc.path, v, tc.want)
		}
	}
}

func TestRenderContainerdConfig(t *testing.T) {
	got := renderContainerdConfig(containerdConfig{
		Root: "/s/containerd/root", State: "/s/containerd/state", Socket: "/s/containerd/containerd.sock",
		RuncRoot: "/s/containerd/runc", Runc: "/usr/sbin/runc", CNIBinDir: "/bin/cni", CNIConfDir: "/s/cni/net.d",
		PauseImage: "localhost/raftkube/pause:3.10", Snapshotter: "overlayfs", RegistryHostsDir: "/s/containerd/certs.d",
	})
	for _, want := range []string{
		"[plugins.\"io.containerd.grpc.v1.cri\".registry]\n      config_path = \"/s/containerd/certs.d\"",
		"version = 2\n",
		`root = "/s/containerd/root"`,
		`state = "/s/containerd/state"`,
		"[grpc]\n  address = \"/s/containerd/containerd.sock\"",
		`path = "/s/containerd/opt"`,
		`sandbox_image = "localhost/raftkube/pause:3.10"`,
		"restrict_oom_score_adj = true",
		"netns_mounts_under_state_dir = true",
		`snapshotter = "overlayfs"`,
		`BinaryName = "/usr/sbin/runc"`,
		`Root = "/s/containerd/runc"`,
		"SystemdCgroup = false",
		`bin_dir = "/bin/cni"`,
		`conf_dir = "/s/cni/net.d"`,
		`"io.containerd.snapshotter.v1.btrfs"`,
		`stream_server_address = "127.0.0.1"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("containerd config lacks %q:\n%s", want, got)
		}
	}
}

func TestDNSObjects(t *testing.T) {
	objs := dnsObjects(dnsConfig{Image: "localhost/raftkube/coredns:1.2.3", ServiceIP: "10.0.0.10"})
	byKind := map[string]object{}
	for _, o := range objs {
		byKind[o.Body["kind"].(string)] = o
	}
	data, err := json.Marshal(map[string]any{
		"sa": byKind["ServiceAccount"].Body, "role": byKind["ClusterRole"].Body, "binding": byKind["ClusterRoleBinding"].Body,
		"cm": byKind["ConfigMap"].Body, "deploy": byKind["Deployment"].Body, "svc": byKind["Service"].Body,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, data)
	pod := []any{"deploy", "spec", "template", "spec"}
	ctr := append(append([]any{}, pod...), "containers", 0)
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"sa", "metadata", "namespace"}, "kube-system"},
		{[]any{"sa", "metadata", "name"}, "coredns"},
		{[]any{"role", "rules", 0, "resources"}, []any{"endpoints", "services", "pods", "namespaces"}},
		{[]any{"role", "rules", 0, "verbs"}, []any{"list", "watch"}},
		{[]any{"role", "rules", 1, "apiGroups", 0}, "discovery.k8s.io"},
		{[]any{"role", "rules", 1, "resources", 0}, "endpointslices"},
		{[]any{"binding", "subjects", 0, "name"}, "coredns"},
		{[]any{"binding", "roleRef", "name"}, "system:coredns"},
		{[]any{"svc", "metadata", "name"}, "kube-dns"},
		{[]any{"svc", "spec", "clusterIP"}, "10.0.0.10"},
		{[]any{"svc", "spec", "ports", 0, "protocol"}, "UDP"},
		{[]any{"svc", "spec", "ports", 1, "protocol"}, "TCP"},
		{[]any{"svc", "spec", "ports", 0, "targetPort"}, 53.0},
		{append(append([]any{}, pod...), "securityContext", "runAsNonRoot"), true},
		{append(append([]any{}, pod...), "securityContext", "runAsUser"), 65532.0},
		{append(append([]any{}, pod...), "securityContext", "sysctls", 0, "name"), "net.ipv4.ip_unprivileged_port_start"},
		{append(append([]any{}, pod...), "securityContext", "sysctls", 0, "value"), "53"},
		{append(append([]any{}, pod...), "serviceAccountName"), "coredns"},
		{append(append([]any{}, ctr...), "image"), "localhost/raftkube/coredns:1.2.3"},
		{append(append([]any{}, ctr...), "imagePullPolicy"), "Never"},
		{append(append([]any{}, ctr...), "readinessProbe", "httpGet", "port"), 8181.0},
		{append(append([]any{}, ctr...), "readinessProbe", "httpGet", "path"), "/ready"},
		{append(append([]any{}, ctr...), "livenessProbe", "httpGet", "port"), 8080.0},
		{append(append([]any{}, ctr...), "securityContext", "capabilities", "drop"), []any{"ALL"}},
		{append(append([]any{}, ctr...), "securityContext", "readOnlyRootFilesystem"), true},
		{append(append([]any{}, ctr...), "securityContext", "allowPrivilegeEscalation"), false},
	} {
		if v := at(got, tc.path...); !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%v = %#v, want %#v", tc.path, v, tc.want)
		}
	}
	cf := at(got, "cm", "data", "Corefile").(string)
	for _, want := range []string{"kubernetes cluster.local in-addr.arpa ip6.arpa", "cache 30", "errors", "health :8080", "ready :8181", "loop", "reload"} {
		if !strings.Contains(cf, want) {
			t.Errorf("Corefile lacks %q:\n%s", want, cf)
		}
	}
	if strings.Contains(cf, "forward") {
		t.Errorf("Corefile forwards off the machine:\n%s", cf)
	}
}

func TestOwnChainRules(t *testing.T) {
	got := ownChainRules(networkConfig{Bridge: "rk0", KubeAPIIP: "10.0.0.1", APIServerPort: 6443})
	want := [][]string{
		{"-t", "filter", "-N", "LOCALKUBE-NODE-CUTS"},
		{"-t", "filter", "-N", "LOCALKUBE-NODE-FWD"},
		{"-t", "filter", "-A", "LOCALKUBE-NODE-FWD", "-j", "LOCALKUBE-NODE-CUTS"},
		{"-t", "filter", "-A", "LOCALKUBE-NODE-FWD", "-i", "rk0", "!", "-o", "rk0", "-j", "DROP"},
		{"-t", "filter", "-A", "LOCALKUBE-NODE-FWD", "!", "-i", "rk0", "-o", "rk0", "-j", "DROP"},
		{"-t", "filter", "-I", "FORWARD", "1", "-j", "LOCALKUBE-NODE-FWD"},
		{"-t", "nat", "-N", "LOCALKUBE-NODE-API"},
		{"-t", "nat", "-A", "LOCALKUBE-NODE-API", "-i", "rk0", "-d", "10.0.0.1/32", "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", "127.0.0.1:6443"},
		{"-t", "nat", "-I", "PREROUTING", "1", "-j", "LOCALKUBE-NODE-API"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ownChainRules =\n%q\nwant\n%q", got, want)
	}
}

func TestNthAddr(t *testing.T) {
	for _, tc := range []struct {
		cidr    string
		n       int
		want    string
		wantErr bool
	}{
		{"10.244.0.0/24", 1, "10.244.0.1", false},
		{"10.0.0.0/24", 10, "10.0.0.10", false},
		{"10.0.0.0/24", 256, "", true},
		{"10.0.0.0/30", 3, "10.0.0.3", false},
		{"fd00::/64", 1, "", true},
		{"nonsense", 1, "", true},
	} {
		ip, err := nthAddr(tc.cidr, tc.n)
		if (err != nil) != tc.wantErr {
			t.Errorf("nthAddr(%s, %d) error %v, wantErr %v", tc.cidr, tc.n, err, tc.wantErr)
			continue
		}
		if err == nil && ip.String() != tc.want {
			t.Errorf("nthAddr(%s, %d) = %s, want %s", tc.cidr, tc.n, ip, tc.want)
		}
	}
}

func TestResolvConfCandidates(t *testing.T) {
	rc := parseResolvConf("# comment\nsearch kube-system.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n")
	if !reflect.DeepEqual(rc.nameservers, []string{"10.0.0.10"}) || rc.ndots != 5 {
		t.Fatalf("parsed %+v", rc)
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"kubernetes.default", []string{
			"kubernetes.default.kube-system.svc.cluster.local.", "kubernetes.default.svc.cluster.local.",
			"kubernetes.default.cluster.local.", "kubernetes.default.",
		}},
		{"a.b.c.d.e.f", []string{
			"a.b.c.d.e.f.", "a.b.c.d.e.f.kube-system.svc.cluster.local.", "a.b.c.d.e.f.svc.cluster.local.", "a.b.c.d.e.f.cluster.local.",
		}},
		{"kubernetes.default.svc.cluster.local.", []string{"kubernetes.default.svc.cluster.local."}},
	} {
		if got := rc.candidates(tc.name); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("candidates(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFindImage(t *testing.T) {
	for _, tc := range []struct {
		refs    []string
		want    string
		wantErr string
	}{
		{[]string{"localhost/raftkube/pause:3.10", "localhost/raftkube/coredns:1.15.0"}, "localhost/raftkube/coredns:1.15.0", ""},
		{[]string{"localhost/raftkube/coredns:1.15.0"}, "", "sandbox image"},
		{[]string{"localhost/raftkube/pause:3.10"}, "", "exactly one"},
		{[]string{"localhost/raftkube/pause:3.10", "localhost/raftkube/coredns:1", "localhost/raftkube/coredns:2"}, "", "exactly one"},
	} {
		got, err := findImage(tc.refs, "localhost/raftkube/pause:3.10", CoreDNSImagePrefix)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("findImage(%q) = %q, %v; want error %q", tc.refs, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("findImage(%q) = %q, %v; want %q", tc.refs, got, err, tc.want)
		}
	}
}

func TestFirstRuleCommands(t *testing.T) {
	jump := []string{"-A", "FORWARD", "-j", "LOCALKUBE-NODE-FWD"}
	kube := []string{"-A", "FORWARD", "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"}
	other := []string{"-A", "KUBE-FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}
	for _, tc := range []struct {
		name  string
		rules [][]string
		want  [][]string
	}{
		{"already first", [][]string{jump, kube, other}, nil},
		{"after kube-proxy's jumps", [][]string{kube, other, jump}, [][]string{
			{"-t", "filter", "-I", "FORWARD", "1", "-j", "LOCALKUBE-NODE-FWD"},
			{"-t", "filter", "-D", "FORWARD", "3"},
		}},
		{"missing", [][]string{kube}, [][]string{
			{"-t", "filter", "-I", "FORWARD", "1", "-j", "LOCALKUBE-NODE-FWD"},
		}},
		{"first and again later", [][]string{jump, kube, jump}, [][]string{
			{"-t", "filter", "-I", "FORWARD", "1", "-j", "LOCALKUBE-NODE-FWD"},
			{"-t", "filter", "-D", "FORWARD", "4"},
			{"-t", "filter", "-D", "FORWARD", "2"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := firstRuleCommands(tc.rules, "filter", "FORWARD", "LOCALKUBE-NODE-FWD")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("firstRuleCommands = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrustPlainHTTPRegistry(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(layout{dir: dir}.stateFile(), State{NodeName: "n"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"10.0.0.5:5000", "registry.example:5000", "127.0.0.1", "localhost:5000"} {
		if err := TrustPlainHTTPRegistry(dir, bad); err == nil {
			t.Errorf("TrustPlainHTTPRegistry(%q) = nil, want an error: only loopback IP:PORT", bad)
		}
	}
	if err := TrustPlainHTTPRegistry(dir, "127.0.0.1:5000"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "containerd", "certs.d", "127.0.0.1:5000", "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`server = "http://127.0.0.1:5000"`, `[host."http://127.0.0.1:5000"]`, `capabilities = ["pull", "resolve"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hosts.toml lacks %q:\n%s", want, b)
		}
	}
	if err := TrustPlainHTTPRegistry(t.TempDir(), "127.0.0.1:5000"); err == nil {
		t.Error("trusting a registry on a directory that holds no node succeeded")
	}
}
