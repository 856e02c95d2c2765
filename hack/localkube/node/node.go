package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// ControlPlane is what the node needs of the control plane it joins.
type ControlPlane struct {
	APIServerURL string // https://127.0.0.1:PORT
	Kubeconfig   string // path of the admin kubeconfig (kube-proxy, the provisioner)
	AdminToken   string // bearer token of a system:masters user
	CACert       []byte // the cluster CA (PEM): trusted by the kubelet for clients
	CAKey        []byte // its key (PKCS#8 PEM): signs the kubelet's certificates
}

// FromControlPlane describes a running localkube control plane.
func FromControlPlane(cp *controlplane.ControlPlane) ControlPlane {
	return ControlPlane{
		APIServerURL: cp.APIServerURL(),
		Kubeconfig:   cp.Kubeconfig(),
		AdminToken:   cp.AdminToken(),
		CACert:       cp.CACert(),
		CAKey:        cp.CAKey(),
	}
}

// Options configure Start. BinDir, ControlPlane and Images are required.
type Options struct {
	// BinDir holds kubelet, kube-proxy and hostpath-provisioner.
	BinDir string
	// CNIBinDir holds the CNI plugins bridge, host-local, loopback and portmap.
	// Default BinDir/cni.
	CNIBinDir string
	// StateDir is where configs, certificates, containerd's and the kubelet's
	// data and the logs go; it must be missing or empty, and Stop removes it.
	// Empty: a new temporary directory.
	StateDir     string
	ControlPlane ControlPlane
	// NodeName is the Node's name (the kubelet's --hostname-override). Default "localkube-node".
	NodeName string
	// PodCIDR is the pods' range; its first address is the bridge's and the
	// node's IP. Default 10.244.0.0/24. It must not overlap a host address.
	PodCIDR string
	// ServiceCIDR is the control plane's service range. Default controlplane.ServiceClusterIPRange.
	ServiceCIDR string
	// DNSServiceIP is the kube-dns Service's cluster IP. Default: the tenth of ServiceCIDR.
	DNSServiceIP string
	// Bridge is the name of the bridge the node creates. Default "rk0".
	Bridge string
	// Images are OCI/Docker image tarballs imported into containerd before the
	// kubelet starts; they must hold PauseImage and a localhost/raftkube/coredns image.
	Images []string
	// PauseImage is the sandbox image's reference. Default "localhost/raftkube/pause:3.10".
	PauseImage string
	// NoProvisioner skips the host-path provisioner (no default StorageClass).
	NoProvisioner bool
	// HelperBin runs `node lookup` in a pod's network namespace (the localkube
	// binary, or a test binary that dispatches on LOCALKUBE_NODE_HELPER=1).
	// Default: this executable.
	HelperBin string
	// Containerd, Ctr and Runc are the host's binaries. Defaults /usr/bin/containerd,
	// /usr/bin/ctr, /usr/sbin/runc.
	Containerd, Ctr, Runc string
	// ReadyTimeout bounds each wait (Node Ready, CoreDNS ready, the DNS probe). Default 120s.
	ReadyTimeout time.Duration
	// StopGrace is how long each process has between SIGTERM and SIGKILL. Default 10s.
	StopGrace time.Duration
	// Detached lets the processes outlive the caller (`localkube up --node --detach`).
	Detached bool
	// KeepState makes Stop leave the state directory (logs) after undoing everything else.
	KeepState bool
	// LockFile makes the node the only one on the machine. Default /run/localkube-node.lock.
	LockFile string
	// LockWait is how long Start waits for another node on the machine to
	// stop (tests of several packages run at once). Default 0: fail at once
	// with ErrNodeRunning.
	LockWait time.Duration
	// Logf, if set, receives a line per step.
	Logf func(format string, args ...any)
}

