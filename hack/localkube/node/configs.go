package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// Node PKI file names under the state directory's pki/.
const (
	caCertFile             = "ca.crt"
	kubeletServingCertFile = "kubelet-serving.crt"
	kubeletServingKeyFile  = "kubelet-serving.key"
)

// resolvConfContent is the kubelet's resolvConf: no upstream nameserver (the
// host's is off the machine), so pods resolve only cluster names.
const resolvConfContent = "# localkube node: pods resolve cluster names only (no upstream)\n"

// writeConfigs writes the certificates and every component's configuration.
func (n *Node) writeConfigs(nodeIP net.IP, snapshotter string, kc kubeletConfig, kpc kubeProxyConfig) error {
	o, l := n.opts, n.layout
	for _, d := range []string{l.containerdDir(), l.registryHostsDir(), l.cniConfDir(), l.cniDataDir(), l.kubeletDir(), l.kubeletRoot(), l.kubeletCertDir(), l.podLogsDir(), l.volumesDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	client, clientKey, serving, servingKey, err := kubeletCerts(o.ControlPlane, o.NodeName, nodeIP, time.Now())
	if err != nil {
		return err
	}
	conflist, err := renderConflist(cniConfig{
		Bridge: o.Bridge, PodCIDR: o.PodCIDR, Gateway: nodeIP.String(), ServiceCIDR: o.ServiceCIDR, DataDir: l.cniDataDir(),
	})
	if err != nil {
		return err
	}
	kubeletConf, err := renderKubeletConfig(kc)
	if err != nil {
		return err
	}
	proxyConf, err := renderKubeProxyConfig(kpc)
	if err != nil {
		return err
	}
	containerdConf := renderContainerdConfig(containerdConfig{
		Root: l.containerdRoot(), State: l.containerdState(), Socket: l.containerdSock(),
		RuncRoot: l.runcRoot(), Runc: o.Runc, CNIBinDir: o.CNIBinDir, CNIConfDir: l.cniConfDir(),
		PauseImage: o.PauseImage, Snapshotter: snapshotter, RegistryHostsDir: l.registryHostsDir(),
	})
	for path, data := range map[string][]byte{
		l.pki(caCertFile):             o.ControlPlane.CACert,
		l.pki(kubeletServingCertFile): serving,
		l.pki(kubeletServingKeyFile):  servingKey,
		l.kubeletKubeconfig():         controlplane.ClientCertKubeconfig(o.ControlPlane.APIServerURL, o.ControlPlane.CACert, client, clientKey, "system:node:"+o.NodeName),
		l.kubeletConfig():             kubeletConf,
		l.kubeletResolvConf():         []byte(resolvConfContent),
		l.kubeProxyConfig():           proxyConf,
		l.containerdConfig():          []byte(containerdConf),
		l.cniConflist():               conflist,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}
