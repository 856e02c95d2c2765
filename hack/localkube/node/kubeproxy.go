package node

import (
	"encoding/json"
	"fmt"
)

// kubeProxyConfig is what the KubeProxyConfiguration depends on.
type kubeProxyConfig struct {
	Kubeconfig               string
	NodeIP, NodeName         string
	PodCIDR                  string
	HealthzPort, MetricsPort int // on 127.0.0.1
}

// renderKubeProxyConfig renders kube-proxy's config: iptables mode, and
// every setting that would change the host beyond its own chains left alone
// (conntrack sizes and timeouts, route_localnet for localhost NodePorts).
func renderKubeProxyConfig(c kubeProxyConfig) ([]byte, error) {
	conf := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"clientConnection":   map[string]string{"kubeconfig": c.Kubeconfig},
		"mode":               "iptables",
		"bindAddress":        c.NodeIP,
		"healthzBindAddress": "127.0.0.1:" + itoa(c.HealthzPort),
		"metricsBindAddress": "127.0.0.1:" + itoa(c.MetricsPort),
		"hostnameOverride":   c.NodeName,
		"clusterCIDR":        c.PodCIDR,
		"detectLocalMode":    "ClusterCIDR",
		// NodePorts only on the node IP, never on the host's own interfaces.
		"nodePortAddresses": []string{c.NodeIP + "/32"},
		// Zero: leave the host's conntrack table size and timeouts as they are.
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": "0s",
			"tcpCloseWaitTimeout":   "0s",
		},
		"iptables": map[string]any{
			// Otherwise it sets net.ipv4.conf.all.route_localnet=1.
			"localhostNodePorts": false,
			// Service changes reach the rules at once: tests create and
			// delete Services and wait for them to answer.
			"minSyncPeriod": "0s",
			"syncPeriod":    "30s",
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode kube-proxy config: %w", err)
	}
	return append(data, '\n'), nil
}

func kubeProxyArgs(l layout) []string {
	return []string{"--config=" + l.kubeProxyConfig(), "--v=1"}
}

func provisionerArgs(l layout, kubeconfig, nodeName string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--base-dir=" + l.volumesDir(),
		"--node-name=" + nodeName,
		"--storage-class=local",
		"--default-class=true",
	}
}