// Defaults of Options.
const (
	DefaultNodeName   = "localkube-node"
	DefaultPodCIDR    = "10.244.0.0/24"
	DefaultBridge     = "rk0"
	DefaultPauseImage = "localhost/raftkube/pause:3.10"
	DefaultLockFile   = "/run/localkube-node.lock"
	// CoreDNSImagePrefix is the repository of the CoreDNS image Start looks
	// for among the imported ones; its tag is CoreDNS's version.
	CoreDNSImagePrefix = "localhost/raftkube/coredns:"
	// ClusterDomain is the pods' DNS domain.
	ClusterDomain = "cluster.local"

	defaultReadyTimeout = 120 * time.Second
	defaultStopGrace    = 10 * time.Second
	certValidity        = 365 * 24 * time.Hour
	logTailLines        = 40
)

// Component names: binaries and log files.
const (
	Containerd  = "containerd"
	Kubelet     = "kubelet"
	KubeProxy   = "kube-proxy"
	Provisioner = "hostpath-provisioner"
)

// cniPlugins are the plugins the node's network configuration uses.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

func withDefaults(o Options) (Options, error) {
	if o.CNIBinDir == "" && o.BinDir != "" {
		o.CNIBinDir = filepath.Join(o.BinDir, "cni")
	}
	if o.NodeName == "" {
		o.NodeName = DefaultNodeName
	}
	if o.PodCIDR == "" {
		o.PodCIDR = DefaultPodCIDR
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = controlplane.ServiceClusterIPRange
	}
	if o.DNSServiceIP == "" {
		ip, err := nthAddr(o.ServiceCIDR, 10)
		if err != nil {
			return o, fmt.Errorf("service CIDR: %w", err)
		}
		o.DNSServiceIP = ip.String()
	}
	if o.Bridge == "" {
		o.Bridge = DefaultBridge
	}
	if o.PauseImage == "" {
		o.PauseImage = DefaultPauseImage
	}
	if o.HelperBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("find this executable for the DNS probe: %w", err)
		}
		o.HelperBin = exe
	}
	if o.Containerd == "" {
		o.Containerd = "/usr/bin/containerd"
	}
	if o.Ctr == "" {
		o.Ctr = "/usr/bin/ctr"
	}
	if o.Runc == "" {
		o.Runc = "/usr/sbin/runc"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = defaultReadyTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = defaultStopGrace
	}
	if o.LockFile == "" {
		o.LockFile = DefaultLockFile
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o, nil
}

// nthAddr is the n-th address of an IPv4 CIDR (0: the network address).
func nthAddr(cidr string, n int) (net.IP, error) {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", cidr, err)
	}
	ip4 := ipnet.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("%s is not IPv4", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if n >= 1<<(bits-ones) {
		return nil, fmt.Errorf("%s has no address number %d", cidr, n)
	}
	v := uint32(ip4[0])<<24 | uint32(ip4[1])<<16 | uint32(ip4[2])<<8 | uint32(ip4[3])
	v += uint32(n)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4(), nil
}

// checkInputs fails naming every missing binary or image, with how to build it.
func checkInputs(o Options) error {
	if o.BinDir == "" {
		return errors.New("no BinDir given")
	}
	if o.ControlPlane.APIServerURL == "" || len(o.ControlPlane.CACert) == 0 || len(o.ControlPlane.CAKey) == 0 || o.ControlPlane.AdminToken == "" || o.ControlPlane.Kubeconfig == "" {
		return errors.New("the control plane's URL, admin kubeconfig and token, CA cert and key are all required")
	}
	var missing []string
	need := func(path, hint string) {
		st, err := os.Stat(path)
		if err != nil || st.IsDir() {
			missing = append(missing, path+hint)
		}
	}
	need(filepath.Join(o.BinDir, Kubelet), " (make k8s-tools)")
	need(filepath.Join(o.BinDir, KubeProxy), " (make k8s-tools)")
	if !o.NoProvisioner {
		need(filepath.Join(o.BinDir, Provisioner), " (cd hack/localkubelet && go build -o ../../bin/hostpath-provisioner ./cmd/hostpath-provisioner)")
	}
	for _, p := range cniPlugins {
		need(filepath.Join(o.CNIBinDir, p), " (the standard CNI plugins, hack/cniplugins)")
	}
	for _, p := range []string{o.Containerd, o.Ctr, o.Runc} {
		need(p, " (apt-get install containerd runc; make host-packages)")
	}
	for _, name := range []string{"ip", "iptables", "ip6tables", "nsenter"} {
		if _, err := lookPath(name); err != nil {
			missing = append(missing, name+" (make host-packages)")
		}
	}
	if len(o.Images) == 0 {
		missing = append(missing, "image tarballs (at least pause.tar and coredns.tar: make node-images)")
	}
	for _, img := range o.Images {
		need(img, " (make node-images)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %v", missing)
	}
	if os.Geteuid() != 0 {
		return errors.New("a node needs root (containers, bridge, iptables)")
	}
	return nil
}

