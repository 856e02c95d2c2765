// Command hostpath-provisioner provisions directory-backed PersistentVolumes
// for a real one-machine Kubernetes node: it runs as a host process next to
// the kubelet, installs the StorageClass (by default the cluster's default
// class), creates a directory under --base-dir and a hostPath volume pinned to
// --node-name for each claim of that class, and deletes both when the claim
// goes. It is package provisioner, which the local kubelet runs in-process,
// behind flags.
//
//	go build -o ../../bin/hostpath-provisioner ./cmd/hostpath-provisioner
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/raftkube/raftkube/hack/localkubelet/provisioner"
)

func main() {
	var (
		cfg        provisioner.Config
		kubeconfig string
	)
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	flag.StringVar(&cfg.BaseDir, "base-dir", "/var/lib/hostpath-provisioner", "directory that holds the volumes' directories")
	flag.StringVar(&cfg.NodeName, "node-name", defaultNodeName(), "the kubelet's node name (its kubernetes.io/hostname label): volumes get a node affinity for it")
	flag.StringVar(&cfg.StorageClass, "storage-class", "local", "StorageClass whose claims get volumes (installed unless it exists)")
	flag.BoolVar(&cfg.DefaultClass, "default-class", true, "install the StorageClass as the cluster's default")
	flag.StringVar(&cfg.Provisioner, "provisioner", "raftkube.io/hostpath", "provisioner name in the StorageClass and the volumes")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hostpath-provisioner: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(cfg, kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "hostpath-provisioner:", err)
		os.Exit(1)
	}
}

// defaultNodeName is what the kubelet calls its node without
// --hostname-override: the host name, lower-cased.
func defaultNodeName() string {
	name, err := os.Hostname()
	if err != nil {
		return ""
	}
	return strings.ToLower(name)
}

func run(cfg provisioner.Config, kubeconfig string) error {
	if cfg.NodeName == "" {
		return errors.New("--node-name is empty (and the host name unknown): the volumes need the node they are on")
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	rc.UserAgent = "hostpath-provisioner"
	// client-go's default (5 requests/s, bursts of 10) delays the resize
	// of a few claims by seconds; one machine's API server takes more.
	rc.QPS, rc.Burst = 50, 100
	if cfg.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	p, err := provisioner.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Logger.Info("provisioning", "storageClass", cfg.StorageClass, "baseDir", cfg.BaseDir, "node", cfg.NodeName, "api", rc.Host)
	return p.Run(ctx)
}
