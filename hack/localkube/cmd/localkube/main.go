// Command localkube runs a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) on loopback, from prebuilt binaries.
//
//	localkube up --bin DIR [--state DIR] [--detach] [--timeout 90s] [--keep-state]
//	    start it and print the kubeconfig path; run until SIGINT/SIGTERM (or a
//	    component exits), then stop everything and remove the state dir. With
//	    --detach, return once healthy and leave it running for `down`.
//	localkube down [--state DIR] [--grace 10s]
//	    stop the processes recorded in DIR/state.json (apiserver before etcd)
//	    and remove DIR
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
	"syscall"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "localkube:", err)
		os.Exit(1)
	}
}

const usage = "usage: localkube up --bin DIR [--state DIR] [--detach] | down [--state DIR]"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "up":
		return runUp(args[1:], out)
	case "down":
		return runDown(args[1:], out)
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
	if opts.Detached {
		fmt.Fprintf(out, "stop it with: localkube down --state %s\n", cp.StateDir())
		return nil
	}
	fmt.Fprintln(out, "running until SIGINT/SIGTERM")
	waitErr := cp.Wait(ctx)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 4*opts.StopGrace+10*time.Second)
	defer stopCancel()
	began = time.Now()
	if err := cp.Stop(stopCtx); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), 4**grace+10*time.Second)
	defer cancel()
	if err := controlplane.StopDetached(ctx, *stateDir, *grace); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(out, "stopped; removed %s\n", *stateDir)
	return nil
}