// Node is a running node. Its methods are safe for concurrent use.
type Node struct {
	opts   Options
	layout layout

	mu      sync.Mutex
	state   State
	procs   []*controlplane.Process // in start order
	stopped bool
}

// Start brings the node up and returns once the Node is Ready, CoreDNS
// answers and a pod resolves the kubernetes Service's name. On error
// everything it did has been undone (the state directory kept if
// Options.KeepState); the error names the failing step, with a log tail.
func Start(ctx context.Context, opts Options) (*Node, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(opts); err != nil {
		return nil, err
	}
	if err := acquireLock(ctx, opts.LockFile, opts.LockWait); err != nil {
		return nil, err
	}
	stateDir, err := controlplane.MakeStateDir(opts.StateDir, "localkube-node-")
	if err != nil {
		return nil, errors.Join(err, releaseLock(opts.LockFile))
	}
	opts.StateDir = stateDir
	if err := recordLockOwner(opts.LockFile, stateDir); err != nil {
		return nil, errors.Join(err, releaseLock(opts.LockFile))
	}
	n := &Node{opts: opts, layout: layout{dir: stateDir}}
	if err := n.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*opts.StopGrace+30*time.Second)
		defer cancel()
		if stopErr := n.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	return n, nil
}

// start does Start's work; on error the caller stops what it started.
func (n *Node) start(ctx context.Context) error {
	o, l := n.opts, n.layout
	began := time.Now()
	step := func(format string, args ...any) {
		o.Logf("node: "+format+" at +%s", append(args, time.Since(began).Round(time.Millisecond))...)
	}
	nodeIP, kubeAPIIP, err := n.prepareHost(ctx)
	if err != nil {
		return err
	}
	step("bridge %s at %s, iptables chains and sysctls set", o.Bridge, nodeIP)
	containerd, corednsImage, err := n.startRuntime(ctx, nodeIP, step)
	if err != nil {
		return err
	}
	kubelet, err := n.launch(Kubelet, filepath.Join(o.BinDir, Kubelet), kubeletArgs(l, o.NodeName, nodeIP.String()))
	if err != nil {
		return err
	}
	kubeProxy, err := n.launch(KubeProxy, filepath.Join(o.BinDir, KubeProxy), kubeProxyArgs(l))
	if err != nil {
		return err
	}
	api, err := newAPIClient(o.ControlPlane.APIServerURL, o.ControlPlane.CACert, o.ControlPlane.AdminToken)
	if err != nil {
		return err
	}
	defer api.close()
	if err := waitNodeReady(ctx, api, o.NodeName, []*controlplane.Process{kubelet, kubeProxy}, o.ReadyTimeout); err != nil {
		return err
	}
	step("Node %s Ready", o.NodeName)

	if !o.NoProvisioner {
		if _, err := n.launch(Provisioner, filepath.Join(o.BinDir, Provisioner), provisionerArgs(l, o.ControlPlane.Kubeconfig, o.NodeName)); err != nil {
			return err
		}
	}
	objs := append(dnsObjects(dnsConfig{Image: corednsImage, ServiceIP: o.DNSServiceIP}), probePod(o.NodeName, o.PauseImage))
	if err := createObjects(ctx, api, objs); err != nil {
		return err
	}
	watched := []*controlplane.Process{containerd, kubelet, kubeProxy}
	if err := waitDNS(ctx, o.DNSServiceIP, kubeAPIIP.String(), watched, o.ReadyTimeout); err != nil {
		return err
	}
	step("CoreDNS answers at %s", o.DNSServiceIP)
	if err := probeDNSFromPod(ctx, api, n.helper(), o.Ctr, l.containerdSock(), kubeAPIIP.String(), watched, o.ReadyTimeout); err != nil {
		return err
	}
	step("a pod resolves kubernetes.default")
	return nil
}

