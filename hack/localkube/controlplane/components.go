package controlplane

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
)

// Component names: the binaries' names in Options.BinDir, and the log files'.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
)

// ports are the loopback ports of one control plane.
type ports struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager, Scheduler int
}

// layout names the files of a state directory (see the package doc).
type layout struct{ dir string }

func (l layout) pkiDir() string           { return filepath.Join(l.dir, "pki") }
func (l layout) pki(name string) string   { return filepath.Join(l.pkiDir(), name) }
func (l layout) logDir() string           { return filepath.Join(l.dir, "logs") }
func (l layout) log(name string) string   { return filepath.Join(l.logDir(), name+".log") }
func (l layout) kubeconfig() string       { return filepath.Join(l.dir, "kubeconfig") }
func (l layout) etcdData() string         { return filepath.Join(l.dir, "etcd") }
func (l layout) stateFile() string        { return filepath.Join(l.dir, stateFileName) }
func (l layout) apiserverCertDir() string { return filepath.Join(l.dir, "apiserver-certs") }

func loopbackURL(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func etcdArgs(l layout, p ports) []string {
	client, peer := loopbackURL("http", p.EtcdClient), loopbackURL("http", p.EtcdPeer)
	return []string{
		"--name=localkube",
		"--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localkube=" + peer,
		"--initial-cluster-state=new",
		// Data that dies with the test needs no fsync; it saves seconds per test on slow disks.
		"--unsafe-no-fsync",
	}
}

func apiserverArgs(l layout, p ports) []string {
	return []string{
		"--etcd-servers=" + loopbackURL("http", p.EtcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.APIServer),
		"--cert-dir=" + l.apiserverCertDir(),
		"--tls-cert-file=" + l.pki(servingCertFile),
		"--tls-private-key-file=" + l.pki(servingKeyFile),
		"--client-ca-file=" + l.pki(caCertFile),
		"--token-auth-file=" + l.pki(tokenFile),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + l.pki(saPubFile),
		"--service-account-signing-key-file=" + l.pki(saKeyFile),
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--allow-privileged=true",
		// 1.37 refuses a loopback advertise address with any other reconciler.
		"--endpoint-reconciler-type=none",
		// What kubeadm sets for aggregated API servers. Without it the controller
		// manager and scheduler log an error every few seconds about the missing
		// requestheader CA in kube-system/extension-apiserver-authentication.
		// (The cluster CA stands in for a separate front-proxy CA: its key
		// already makes anyone who holds it an admin.)
		"--requestheader-client-ca-file=" + l.pki(caCertFile),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		// A kubelet of package node serves on its bridge address under a
		// hostname nothing resolves: dial its InternalIP, never a DNS name
		// (which would query off the machine). Harmless for kubelets that
		// serve no API.
		"--kubelet-preferred-address-types=InternalIP",
		// Logs, exec and port-forward as a system:masters client the
		// kubelet's webhook authorizer accepts, instead of anonymous.
		"--kubelet-client-certificate=" + l.pki(kubeletClientCertFile),
		"--kubelet-client-key=" + l.pki(kubeletClientKeyFile),
		// Admission plugins: the defaults (ServiceAccount, DefaultStorageClass, ...), unlike envtest.
	}
}

func controllerManagerArgs(l layout, p ports) []string {
	kc := l.kubeconfig()
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.ControllerManager),
		"--tls-cert-file=" + l.pki(servingCertFile),
		"--tls-private-key-file=" + l.pki(servingKeyFile),
		"--leader-elect=false",
		// Every default controller (StatefulSet, Deployment/ReplicaSet, GC, PV binder,
		// PVC protection, disruption, endpoints/EndpointSlices, service-account
		// tokens, namespaces, ...), each with its own service account's credentials.
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + l.pki(saKeyFile),
		"--root-ca-file=" + l.pki(caCertFile),
		"--cluster-name=localkube",
		"--cluster-signing-cert-file=" + l.pki(caCertFile),
		"--cluster-signing-key-file=" + l.pki(caKeyFile),
	}
}

func schedulerArgs(l layout, p ports) []string {
	kc := l.kubeconfig()
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.Scheduler),
		"--tls-cert-file=" + l.pki(servingCertFile),
		"--tls-private-key-file=" + l.pki(servingKeyFile),
		"--leader-elect=false",
	}
}

// handedOut holds every port freePorts has returned in this process, so two
// control planes started at once (parallel tests) never get the same port,
// even when the kernel offers a port again right after the first one released it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePorts returns n distinct free TCP ports on 127.0.0.1, none returned
// before by this process. All listeners are held until every port is chosen;
// between their release and the components binding them another process may
// still take one, and Start then fails naming the component.
func freePorts(n int) ([]int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for len(out) < n {
		if len(ls) > n+100 {
			return nil, errors.New("choose free ports: the kernel keeps offering ports already handed out")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choose a free port: %w", err)
		}
		ls = append(ls, l)
		port := l.Addr().(*net.TCPAddr).Port
		if handedOut.ports[port] {
			continue
		}
		handedOut.ports[port] = true
		out = append(out, port)
	}
	return out, nil
}
