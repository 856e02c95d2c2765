// Command localkube runs a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) on loopback, from prebuilt binaries.
//
//	localkube up --bin DIR [--state DIR] [--detach] [--timeout 90s] [--keep-state]
//	    start it and print the kubeconfig path; run until SIGINT/SIGTERM (or a
//	    component exits), then stop everything and remove the state dir. With
//	    --detach, return once healthy and leave it running for `down`.
//	    With --node (root), also a real node (containerd, kubelet, kube-proxy,
//	    CoreDNS, the host-path provisioner; package node) in DIR/node,
//	    importing --images (default BIN/images/*.tar), with the CNI plugins of
//	    --cni-bin (default BIN/cni); --no-provisioner skips the provisioner,
//	    --lock-wait waits for another node on the machine to stop.
//	localkube down [--state DIR] [--grace 10s]
//	    stop the node recorded in DIR/node/state.json, if any, undoing its
//	    host changes, then the processes recorded in DIR/state.json
//	    (apiserver before etcd), and remove DIR
//	localkube node kill|pause|resume [--state DIR] NAMESPACE/POD[/CONTAINER]
//	    SIGKILL, freeze or thaw a container's processes on the node
//	localkube node pid [--state DIR] NAMESPACE/POD[/CONTAINER]
//	    print the host pid of a container's main process
//	localkube node cut|heal [--state DIR] A B
//	    drop (restore) all traffic between two pods, A and B pod IPs or NAMESPACE/POD
//	localkube node heal --all [--state DIR]
//	    remove every cut
//	localkube node trust-registry [--state DIR] 127.0.0.1:PORT
//	    let the node's containerd pull from a plain-HTTP registry on loopback
//	    (e.g. `imagetool registry` after `make push REGISTRY=127.0.0.1:PORT/x`)
//	localkube node lookup [--resolv-conf FILE] NAME
//	    resolve NAME with FILE's nameservers and search path (the node runs it
//	    in a pod's network namespace)
//
// --state defaults to $TMPDIR/localkube. See package controlplane for the layout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
	"github.com/raftkube/raftkube/hack/localkube/node"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "node" && os.Args[2] == "lookup" {
		// Its own exit status: it runs in a pod's network namespace, for the node.
		os.Exit(node.LookupMain(os.Args[3:], os.Stdout, os.Stderr))
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localkube:", err)
		os.Exit(1)
	}
}

const usage = "usage: localkube up --bin DIR [--state DIR] [--detach] [--node] | down [--state DIR] | node kill|pause|resume|pid|cut|heal|trust-registry"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "up":
		return runUp(args[1:], out)
	case "down":
		return runDown(args[1:], out)
	case "node":
		return runNode(args[1:], out)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

func defaultStateDir() string { return filepath.Join(os.TempDir(), "localkube") }

func runUp(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var opts controlplane.Options
	fs.StringVar(&opts.BinDir, "bin", "", "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
	fs.StringVar(&opts.StateDir, "state", defaultStateDir(), "state directory (must be missing or empty)")
	fs.BoolVar(&opts.Detached, "detach", false, "return once healthy, leaving the control plane running for `localkube down`")
	fs.DurationVar(&opts.HealthTimeout, "timeout", 90*time.Second, "how long each component may take to become healthy")
	fs.DurationVar(&opts.StopGrace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when stopping")
	fs.BoolVar(&opts.KeepState, "keep-state", false, "on stop, keep the state dir (logs, data)")
	withNode := fs.Bool("node", false, "also run a real node (root): containerd, kubelet, kube-proxy, CoreDNS")
	images := fs.String("images", "", "comma-separated image tarballs the node imports (default BIN/images/*.tar)")
	noProvisioner := fs.Bool("no-provisioner", false, "run the node without bin/hostpath-provisioner (no default StorageClass)")
	lockWait := fs.Duration("lock-wait", 0, "how long to wait for another node on this machine to stop (default: fail at once)")
	cniBin := fs.String("cni-bin", "", "directory of the CNI plugins bridge, host-local, loopback, portmap (default BIN/cni)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if opts.BinDir == "" {
		return errors.New("up: --bin is required")
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	began := time.Now()
	cp, err := controlplane.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	fmt.Fprintf(out, "control plane healthy in %s\napiserver:  %s\nkubeconfig: %s\nstate:      %s\n",
		time.Since(began).Round(time.Millisecond), cp.APIServerURL(), cp.Kubeconfig(), cp.StateDir())
	stopCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 8*opts.StopGrace+60*time.Second)
	}
	var nd *node.Node
	if *withNode {
		began = time.Now()
		nd, err = startNode(ctx, cp, opts, nodeFlags{images: *images, cniBin: *cniBin, noProvisioner: *noProvisioner, lockWait: *lockWait})
		if err != nil {
			sctx, cancel := stopCtx()
			defer cancel()
			return errors.Join(fmt.Errorf("up: %w", err), cp.Stop(sctx))
		}
		st := nd.State()
		fmt.Fprintf(out, "node %s Ready, DNS answering in %s\nnode IP:    %s (bridge %s, pods %s)\ncluster DNS: %s\nnode state: %s\n",
			st.NodeName, time.Since(began).Round(time.Millisecond), st.NodeIP, st.Bridge, st.PodCIDR, st.DNSServiceIP, nd.StateDir())
	}
	if opts.Detached {
		fmt.Fprintf(out, "stop it with: localkube down --state %s\n", cp.StateDir())
		return nil
	}
	fmt.Fprintln(out, "running until SIGINT/SIGTERM")
	waitErr := waitAll(ctx, cp, nd)
	sctx, cancel := stopCtx()
	defer cancel()
	began = time.Now()
	if nd != nil {
		if err := nd.Stop(sctx); err != nil {
			return errors.Join(waitErr, err, cp.Stop(sctx))
		}
	}
	if err := cp.Stop(sctx); err != nil {
		return errors.Join(waitErr, err)
	}
	fmt.Fprintf(out, "control plane stopped in %s\n", time.Since(began).Round(time.Millisecond))
	return waitErr
}

func runDown(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	stateDir := fs.String("state", defaultStateDir(), "state directory given to `up`")
	grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*stateDir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "nothing to stop: %s does not exist\n", *stateDir)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8**grace+60*time.Second)
	defer cancel()
	nodeDir := filepath.Join(*stateDir, nodeSubdir)
	if _, err := os.Stat(filepath.Join(nodeDir, "state.json")); err == nil {
		logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		if err := node.StopDetached(ctx, nodeDir, *grace, logf); err != nil {
			return fmt.Errorf("down: %w", err)
		}
		fmt.Fprintln(out, "node stopped, host changes undone")
	}
	if err := controlplane.StopDetached(ctx, *stateDir, *grace); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(out, "stopped; removed %s\n", *stateDir)
	return nil
}

