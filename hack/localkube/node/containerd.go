package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// containerdNamespace is the namespace the CRI plugin keeps pods and images in.
const containerdNamespace = "k8s.io"

// containerdConfig is what containerd's config depends on.
type containerdConfig struct {
	Root, State, Socket, RuncRoot, Runc string
	CNIBinDir, CNIConfDir               string
	PauseImage                          string
	Snapshotter                         string // overlayfs; native where overlay cannot mount
	// RegistryHostsDir holds a hosts.toml per registry (containerd's
	// config_path), read at every pull: see TrustPlainHTTPRegistry.
	RegistryHostsDir string
}

// containerdDisabledPlugins are plugins a node does not use: snapshotters
// that only log errors on this host, and tracing. (Not the v1 runtime: 1.6's
// tasks service fails to load without it.)
var containerdDisabledPlugins = []string{
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

// renderContainerdConfig renders a version 2 config (containerd 1.6) whose
// every path is the node's own, so it runs beside any system containerd.
func renderContainerdConfig(c containerdConfig) string {
	quoted := make([]string, len(containerdDisabledPlugins))
	for i, p := range containerdDisabledPlugins {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %q
    # runc cannot set a container's oom_score_adj below containerd's here
    # (root lacks CAP_SYS_RESOURCE): every pod failed with "can't get final
    # child's PID from pipe: EOF" until the CRI plugin clamped it.
    restrict_oom_score_adj = true
    # Network namespaces under the state directory, not /var/run/netns.
    netns_mounts_under_state_dir = true
    disable_apparmor = true
    # The kubelet proxies exec/attach/port-forward to this server.
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = %q
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = %q
          Root = %q
          # cgroup v1 and no systemd: cgroupfs, as the kubelet's cgroupDriver.
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %q
      conf_dir = %q
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = %q
`, c.Root, c.State, strings.Join(quoted, ", "), c.Socket, filepath.Join(filepath.Dir(c.Root), "opt"),
		c.PauseImage, c.Snapshotter, c.Runc, c.RuncRoot, c.CNIBinDir, c.CNIConfDir, c.RegistryHostsDir)
}

// TrustPlainHTTPRegistry lets the node's containerd pull from a registry
// that speaks plain HTTP on a loopback address (`make push` to a test
// registry), as a cluster's nodes are configured for a private registry.
// containerd reads the hosts directory at every pull, so this works on a
// running node. hostPort must be a loopback IP with a port: nothing else is
// reachable from this machine's node, and plain HTTP is not for others.
func TrustPlainHTTPRegistry(stateDir, hostPort string) error {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return fmt.Errorf("registry %q: want HOST:PORT: %w", hostPort, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || port == "" {
		return fmt.Errorf("registry %q: only a loopback IP:PORT may be trusted over plain HTTP", hostPort)
	}
	if _, err := ReadState(stateDir); err != nil {
		return err
	}
	dir := filepath.Join(layout{dir: stateDir}.registryHostsDir(), hostPort)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("trust registry %s: %w", hostPort, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(renderRegistryHosts(hostPort)), 0o600); err != nil {
		return fmt.Errorf("trust registry %s: %w", hostPort, err)
	}
	return nil
}

// renderRegistryHosts is the hosts.toml of a plain-HTTP registry.
func renderRegistryHosts(hostPort string) string {
	return fmt.Sprintf(`# localkube node: pull %[1]s over plain HTTP (a loopback test registry)
server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, hostPort)
}

func containerdArgs(l layout) []string {
	return []string{"--config", l.containerdConfig(), "--log-level", "warn"}
}

// ctr runs ctr against the node's containerd in the CRI namespace.
func ctr(ctx context.Context, ctrBin, socket string, args ...string) (string, error) {
	return runCmd(ctx, ctrBin, append([]string{"--address", socket, "--namespace", containerdNamespace}, args...)...)
}

// waitContainerd polls until containerd answers on its socket.
func waitContainerd(parent context.Context, p *controlplane.Process, ctrBin, socket string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	last := errors.New("no answer yet")
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("%w before answering on %s", p.Err(), socket)
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := ctr(callCtx, ctrBin, socket, "version")
			callCancel()
			if err == nil {
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("containerd not answering on %s within %s (last: %w)", socket, timeout, last)
		case <-p.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// importImages imports image tarballs into the CRI namespace (unpacked for
// the CRI plugin's snapshotter) and returns every image reference then present.
func importImages(ctx context.Context, ctrBin, socket, snapshotter string, tarballs []string) ([]string, error) {
	for _, t := range tarballs {
		if _, err := ctr(ctx, ctrBin, socket, "images", "import", "--snapshotter", snapshotter, t); err != nil {
			return nil, fmt.Errorf("import image %s: %w", t, err)
		}
	}
	out, err := ctr(ctx, ctrBin, socket, "images", "list", "--quiet")
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return strings.Fields(out), nil
}

// findImage checks the pause image is among refs and returns the one
// reference with the given prefix.
func findImage(refs []string, pause, prefix string) (string, error) {
	if !slices.Contains(refs, pause) {
		return "", fmt.Errorf("sandbox image %s not among the imported images %v", pause, refs)
	}
	var found []string
	for _, r := range refs {
		if strings.HasPrefix(r, prefix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("want exactly one image %s* among the imported images, have %v", prefix, refs)
	}
	return found[0], nil
}

// overlayWorks reports whether an overlay filesystem mounts in dir (not on
// every filesystem, e.g. not on another overlay without index support).
func overlayWorks(dir string) bool {
	tmp, err := os.MkdirTemp(dir, "overlay-check-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return false
		}
	}
	merged := filepath.Join(tmp, "merged")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", filepath.Join(tmp, "lower"), filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"))
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return false
	}
	return syscall.Unmount(merged, 0) == nil
}
