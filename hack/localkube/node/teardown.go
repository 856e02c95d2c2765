package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// teardown stops the node recorded in st and undoes its host changes, in
// an order where each step's leftovers are gone before the next needs them:
//
//  1. the provisioner, kube-proxy and the kubelet (so nothing restarts a pod);
//  2. every process in the kubepods cgroups, thawed first (a paused
//     container would ignore SIGKILL until thawed), SIGKILLed;
//  3. containerd, then its shims (which outlive it by design);
//  4. every mount under the state directory (rootfs overlays, shm, secret
//     tmpfs, network namespace files), deepest first;
//  5. the kubepods cgroups, the bridge and its veths, the iptables chains,
//     the sysctls, the host directories that did not exist before;
//  6. the state directory (unless keepState) and the lock.
//
// Every step runs even when one fails; the errors are joined, and the state
// directory and lock are then kept so a second `down` can finish the job.
func teardown(ctx context.Context, st State, hp hostPaths, stopProc func(name string), keepState bool, logf func(string, ...any)) error {
	var errs []error
	stopProc(Provisioner)
	stopProc(KubeProxy)
	stopProc(Kubelet)
	if err := killPodProcesses(ctx, hp.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	stopProc(Containerd)
	if st.ContainerdSocket != "" {
		if err := killShims(ctx, st.ContainerdSocket); err != nil {
			errs = append(errs, err)
		}
	}
	if st.StateDir != "" {
		if err := unmountUnder(st.StateDir); err != nil {
			errs = append(errs, err)
		}
	}
	for dir, existed := range st.Host.Cgroups {
		if !existed {
			if err := removeCgroupTree(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.Bridge != "" {
		if err := deleteBridge(ctx, st.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if hp.Iptables != nil {
		removed, err := sweepChains(hp.Iptables, st.Host.Chains)
		if err != nil {
			errs = append(errs, err)
		}
		if len(removed) > 0 {
			logf("node: removed %d iptables chains", len(removed))
		}
	}
	if st.Host.LoadedBrNetfilter {
		if _, err := runCmd(ctx, "modprobe", "-r", "br_netfilter"); err != nil {
			errs = append(errs, err)
		}
	}
	restored, err := restoreSysctls(hp.SysctlRoot, st.Host.Sysctls)
	if err != nil {
		errs = append(errs, err)
	}
	if len(restored) > 0 {
		logf("node: restored sysctls %v", restored)
	}
	if err := removeCreatedDirs(st.Host.Dirs); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if st.StateDir != "" && !keepState {
		if err := os.RemoveAll(st.StateDir); err != nil {
			return fmt.Errorf("remove node state dir: %w", err)
		}
	}
	if st.LockFile != "" {
		return releaseLock(st.LockFile)
	}
	return nil
}

// killPodProcesses SIGKILLs every process in the kubepods cgroups until none
// is left, thawing frozen cgroups first.
func killPodProcesses(ctx context.Context, cgroupRoot string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var pids []string
		for _, dir := range kubepodsDirs(cgroupRoot) {
			if filepath.Base(filepath.Dir(dir)) == "freezer" {
				thawTree(dir)
			}
			pids = append(pids, cgroupProcs(dir)...)
		}
		slices.Sort(pids)
		pids = slices.Compact(pids)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("pod processes %v survive SIGKILL", pids)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// thawTree thaws every frozen cgroup under a freezer cgroup.
func thawTree(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		state := filepath.Join(path, "freezer.state")
		if data, err := os.ReadFile(state); err == nil && strings.TrimSpace(string(data)) != "THAWED" {
			_ = os.WriteFile(state, []byte("THAWED"), 0o644)
		}
		return nil
	})
}

// shimSocketDir is where containerd 1.6's shims put their sockets whatever
// containerd's --state says (compiled in: /run/containerd/s).
const shimSocketDir = "/run/containerd/s"

// shim is one containerd shim process.
type shim struct {
	pid           int
	namespace, id string
}

// socket is the shim's socket, named as containerd 1.6's
// shim.SocketAddress names it: sha256 of ADDRESS/NAMESPACE/ID.
func (s shim) socket(containerdSocket string) string {
	sum := sha256.Sum256([]byte(filepath.Join(containerdSocket, s.namespace, s.id)))
	return filepath.Join(shimSocketDir, hex.EncodeToString(sum[:]))
}

// killShims SIGKILLs the containerd shims serving the containerd at socket
// (found by their -address argument), waits for them to be gone, and removes
// their sockets (a SIGKILLed shim leaves its socket behind).
func killShims(ctx context.Context, socket string) error {
	deadline := time.Now().Add(10 * time.Second)
	var seen []shim
	for {
		shims := findShims(socket)
		for _, s := range shims {
			if !slices.Contains(seen, s) {
				seen = append(seen, s)
			}
		}
		if len(shims) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("containerd shims %v survive SIGKILL", shims)
		}
		for _, s := range shims {
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var errs []error
	for _, s := range seen {
		if err := os.Remove(s.socket(socket)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove shim socket: %w", err))
		}
	}
	return errors.Join(errs...)
}

// shimPIDs lists the live shim processes whose -address is socket.
func shimPIDs(socket string) []int {
	var pids []int
	for _, s := range findShims(socket) {
		pids = append(pids, s.pid)
	}
	return pids
}

// findShims lists the live shim processes whose -address is socket.
func findShims(socket string) []shim {
	entries, _ := os.ReadDir("/proc")
	var shims []shim
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(data) == 0 {
			continue // gone, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		s := shim{pid: pid}
		ours := false
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "-address":
				ours = args[i+1] == socket
			case "-namespace":
				s.namespace = args[i+1]
			case "-id":
				s.id = args[i+1]
			}
		}
		if ours {
			shims = append(shims, s)
		}
	}
	return shims
}

// mountsUnder lists the mount points at or under dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything at or under dir, last mounted first,
// detaching what is busy.
func unmountUnder(dir string) error {
	for range 5 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for i := len(mps) - 1; i >= 0; i-- {
			if err := syscall.Unmount(mps[i], 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
			}
		}
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mps) > 0 {
		return fmt.Errorf("still mounted under %s: %v", dir, mps)
	}
	return nil
}
