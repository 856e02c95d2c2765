package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// kubeletConfig is what the KubeletConfiguration depends on.
type kubeletConfig struct {
	NodeIP           string
	Port             int // the kubelet API on NodeIP
	HealthzPort      int // /healthz on 127.0.0.1
	CACertFile       string
	TLSCertFile      string
	TLSKeyFile       string
	ContainerdSocket string
	ResolvConf       string
	PodLogsDir       string
	ClusterDNS       string
	PodCIDR          string
}

// renderKubeletConfig renders the KubeletConfiguration (JSON, which the
// kubelet reads as YAML) of a test node.
func renderKubeletConfig(c kubeletConfig) ([]byte, error) {
	conf := map[string]any{
		"apiVersion":         "kubelet.config.k8s.io/v1beta1",
		"kind":               "KubeletConfiguration",
		"address":            c.NodeIP,
		"port":               c.Port,
		"healthzBindAddress": "127.0.0.1",
		"healthzPort":        c.HealthzPort,
		"readOnlyPort":       0,
		"tlsCertFile":        c.TLSCertFile,
		"tlsPrivateKeyFile":  c.TLSKeyFile,
		"rotateCertificates": false,
		"serverTLSBootstrap": false,
		// Clients (the apiserver) by certificate or token, checked by the apiserver.
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]string{"clientCAFile": c.CACertFile},
		},
		"authorization": map[string]string{"mode": "Webhook"},
		// cgroup v1 without systemd: the kubelet refuses v1 unless told, and
		// must drive cgroups itself as containerd does (SystemdCgroup = false).
		"failCgroupV1":  false,
		"cgroupDriver":  "cgroupfs",
		"cgroupsPerQOS": true,
		// The node's containerd, found at its own socket.
		"containerRuntimeEndpoint": "unix://" + c.ContainerdSocket,
		"failSwapOn":               false,
		// The host's nameserver is off the machine: pods get only the cluster DNS.
		"resolvConf":    c.ResolvConf,
		"podLogsDir":    c.PodLogsDir,
		"clusterDNS":    []string{c.ClusterDNS},
		"clusterDomain": ClusterDomain,
		"podCIDR":       c.PodCIDR,
		// Tests import images and may fill the disk: never collect or evict for it.
		"serializeImagePulls":         false,
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard": map[string]string{
			"memory.available":  "1Mi",
			"nodefs.available":  "1%",
			"nodefs.inodesFree": "1%",
			"imagefs.available": "1%",
		},
		// Status changes reach the apiserver quickly, for tests that wait on them.
		"nodeStatusUpdateFrequency": "4s",
		"syncFrequency":             "10s",
		"registerNode":              true,
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode kubelet config: %w", err)
	}
	return append(data, '\n'), nil
}

func kubeletArgs(l layout, nodeName, nodeIP string) []string {
	return []string{
		"--config=" + l.kubeletConfig(),
		"--kubeconfig=" + l.kubeletKubeconfig(),
		"--root-dir=" + l.kubeletRoot(),
		"--cert-dir=" + l.kubeletCertDir(),
		"--hostname-override=" + nodeName,
		"--node-ip=" + nodeIP,
		"--v=1",
	}
}

// kubeletCerts issues the kubelet's client certificate (system:node:NAME in
// system:nodes: what the Node authorizer and NodeRestriction admission
// expect) and its serving certificate for the node IP.
func kubeletCerts(cp ControlPlane, nodeName string, nodeIP net.IP, now time.Time) (client, clientKey, serving, servingKey []byte, err error) {
	client, clientKey, err = controlplane.IssueCert(cp.CACert, cp.CAKey, controlplane.CertRequest{
		CommonName:   "system:node:" + nodeName,
		Organization: []string{"system:nodes"},
		Client:       true,
	}, now, certValidity)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	serving, servingKey, err = controlplane.IssueCert(cp.CACert, cp.CAKey, controlplane.CertRequest{
		CommonName: nodeName,
		DNSNames:   []string{nodeName},
		IPs:        []net.IP{nodeIP, net.IPv4(127, 0, 0, 1)},
		Server:     true,
	}, now, certValidity)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return client, clientKey, serving, servingKey, nil
}

// waitNodeReady polls the Node until its Ready condition is True, failing
// early if one of procs exits.
func waitNodeReady(parent context.Context, api *apiClient, nodeName string, procs []*controlplane.Process, timeout time.Duration) error {
	var node struct {
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
			} `json:"conditions"`
		} `json:"status"`
	}
	last := "not registered"
	return poll(parent, timeout, 100*time.Millisecond, procs, func(ctx context.Context) (bool, error) {
		if err := api.get(ctx, "/api/v1/nodes/"+nodeName, &node); err != nil {
			last = err.Error()
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == "Ready" {
				if c.Status == "True" {
					return true, nil
				}
				last = "Ready=" + c.Status + ": " + c.Reason + ": " + c.Message
			}
		}
		return false, nil
	}, func() string { return "Node " + nodeName + " Ready (last: " + last + ")" })
}

// itoa is strconv.Itoa, short for the argument lists.
func itoa(i int) string { return strconv.Itoa(i) }
