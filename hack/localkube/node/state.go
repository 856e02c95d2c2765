package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// stateFileName is the state directory's record of the node, for StopDetached and the fault commands.
const stateFileName = "state.json"

// State is the content of state.json. It is rewritten after each step, so a
// `localkube down` can undo an `up` killed halfway through.
type State struct {
	StateDir         string                       `json:"stateDir"`
	NodeName         string                       `json:"nodeName"`
	NodeIP           string                       `json:"nodeIP"`
	Bridge           string                       `json:"bridge"`
	PodCIDR          string                       `json:"podCIDR"`
	ServiceCIDR      string                       `json:"serviceCIDR"`
	DNSServiceIP     string                       `json:"dnsServiceIP"`
	APIServerURL     string                       `json:"apiserverURL"`
	AdminKubeconfig  string                       `json:"adminKubeconfig"`
	AdminToken       string                       `json:"adminToken"` // for the fault commands; the file is 0600
	CACertFile       string                       `json:"caCertFile"`
	ContainerdSocket string                       `json:"containerdSocket"`
	Ctr              string                       `json:"ctr"`
	LockFile         string                       `json:"lockFile"`
	Processes        []controlplane.ProcessRecord `json:"processes"` // in start order
	Host             HostSnapshot                 `json:"host"`
}

// layout names the files of a node's state directory.
type layout struct{ dir string }

func (l layout) stateFile() string         { return filepath.Join(l.dir, stateFileName) }
func (l layout) pkiDir() string            { return filepath.Join(l.dir, "pki") }
func (l layout) pki(name string) string    { return filepath.Join(l.pkiDir(), name) }
func (l layout) logDir() string            { return filepath.Join(l.dir, "logs") }
func (l layout) log(name string) string    { return filepath.Join(l.logDir(), name+".log") }
func (l layout) containerdDir() string     { return filepath.Join(l.dir, "containerd") }
func (l layout) registryHostsDir() string  { return filepath.Join(l.containerdDir(), "certs.d") }
func (l layout) containerdConfig() string  { return filepath.Join(l.containerdDir(), "config.toml") }
func (l layout) containerdRoot() string    { return filepath.Join(l.containerdDir(), "root") }
func (l layout) containerdState() string   { return filepath.Join(l.containerdDir(), "state") }
func (l layout) containerdSock() string    { return filepath.Join(l.containerdDir(), "containerd.sock") }
func (l layout) runcRoot() string          { return filepath.Join(l.containerdDir(), "runc") }
func (l layout) cniConfDir() string        { return filepath.Join(l.dir, "cni", "net.d") }
func (l layout) cniDataDir() string        { return filepath.Join(l.dir, "cni", "networks") }
func (l layout) kubeletDir() string        { return filepath.Join(l.dir, "kubelet") }
func (l layout) kubeletConfig() string     { return filepath.Join(l.kubeletDir(), "config.json") }
func (l layout) kubeletKubeconfig() string { return filepath.Join(l.kubeletDir(), "kubeconfig") }
func (l layout) kubeletRoot() string       { return filepath.Join(l.kubeletDir(), "root") }
func (l layout) kubeletCertDir() string    { return filepath.Join(l.kubeletDir(), "certs") }
func (l layout) kubeletResolvConf() string { return filepath.Join(l.kubeletDir(), "resolv.conf") }
func (l layout) podLogsDir() string        { return filepath.Join(l.kubeletDir(), "pod-logs") }
func (l layout) kubeProxyConfig() string   { return filepath.Join(l.dir, "kube-proxy.json") }
func (l layout) volumesDir() string        { return filepath.Join(l.dir, "volumes") }
func (l layout) cniConflist() string {
	return filepath.Join(l.cniConfDir(), "10-"+cniNetworkName+".conflist")
}

func writeState(path string, s State) error {
	if err := controlplane.WriteJSON(path, s); err != nil {
		return fmt.Errorf("node state: %w", err)
	}
	return nil
}

// ReadState reads the state.json of a node's state directory.
func ReadState(stateDir string) (State, error) {
	var s State
	path := filepath.Join(stateDir, stateFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read node state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// StopDetached stops the node recorded in stateDir by an earlier process
// (`localkube up --node --detach`) and undoes its host changes, as Node.Stop
// does. It refuses a directory without state.json.
func StopDetached(ctx context.Context, stateDir string, grace time.Duration, logf func(string, ...any)) error {
	s, err := ReadState(stateDir)
	if err != nil {
		return err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var errs []error
	stopProc := func(name string) {
		for _, r := range s.Processes {
			if r.Name == name {
				began := time.Now()
				if err := controlplane.StopRecorded(ctx, r, grace); err != nil {
					errs = append(errs, err)
				}
				logf("node: %s stopped in %s", name, time.Since(began).Round(time.Millisecond))
			}
		}
	}
	err = teardown(ctx, s, defaultHostPaths(), stopProc, false, logf)
	if err = errors.Join(append(errs, err)...); err != nil {
		return fmt.Errorf("stop node in %s: %w", stateDir, err)
	}
	return nil
}

// ErrNodeRunning is the error when another node holds the machine's lock.
var ErrNodeRunning = errors.New("another node runs on this machine")

// acquireLock creates the machine-wide lock file holding this process's pid,
// waiting up to wait for another node to release it. A lock whose node state
// directory has no state.json (its owner died before writing one, or `down`
// removed it and crashed) or whose starting pid is gone is stale and taken over.
func acquireLock(ctx context.Context, path string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := tryLock(path)
		if err == nil || !errors.Is(err, ErrNodeRunning) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tryLock takes the lock once, or says who holds it.
func tryLock(path string) (owner string, err error) {
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, werr := fmt.Fprintf(f, "pid %d\n", os.Getpid())
			return "", errors.Join(werr, f.Close())
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("take node lock %s: %w", path, err)
		}
		data, _ := os.ReadFile(path)
		owner := strings.TrimSpace(string(data))
		if dir, ok := strings.CutPrefix(owner, "state "); ok {
			if _, err := os.Stat(filepath.Join(dir, stateFileName)); err == nil {
				return owner, fmt.Errorf("%w (state %s; `localkube down` stops it); lock %s", ErrNodeRunning, dir, path)
			}
		} else if pid, ok := strings.CutPrefix(owner, "pid "); ok && processExists(pid) {
			return owner, fmt.Errorf("%w (being started by pid %s); lock %s", ErrNodeRunning, pid, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return owner, fmt.Errorf("remove stale node lock %s: %w", path, err)
		}
	}
	return "", fmt.Errorf("take node lock %s: another process keeps taking it", path)
}

// recordLockOwner points the lock at the node's state directory once it exists.
func recordLockOwner(path, stateDir string) error {
	if err := os.WriteFile(path, []byte("state "+stateDir+"\n"), 0o600); err != nil {
		return fmt.Errorf("write node lock %s: %w", path, err)
	}
	return nil
}

func releaseLock(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release node lock: %w", err)
	}
	return nil
}

func processExists(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}