// nodeSubdir is the node's state directory inside the control plane's.
const nodeSubdir = "node"

// nodeFlags are up's flags for the node.
type nodeFlags struct {
	images, cniBin string
	noProvisioner  bool
	lockWait       time.Duration
}

// startNode starts a node joined to cp, its state inside cp's.
func startNode(ctx context.Context, cp *controlplane.ControlPlane, opts controlplane.Options, f nodeFlags) (*node.Node, error) {
	var tarballs []string
	if f.images != "" {
		tarballs = strings.Split(f.images, ",")
	} else {
		found, err := filepath.Glob(filepath.Join(opts.BinDir, "images", "*.tar"))
		if err != nil {
			return nil, fmt.Errorf("find image tarballs: %w", err)
		}
		tarballs = found
	}
	return node.Start(ctx, node.Options{
		BinDir:        opts.BinDir,
		CNIBinDir:     f.cniBin,
		NoProvisioner: f.noProvisioner,
		LockWait:      f.lockWait,
		StateDir:      filepath.Join(cp.StateDir(), nodeSubdir),
		ControlPlane:  node.FromControlPlane(cp),
		Images:        tarballs,
		ReadyTimeout:  opts.HealthTimeout,
		StopGrace:     opts.StopGrace,
		Detached:      opts.Detached,
		KeepState:     opts.KeepState,
		Logf:          opts.Logf,
	})
}

// waitAll waits until ctx is done (nil) or a component of the control plane
// or the node exits (its error).
func waitAll(ctx context.Context, cp *controlplane.ControlPlane, nd *node.Node) error {
	if nd == nil {
		return cp.Wait(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- cp.Wait(ctx) }()
	go func() { errs <- nd.Wait(ctx) }()
	first := <-errs
	cancel()
	return errors.Join(first, <-errs)
}

// runNode runs the node's fault commands against the node of `up --node`.
func runNode(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: localkube node kill|pause|resume|pid|cut|heal|trust-registry [--state DIR] ARGS")
	}
	verb := args[0]
	fs := flag.NewFlagSet("node "+verb, flag.ContinueOnError)
	stateDir := fs.String("state", defaultStateDir(), "state directory given to `up --node` (or the node's own)")
	all := fs.Bool("all", false, "heal: remove every cut")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	dir := *stateDir
	if _, err := os.Stat(filepath.Join(dir, nodeSubdir, "state.json")); err == nil {
		dir = filepath.Join(dir, nodeSubdir)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	defer cancelTimeout()
	switch verb {
	case "kill", "pause", "resume", "pid":
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: localkube node %s [--state DIR] NAMESPACE/POD[/CONTAINER]", verb)
		}
		parts := strings.Split(fs.Arg(0), "/")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("node %s: want NAMESPACE/POD[/CONTAINER], got %q", verb, fs.Arg(0))
		}
		ns, pod, container := parts[0], parts[1], ""
		if len(parts) == 3 {
			container = parts[2]
		}
		switch verb {
		case "kill":
			return node.KillContainer(ctx, dir, ns, pod, container)
		case "pause":
			return node.PauseContainer(ctx, dir, ns, pod, container)
		case "resume":
			return node.ResumeContainer(ctx, dir, ns, pod, container)
		}
		pid, err := node.ContainerPID(ctx, dir, ns, pod, container)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, pid)
		return nil
	case "trust-registry":
		if fs.NArg() != 1 {
			return errors.New("usage: localkube node trust-registry [--state DIR] 127.0.0.1:PORT")
		}
		return node.TrustPlainHTTPRegistry(dir, fs.Arg(0))
	case "cut", "heal":
		if verb == "heal" && *all {
			return node.HealAll(ctx, dir)
		}
		if fs.NArg() != 2 {
			return fmt.Errorf("usage: localkube node %s [--state DIR] A B (pod IPs or NAMESPACE/POD)", verb)
		}
		if verb == "cut" {
			return node.Cut(ctx, dir, fs.Arg(0), fs.Arg(1))
		}
		return node.Heal(ctx, dir, fs.Arg(0), fs.Arg(1))
	}
	return fmt.Errorf("unknown node command %q", verb)
}