// prepareHost records the node's state and the host's before any change,
// then makes the bridge, the iptables chains and the sysctls; it returns the
// node's IP and the kubernetes Service's.
func (n *Node) prepareHost(ctx context.Context) (net.IP, net.IP, error) {
	o, l := n.opts, n.layout
	nodeIP, err := nthAddr(o.PodCIDR, 1)
	if err != nil {
		return nil, nil, fmt.Errorf("pod CIDR: %w", err)
	}
	apiURL, err := url.Parse(o.ControlPlane.APIServerURL)
	if err != nil {
		return nil, nil, fmt.Errorf("apiserver URL: %w", err)
	}
	apiPort, err := strconv.Atoi(apiURL.Port())
	if err != nil {
		return nil, nil, fmt.Errorf("apiserver URL %s has no port: %w", o.ControlPlane.APIServerURL, err)
	}
	kubeAPIIP, err := nthAddr(o.ServiceCIDR, 1)
	if err != nil {
		return nil, nil, fmt.Errorf("service CIDR: %w", err)
	}
	// Before the bridge's name goes into state.json: Stop deletes the bridge it names.
	if err := checkCIDRFree(o.PodCIDR, o.Bridge); err != nil {
		return nil, nil, err
	}
	n.mu.Lock()
	n.state = State{
		StateDir:         l.dir,
		NodeName:         o.NodeName,
		NodeIP:           nodeIP.String(),
		Bridge:           o.Bridge,
		PodCIDR:          o.PodCIDR,
		ServiceCIDR:      o.ServiceCIDR,
		DNSServiceIP:     o.DNSServiceIP,
		APIServerURL:     o.ControlPlane.APIServerURL,
		AdminKubeconfig:  o.ControlPlane.Kubeconfig,
		AdminToken:       o.ControlPlane.AdminToken,
		CACertFile:       l.pki(caCertFile),
		ContainerdSocket: l.containerdSock(),
		Ctr:              o.Ctr,
		LockFile:         o.LockFile,
	}
	n.mu.Unlock()
	for _, d := range []string{l.logDir(), l.pkiDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	// The snapshot goes to disk before the first change, so a `down` after
	// an `up` killed at any point restores what was there.
	snap, err := snapshotHost(defaultHostPaths())
	if err != nil {
		return nil, nil, err
	}
	n.mu.Lock()
	n.state.Host = snap
	n.mu.Unlock()
	if err := n.saveState(); err != nil {
		return nil, nil, err
	}
	hp := defaultHostPaths()
	loaded, err := prepareNetwork(ctx, hp.SysctlRoot, hp.Iptables, networkConfig{
		Bridge: o.Bridge, NodeIP: nodeIP, PodCIDR: o.PodCIDR,
		KubeAPIIP: kubeAPIIP.String(), APIServerPort: apiPort,
	})
	if loaded {
		n.mu.Lock()
		n.state.Host.LoadedBrNetfilter = true
		n.mu.Unlock()
		err = errors.Join(err, n.saveState())
	}
	if err != nil {
		return nil, nil, err
	}
	return nodeIP, kubeAPIIP, nil
}

// startRuntime writes every component's configuration, starts containerd
// and imports the images; it returns containerd and the CoreDNS image.
func (n *Node) startRuntime(ctx context.Context, nodeIP net.IP, step func(string, ...any)) (*controlplane.Process, string, error) {
	o, l := n.opts, n.layout
	ports, err := freePorts(nodeIP, 1)
	if err != nil {
		return nil, "", err
	}
	loopPorts, err := freePorts(net.IPv4(127, 0, 0, 1), 3)
	if err != nil {
		return nil, "", err
	}
	kc := kubeletConfig{
		NodeIP: nodeIP.String(), Port: ports[0], HealthzPort: loopPorts[0],
		CACertFile: l.pki(caCertFile), TLSCertFile: l.pki(kubeletServingCertFile), TLSKeyFile: l.pki(kubeletServingKeyFile),
		ContainerdSocket: l.containerdSock(), ResolvConf: l.kubeletResolvConf(), PodLogsDir: l.podLogsDir(),
		ClusterDNS: o.DNSServiceIP, PodCIDR: o.PodCIDR,
	}
	kpc := kubeProxyConfig{
		Kubeconfig: o.ControlPlane.Kubeconfig, NodeIP: nodeIP.String(), NodeName: o.NodeName, PodCIDR: o.PodCIDR,
		HealthzPort: loopPorts[1], MetricsPort: loopPorts[2],
	}
	// overlayfs where it mounts (fast, shared layers); native (copies) where not.
	snapshotter := "overlayfs"
	if !overlayWorks(l.dir) {
		snapshotter = "native"
	}
	if err := n.writeConfigs(nodeIP, snapshotter, kc, kpc); err != nil {
		return nil, "", err
	}

	containerd, err := n.launch(Containerd, o.Containerd, containerdArgs(l))
	if err != nil {
		return nil, "", err
	}
	if err := waitContainerd(ctx, containerd, o.Ctr, l.containerdSock(), o.ReadyTimeout); err != nil {
		return nil, "", componentError(containerd, err)
	}
	step("containerd ready (snapshotter %s)", snapshotter)
	refs, err := importImages(ctx, o.Ctr, l.containerdSock(), snapshotter, o.Images)
	if err != nil {
		return nil, "", err
	}
	corednsImage, err := findImage(refs, o.PauseImage, CoreDNSImagePrefix)
	if err != nil {
		return nil, "", err
	}
	step("images imported (%s)", corednsImage)
	return containerd, corednsImage, nil
}

// helper is how the node runs its own `node lookup` subcommand.
func (n *Node) helper() helperCmd { return helperCmd{bin: n.opts.HelperBin} }

// launch starts one component and records it in state.json.
func (n *Node) launch(name, bin string, args []string) (*controlplane.Process, error) {
	p, err := controlplane.StartProcess(name, bin, args, n.layout.log(name), n.opts.Detached)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.state.Processes = append(n.state.Processes, p.Record())
	n.mu.Unlock()
	return p, n.saveState()
}

func (n *Node) saveState() error {
	n.mu.Lock()
	s := n.state
	n.mu.Unlock()
	return writeState(n.layout.stateFile(), s)
}

// componentError names the component and appends the tail of its log.
func componentError(p *controlplane.Process, err error) error {
	return fmt.Errorf("%s: %w\n--- last lines of its log ---\n%s", p.Name(), err, p.TailLog(logTailLines))
}

// Stop stops the node's processes (provisioner, kube-proxy, kubelet, then
// containerd once every pod's processes are dead), and undoes every host
// change (see teardown). Calling it again does nothing.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	procs, st := n.procs, n.state
	n.mu.Unlock()
	stopProc := func(name string) {
		for _, p := range procs {
			if p.Name() == name {
				began := time.Now()
				p.Stop(ctx, n.opts.StopGrace)
				n.opts.Logf("node: %s stopped in %s", name, time.Since(began).Round(time.Millisecond))
			}
		}
	}
	err := teardown(ctx, st, defaultHostPaths(), stopProc, n.opts.KeepState, n.opts.Logf)
	if err != nil {
		return fmt.Errorf("stop node: %w", err)
	}
	return nil
}

// Wait blocks until ctx is done (returning nil) or a component exits
// (returning an error naming it, with the tail of its log).
func (n *Node) Wait(ctx context.Context) error {
	n.mu.Lock()
	procs := n.procs
	n.mu.Unlock()
	return controlplane.WaitAny(ctx, procs)
}

// State is a copy of what state.json records.
func (n *Node) State() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// StateDir is the node's state directory.
func (n *Node) StateDir() string { return n.layout.dir }

// LogPath is the log file of a component (Containerd, Kubelet, ...).
func (n *Node) LogPath(component string) string { return n.layout.log(component) }
