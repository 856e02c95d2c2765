// Package kubelet wires the local-process provider into virtual-kubelet: it
// registers the Node (capacity, addresses, lease), runs the pod controller,
// and serves the kubelet API (kubectl logs) over TLS with a self-signed cert.
package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"

	"github.com/raftkube/raftkube/hack/localkubelet/provider"
	"github.com/raftkube/raftkube/hack/localkubelet/provisioner"
)

// Version is reported as the node's kubelet version; it matches the control
// plane the project builds.
const Version = "v1.37.2"

// Config configures a local kubelet.
type Config struct {
	// NodeName is the Node object's name.
	NodeName string
	// RESTConfig reaches the API server; its host is also given to pods as
	// KUBERNETES_SERVICE_HOST/PORT.
	RESTConfig *rest.Config
	// Client, when set, is used instead of one built from RESTConfig (tests
	// use a fake clientset).
	Client kubernetes.Interface
	// ListenAddr is where the kubelet API listens (host:port; host 127.0.0.1).
	ListenAddr string
	// StateDir holds pod directories and logs.
	StateDir string
	// PodCIDR is the loopback range pod addresses come from.
	PodCIDR string
	// Images maps images to local binaries.
	Images provider.ImageTable
	// CPU, Memory and Pods are the node's capacity.
	CPU, Memory, Pods string
	// BackoffBase and BackoffMax bound crash-restart backoff.
	BackoffBase, BackoffMax time.Duration
	// Runner starts container processes; nil means provider.ExecRunner.
	Runner provider.Runner
	// HostsFiles gives every pod its own /etc/hosts naming pods and
	// Services, and mounts its volumes (see provider.Config.HostsFiles).
	HostsFiles bool
	// Provisioner installs the default StorageClass "local" and provisions
	// directory-backed PersistentVolumes for its claims.
	Provisioner bool
	// SourceAddresses makes each pod's connections leave from its pod IP
	// (provider.SourceNAT; needs root and iptables).
	SourceAddresses bool
}

// Kubelet is a running local kubelet.
type Kubelet struct {
	node       *nodeutil.Node
	client     kubernetes.Interface
	hostsFiles bool
	// provisioner is set when the kubelet provisions claims.
	provisioner *provisioner.Provisioner
	// network is set when pods send from their own addresses.
	network *provider.SourceNAT
	// Provider is the pod provider, for tests and tools.
	Provider *provider.Provider
}

