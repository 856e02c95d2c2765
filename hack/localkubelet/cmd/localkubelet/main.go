// Command localkubelet is a kubelet that runs each pod's containers as local
// processes (see package provider). Flags -> config -> run.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/raftkube/raftkube/hack/localkubelet/kubelet"
	"github.com/raftkube/raftkube/hack/localkubelet/provider"
)

// imageFlags collects repeated --image IMAGE=BINARY flags.
type imageFlags []string

func (f *imageFlags) String() string     { return strings.Join(*f, ",") }
func (f *imageFlags) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var (
		cfg        kubelet.Config
		kubeconfig string
		imageFile  string
		images     imageFlags
		verbose    bool
	)
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	flag.StringVar(&cfg.NodeName, "node-name", "local-node", "name of the Node object")
	flag.StringVar(&cfg.ListenAddr, "listen", "127.0.0.1:10250", "kubelet API address (kubectl logs)")
	flag.StringVar(&cfg.StateDir, "state-dir", "/tmp/localkubelet", "directory for pod directories and logs")
	flag.StringVar(&cfg.PodCIDR, "pod-cidr", "127.10.0.0/16", "loopback range pod IPs come from")
	flag.StringVar(&cfg.CPU, "cpu", "16", "node CPU capacity")
	flag.StringVar(&cfg.Memory, "memory", "32Gi", "node memory capacity")
	flag.StringVar(&cfg.Pods, "pods", "110", "node pod capacity")
	flag.DurationVar(&cfg.BackoffBase, "restart-backoff", time.Second, "first crash-restart delay (doubles per restart)")
	flag.DurationVar(&cfg.BackoffMax, "restart-backoff-max", 30*time.Second, "longest crash-restart delay")
	flag.Var(&images, "image", "IMAGE=BINARY mapping (repeatable); BINARY @command runs the container's command from PATH")
	flag.StringVar(&imageFile, "image-table", "", "file of IMAGE=BINARY lines")
	flag.BoolVar(&cfg.HostsFiles, "hosts-files", os.Geteuid() == 0, "run each pod in its own mount namespace with a kubelet-kept /etc/hosts (needs root, unshare, mount)")
	flag.BoolVar(&cfg.SourceAddresses, "pod-source-addresses", os.Geteuid() == 0, "pods' connections leave from their pod IPs (needs root and iptables)")
	flag.BoolVar(&cfg.Provisioner, "provisioner", true, "install the default StorageClass \"local\" and provision directory-backed volumes for its claims")
	flag.BoolVar(&verbose, "v", false, "debug logging")
	flag.Parse()

	if err := run(cfg, kubeconfig, imageFile, images, verbose); err != nil {
		fmt.Fprintln(os.Stderr, "localkubelet:", err)
		os.Exit(1)
	}
}

func run(cfg kubelet.Config, kubeconfig, imageFile string, images []string, verbose bool) error {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	vklog.L = vkslog.FromSlog(logger)
	// The claim provisioner logs through slog's default logger.
	slog.SetDefault(logger)

	cfg.Images = provider.ImageTable{}
	if imageFile != "" {
		if err := cfg.Images.LoadFile(imageFile); err != nil {
			return err
		}
	}
	if err := cfg.Images.Add(images...); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.RESTConfig = rc

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k, err := kubelet.New(cfg)
	if err != nil {
		return err
	}
	return k.Run(ctx)
}
