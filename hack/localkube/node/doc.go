// Package node runs a real Kubernetes node next to a localkube control plane:
// containerd and runc (the host's packages) run the pods, the standard CNI
// plugins (bridge, host-local, loopback, portmap) wire them to a bridge of
// their own, the kubelet and kube-proxy (iptables mode) of the control plane's
// release manage them, CoreDNS runs as the cluster DNS, and a host-path
// provisioner serves PersistentVolumeClaims.
//
// Start returns once the Node is Ready, CoreDNS answers from the host and a
// pod resolves a Service name through it. Stop (or StopDetached from another
// process, reading state.json) undoes everything: processes, containers,
// mounts, network namespaces, the bridge and its veths, iptables chains,
// sysctls, cgroups and the host directories the kubelet insists on.
//
// # Host changes
//
// The node changes the host in ways it records in state.json before making
// them, so an `up` killed halfway can still be undone:
//
//	bridge rk0 (PodCIDR's first address)  the node IP; deleted on Stop
//	sysctls (see hostSysctls)              values before are restored
//	iptables chains KUBE-*, CNI-*, LOCALKUBE-*  removed (with the rules jumping to them)
//	/var/lib/kubelet, /var/lib/cni, /run/containerd  removed if they did not exist
//	cgroups kubepods (each v1 hierarchy)   removed if they did not exist
//	/run/localkube-node.lock               one node per machine
//
// Pods have no default route and FORWARD drops traffic between the bridge
// and any other interface, so nothing a pod sends leaves the machine.
//
// The package is Linux-only and needs root.
package node