// New builds the kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	host, portStr, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("listen port: %w", err)
	}
	capacity, err := parseCapacity(cfg.CPU, cfg.Memory, cfg.Pods)
	if err != nil {
		return nil, err
	}
	ipam, err := provider.NewLoopbackIPAM(cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	client := cfg.Client
	var apiserver string
	if cfg.RESTConfig != nil {
		apiserver = cfg.RESTConfig.Host
		if client == nil {
			if client, err = kubernetes.NewForConfig(cfg.RESTConfig); err != nil {
				return nil, fmt.Errorf("kubernetes client: %w", err)
			}
		}
	}
	if client == nil {
		return nil, fmt.Errorf("kubelet config: neither RESTConfig nor Client")
	}
	baseEnv, err := baseEnv(apiserver)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := selfSignedTLS(cfg.NodeName, host)
	if err != nil {
		return nil, err
	}

	k := &Kubelet{client: client, hostsFiles: cfg.HostsFiles}
	var network provider.PodNetwork
	if cfg.SourceAddresses {
		stateDir, err := filepath.Abs(cfg.StateDir)
		if err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		if k.network, err = provider.NewSourceNAT(stateDir); err != nil {
			return nil, err
		}
		network = k.network
	}
	if cfg.Provisioner {
		if k.provisioner, err = newProvisioner(client, cfg.StateDir); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		p, err := provider.New(provider.Config{
			NodeName:    cfg.NodeName,
			HostIP:      host,
			StateDir:    cfg.StateDir,
			Images:      cfg.Images,
			IPAM:        ipam,
			Runner:      cfg.Runner,
			Objects:     listerObjects{pc.ConfigMaps, pc.Secrets},
			BaseEnv:     baseEnv,
			BackoffBase: cfg.BackoffBase,
			BackoffMax:  cfg.BackoffMax,
			HostsFiles:  cfg.HostsFiles,
			Tokens:      tokenRequests{client},
			Network:     network,
			RemovePod:   removePod(client),
		})
		if err != nil {
			return nil, nil, err
		}
		k.Provider = p
		describeNode(pc.Node, host, int32(port), capacity)
		return p, nil, nil
	}
	n, err := nodeutil.NewNode(cfg.NodeName, newProvider,
		nodeutil.WithClient(client),
		func(nc *nodeutil.NodeConfig) error {
			nc.HTTPListenAddr = cfg.ListenAddr
			nc.TLSConfig = tlsConfig
			nc.Handler = mux
			nc.NumWorkers = 2
			// The provider resolves env itself: status.podIP is only known
			// once it has allocated the address.
			nc.SkipDownwardAPIResolution = true
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return nil, fmt.Errorf("create node: %w", err)
	}
	k.node = n
	return k, nil
}

// Run runs the kubelet until ctx ends or it fails.
func (k *Kubelet) Run(ctx context.Context) error {
	defer func() {
		if k.Provider != nil {
			k.Provider.Shutdown()
		}
	}()
	if k.network != nil {
		if err := k.network.Setup(ctx); err != nil {
			return err
		}
		defer func() {
			// ctx is done by now; teardown gets time of its own.
			tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := k.network.Teardown(tctx); err != nil {
				log.L.WithError(err).Warn("remove pod source addresses")
			}
		}()
	}
	if k.hostsFiles {
		watchServices(ctx, k.client, k.Provider)
	}
	if k.provisioner == nil {
		return k.node.Run(ctx)
	}
	// The provisioner runs beside the node. If it cannot start (no
	// StorageClass), the kubelet stops with its error; Run returns only once
	// both have stopped, so no informer outlives it.
	ctx, cancel := context.WithCancelCause(ctx)
	provisioned := make(chan error, 1)
	go func() {
		err := k.provisioner.Run(ctx)
		if err != nil {
			cancel(err)
		}
		provisioned <- err
	}()
	err := k.node.Run(ctx)
	cancel(nil)
	if perr := <-provisioned; perr != nil {
		return perr
	}
	return err
}

// WaitReady waits until the Node is registered and the controllers run.
func (k *Kubelet) WaitReady(ctx context.Context, timeout time.Duration) error {
	return k.node.WaitReady(ctx, timeout)
}

// describeNode fills in what the scheduler and the API server read.
func describeNode(n *corev1.Node, hostIP string, port int32, capacity corev1.ResourceList) {
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity.DeepCopy()
	// Only an InternalIP: the API server tries a Hostname address first for
	// kubectl logs, and the node name does not resolve.
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIP}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:  Version,
		OperatingSystem: "linux",
		Architecture:    "amd64",
		OSImage:         "local processes",
	}
	n.Labels["kubernetes.io/os"] = "linux"
	n.Labels["kubernetes.io/arch"] = "amd64"
	n.Labels["node.kubernetes.io/instance-type"] = "local"
	reasons := map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure:     "KubeletHasSufficientMemory",
		corev1.NodeDiskPressure:       "KubeletHasNoDiskPressure",
		corev1.NodePIDPressure:        "KubeletHasSufficientPID",
		corev1.NodeNetworkUnavailable: "RouteCreated",
	}
	for i, c := range n.Status.Conditions {
		if r, ok := reasons[c.Type]; ok {
			n.Status.Conditions[i].Status = corev1.ConditionFalse
			n.Status.Conditions[i].Reason = r
		}
	}
}

func parseCapacity(cpu, memory, pods string) (corev1.ResourceList, error) {
	list := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory, corev1.ResourcePods: pods} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("capacity %s=%q: %w", name, v, err)
		}
		list[name] = q
	}
	return list, nil
}

// baseEnv is what every container gets before its own env: a PATH, and the
// service env vars in-cluster clients use to find the API server.
func baseEnv(apiserver string) ([]string, error) {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if apiserver == "" {
		return env, nil
	}
	u, err := url.Parse(apiserver)
	if err != nil {
		return nil, fmt.Errorf("API server URL %q: %w", apiserver, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	return append(env,
		"KUBERNETES_SERVICE_HOST="+host,
		"KUBERNETES_SERVICE_PORT="+port,
		"KUBERNETES_SERVICE_PORT_HTTPS="+port,
	), nil
}

// listerObjects adapts informer listers to provider.ObjectSource.
type listerObjects struct {
	configMaps corev1listers.ConfigMapLister
	secrets    corev1listers.SecretLister
}

func (l listerObjects) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	return l.configMaps.ConfigMaps(ns).Get(name)
}

func (l listerObjects) Secret(ns, name string) (*corev1.Secret, error) {
	return l.secrets.Secrets(ns).Get(name)
}

// removePod deletes a pod object whose processes are gone, with grace 0 and
// only if it is still the same pod, as the real kubelet's status manager does
// once a deleted pod has terminated.
func removePod(client kubernetes.Interface) func(ctx context.Context, ns, name string, uid types.UID) error {
	return func(ctx context.Context, ns, name string, uid types.UID) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64),
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone already, or a new pod of that name
		}
		return err
	}
}
