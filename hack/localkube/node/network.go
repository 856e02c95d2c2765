package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// networkConfig is the host side of the pod network.
type networkConfig struct {
	Bridge        string
	NodeIP        net.IP
	PodCIDR       string
	KubeAPIIP     string // the kubernetes Service's cluster IP
	APIServerPort int    // the apiserver's port on 127.0.0.1
}

// prepareNetwork creates the bridge with the node IP (before the kubelet
// starts: it refuses a loopback node IP, and the bridge plugin reuses the
// bridge and its address as the pods' gateway), makes bridged traffic pass
// iptables (kube-proxy's Service rules must see pod-to-pod traffic on one
// bridge), and adds the node's own chains. The caller has checked the bridge
// name and pod CIDR are free (checkCIDRFree). It reports whether it loaded br_netfilter.
func prepareNetwork(ctx context.Context, sysctlRoot string, ipt iptablesRunner, c networkConfig) (loadedBrNetfilter bool, err error) {
	_, podNet, err := net.ParseCIDR(c.PodCIDR)
	if err != nil {
		return false, fmt.Errorf("pod CIDR: %w", err)
	}
	ones, _ := podNet.Mask.Size()
	for _, args := range [][]string{
		{"link", "add", c.Bridge, "type", "bridge"},
		{"addr", "add", c.NodeIP.String() + "/" + strconv.Itoa(ones), "dev", c.Bridge},
		{"link", "set", c.Bridge, "up"},
	} {
		if _, err := runCmd(ctx, "ip", args...); err != nil {
			return false, fmt.Errorf("create bridge: %w", err)
		}
	}
	// Only on the node's own bridge (gone with it): lets the DNAT below send
	// pods' connections to the apiserver, which listens on loopback only.
	if err := writeSysctl(sysctlRoot, "net/ipv4/conf/"+c.Bridge+"/route_localnet", "1"); err != nil {
		return false, err
	}
	if _, err := os.Stat(sysctlRoot + "/net/bridge"); err != nil {
		if _, err := runCmd(ctx, "modprobe", "br_netfilter"); err != nil {
			return false, fmt.Errorf("bridged pod traffic must pass iptables (kube-proxy's Service rules) and br_netfilter is not loaded: %w", err)
		}
		loadedBrNetfilter = true
	}
	if err := writeSysctl(sysctlRoot, "net/bridge/bridge-nf-call-iptables", "1"); err != nil {
		return loadedBrNetfilter, err
	}
	for _, args := range ownChainRules(c) {
		if err := ipt.run("iptables", args...); err != nil {
			return loadedBrNetfilter, fmt.Errorf("add the node's iptables rules: %w", err)
		}
	}
	return loadedBrNetfilter, nil
}

// ownChainRules are the iptables commands that add the node's chains:
// forwardChain keeps pod traffic on the machine (pods have no default route
// either), cutsChain is where `node cut` adds rules, apiChain DNATs pods'
// connections to the kubernetes Service (10.0.0.1:443) to the apiserver on
// 127.0.0.1. The apiserver runs with --endpoint-reconciler-type=none (it
// advertises loopback), so kube-proxy has no endpoint for that Service and
// leaves the packet to this chain.
func ownChainRules(c networkConfig) [][]string {
	return [][]string{
		{"-t", "filter", "-N", cutsChain},
		{"-t", "filter", "-N", forwardChain},
		{"-t", "filter", "-A", forwardChain, "-j", cutsChain},
		{"-t", "filter", "-A", forwardChain, "-i", c.Bridge, "!", "-o", c.Bridge, "-j", "DROP"},
		{"-t", "filter", "-A", forwardChain, "!", "-i", c.Bridge, "-o", c.Bridge, "-j", "DROP"},
		{"-t", "filter", "-I", "FORWARD", "1", "-j", forwardChain},
		{"-t", "nat", "-N", apiChain},
		{"-t", "nat", "-A", apiChain, "-i", c.Bridge, "-d", c.KubeAPIIP + "/32", "-p", "tcp", "--dport", "443",
			"-j", "DNAT", "--to-destination", "127.0.0.1:" + strconv.Itoa(c.APIServerPort)},
		{"-t", "nat", "-I", "PREROUTING", "1", "-j", apiChain},
	}
}

// checkCIDRFree refuses a pod CIDR that overlaps an address of the host, or
// a bridge name already taken.
func checkCIDRFree(cidr, bridge string) error {
	_, podNet, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("pod CIDR: %w", err)
	}
	if _, err := net.InterfaceByName(bridge); err == nil {
		return fmt.Errorf("interface %s already exists (another node? `localkube down`)", bridge)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if ok && (podNet.Contains(ipn.IP) || ipn.Contains(podNet.IP)) {
			return fmt.Errorf("pod CIDR %s overlaps host address %s: choose another", cidr, ipn)
		}
	}
	return nil
}

// deleteBridge removes the bridge's veths (normally gone with their network
// namespaces) and the bridge.
func deleteBridge(ctx context.Context, bridge string) error {
	if _, err := net.InterfaceByName(bridge); err != nil {
		return nil
	}
	var errs []error
	out, err := runCmd(ctx, "ip", "-o", "link", "show", "master", bridge)
	if err != nil {
		errs = append(errs, err)
	}
	for line := range strings.SplitSeq(out, "\n") {
		// "7: veth1234@if2: <...>"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		// A veth also goes away by itself once its pod's network namespace
		// is freed, which the kernel finishes asynchronously.
		if _, err := runCmd(ctx, "ip", "link", "del", name); err != nil && linkExists(name) {
			errs = append(errs, err)
		}
	}
	if _, err := runCmd(ctx, "ip", "link", "del", bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// cmdTimeout bounds one host command.
const cmdTimeout = 60 * time.Second

// runCmd runs a host command and returns its stdout; the error carries its output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// lookPath finds a host command in PATH or the sbin directories a non-login root shell may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// freePorts returns n free TCP ports on ip.
func freePorts(ip net.IP, n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			return nil, fmt.Errorf("choose a free port on %s: %w", ip, err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
