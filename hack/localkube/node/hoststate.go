package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// hostSysctls are the sysctls (paths under /proc/sys) the node's components
// may change: the kubelet's kernel tunables (it sets them whatever
// protectKernelDefaults says when they differ), the bridge plugin's IP
// forwarding (isGateway), and what kube-proxy and the node itself touch for
// Service traffic. Start records their values; Stop writes back any that changed.
var hostSysctls = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/forwarding",
	"net/ipv4/conf/default/forwarding",
	"net/ipv6/conf/all/forwarding",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
	"net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/netfilter/nf_conntrack_tcp_be_liberal",
}

// hostDirs are directories outside the state directory that the node's
// components create and cannot be told to put elsewhere: the kubelet's
// device-plugin directory (/var/lib/kubelet/device-plugins is compiled in),
// libcni's result cache (/var/lib/cni, which containerd 1.6 does not move),
// the shims' sockets (/run/containerd/s) and the fifo and runc-root
// directories the shims' cleanup creates with containerd's defaults, and the
// kubelet's /var/log/pods and /var/log/containers.
var hostDirs = []string{
	"/var/lib/kubelet",
	"/var/lib/cni",
	"/run/containerd",
	"/run/containerd/s",
	"/run/containerd/fifo",
	"/run/containerd/runc",
	"/var/log/pods",
	"/var/log/containers",
}

// kubepodsCgroup is the cgroup (in every hierarchy) the kubelet puts pods in.
const kubepodsCgroup = "kubepods"

// hostPaths are where the host's state lives; tests point them at fakes.
type hostPaths struct {
	SysctlRoot string   // /proc/sys
	CgroupRoot string   // /sys/fs/cgroup
	Dirs       []string // hostDirs
	// Iptables lists and removes chains; nil in tests that have no firewall.
	Iptables iptablesRunner
}

func defaultHostPaths() hostPaths {
	return hostPaths{SysctlRoot: "/proc/sys", CgroupRoot: "/sys/fs/cgroup", Dirs: hostDirs, Iptables: execIptables{}}
}

// HostSnapshot is the host's state before the node changed it.
type HostSnapshot struct {
	// Sysctls maps each of hostSysctls to its value, or null where it did not exist.
	Sysctls map[string]*string `json:"sysctls"`
	// Dirs maps each of hostDirs to whether it existed.
	Dirs map[string]bool `json:"dirs"`
	// Cgroups maps each cgroup hierarchy's kubepods directory to whether it existed.
	Cgroups map[string]bool `json:"cgroups"`
	// Chains maps "iptables TABLE" and "ip6tables TABLE" to the chains that existed.
	Chains map[string][]string `json:"chains"`
	// LoadedBrNetfilter says the node loaded br_netfilter (and unloads it).
	LoadedBrNetfilter bool `json:"loadedBrNetfilter,omitempty"`
}

// snapshotHost records hp's state. It refuses a host where kubepods cgroups
// hold processes: another kubelet's pods, which Stop would kill.
func snapshotHost(hp hostPaths) (HostSnapshot, error) {
	s := HostSnapshot{Sysctls: map[string]*string{}, Dirs: map[string]bool{}, Cgroups: map[string]bool{}, Chains: map[string][]string{}}
	for _, key := range hostSysctls {
		v, err := readSysctl(hp.SysctlRoot, key)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.Sysctls[key] = nil
		case err != nil:
			return s, err
		default:
			s.Sysctls[key] = &v
		}
	}
	for _, d := range hp.Dirs {
		_, err := os.Lstat(d)
		s.Dirs[d] = err == nil
	}
	for _, dir := range kubepodsDirs(hp.CgroupRoot) {
		_, err := os.Stat(dir)
		s.Cgroups[dir] = err == nil
		if err == nil {
			if pids := cgroupProcs(dir); len(pids) > 0 {
				return s, fmt.Errorf("cgroup %s holds processes %v: another kubelet's pods run on this machine", dir, pids)
			}
		}
	}
	if hp.Iptables != nil {
		for _, bin := range iptablesBins {
			for _, table := range iptablesTables {
				chains, err := hp.Iptables.chains(bin, table)
				if err != nil {
					return s, err
				}
				s.Chains[bin+" "+table] = chains
			}
		}
	}
	return s, nil
}

func readSysctl(root, key string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, key))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(data)), nil
}

func writeSysctl(root, key, value string) error {
	if err := os.WriteFile(filepath.Join(root, key), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// restoreSysctls writes back every recorded value that changed, and reports
// what it restored.
func restoreSysctls(root string, before map[string]*string) ([]string, error) {
	var restored []string
	var errs []error
	keys := make([]string, 0, len(before))
	for k := range before {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		want := before[key]
		if want == nil {
			continue
		}
		got, err := readSysctl(root, key)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // its module was unloaded: nothing left to restore
				continue
			}
			errs = append(errs, err)
			continue
		}
		if got == *want {
			continue
		}
		if err := writeSysctl(root, key, *want); err != nil {
			errs = append(errs, err)
			continue
		}
		restored = append(restored, fmt.Sprintf("%s %s->%s", key, got, *want))
	}
	return restored, errors.Join(errs...)
}

// removeCreatedDirs removes each recorded directory that did not exist before.
func removeCreatedDirs(existed map[string]bool) error {
	var errs []error
	for dir, was := range existed {
		if was {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// kubepodsDirs lists the kubepods cgroup of every hierarchy mounted under root.
func kubepodsDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		// Hierarchies are directories (mount points); cpu,cpuacct-style
		// symlinks name one of them again.
		if e.IsDir() {
			out = append(out, filepath.Join(root, e.Name(), kubepodsCgroup))
		}
	}
	return out
}

// cgroupProcs lists the processes in a cgroup and all its descendants.
func cgroupProcs(dir string) []string {
	var pids []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		pids = append(pids, strings.Fields(string(data))...)
		return nil
	})
	return pids
}

// removeCgroupTree removes a cgroup and its descendants, deepest first (a
// cgroup directory is removed with rmdir, never by deleting its files).
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk cgroup %s: %w", dir, err)
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}
