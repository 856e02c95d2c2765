// Command manager runs the raftkube operator: the RaftCluster controller,
// with leader election, metrics and health endpoints. Flags -> config -> run.
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
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/raftkube/raftkube/internal/version"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(2)
	}
	switch {
	case cfg.showVersion:
		if failpointsBuilt {
			fmt.Println("manager", version.Get(), "(test build: failpoints)")
		} else {
			fmt.Println("manager", version.Get())
		}
		return
	case cfg.probeURL != "":
		ctx, cancel := context.WithTimeout(context.Background(), cfg.probeTimeout)
		defer cancel()
		if err := probe(ctx, cfg.probeURL); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
			os.Exit(1)
		}
		return
	case cfg.stopDeployment.Name != "":
		if err := stopMain(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

// config is the manager's settings.
type config struct {
	nodeImage        string
	clusterDomain    string
	watchNamespaces  []string
	concurrency      int
	leaderElect      bool
	leaderElectionID string
	leaderElectionNS string
	// operatorNamespace is where the manager runs: the clusters'
	// NetworkPolicies let its pods reach the members.
	operatorNamespace string
	metricsAddr       string
	// metricsSecure serves /metrics over HTTPS to authorized callers only;
	// metricsCertDir holds its certificate (empty: self-signed).
	metricsSecure     bool
	metricsCertDir    string
	healthAddr        string
	logLevel          slog.Level
	logFormat         string
	gracefulShutdown  time.Duration
	failpoints        []string
	kubeconfigContext string
	// showVersion prints the build's version and exits.
	showVersion bool
	// probeURL, when set, makes the process GET it and exit instead of
	// running: the chart's `helm test` pod runs the manager's own image,
	// which has no shell or HTTP client.
	probeURL     string
	probeTimeout time.Duration
	// stopDeployment, when set, makes the process scale that Deployment to
	// zero and wait for its pods to exit, at most stopTimeout, instead of
	// running: the chart's pre-delete hook, so that the manager releases its
	// Lease before `helm uninstall` deletes its RBAC.
	stopDeployment types.NamespacedName
	stopTimeout    time.Duration
}

// failpointsEnv names the steps at which a manager built with -tags
// failpoints exits, comma-separated.
const failpointsEnv = "RAFTKUBE_FAILPOINTS"

// nodeImageRepository is where the release's raftnode image is published;
// the default node image is it at the manager's own version, so a manager
// and the members it creates come from the same release.
const nodeImageRepository = "ghcr.io/raftkube/raftnode"

func parseFlags(args []string) (config, error) {
	var c config
	var namespaces, level string
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.StringVar(&c.nodeImage, "node-image", nodeImageRepository+":"+version.Version, "raftnode image of clusters whose spec names none")
	fs.StringVar(&c.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain, for the members' advertised names")
	fs.StringVar(&namespaces, "watch-namespaces", "", "comma-separated namespaces whose RaftClusters to manage (default: all)")
	fs.IntVar(&c.concurrency, "max-concurrent-reconciles", 4, "RaftClusters reconciled at once")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "elect one active manager among replicas (a Lease)")
	fs.StringVar(&c.leaderElectionID, "leader-election-id", "raftkube-operator.raftkube.io", "name of the leader election Lease")
	fs.StringVar(&c.leaderElectionNS, "leader-election-namespace", "", "namespace of the Lease (default: the manager's own, in a cluster)")
	fs.StringVar(&c.operatorNamespace, "operator-namespace", "", "the manager's own namespace, whose pods each cluster's NetworkPolicy lets reach the client port (empty: none)")
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus /metrics endpoint; 0 disables it")
	fs.BoolVar(&c.metricsSecure, "metrics-secure", true, "serve /metrics over HTTPS, only to callers the API server authenticates and authorizes for GET /metrics; false serves plain HTTP to anyone")
	fs.StringVar(&c.metricsCertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for the metrics endpoint (e.g. a mounted cert-manager Secret), reloaded when they change; empty: a self-signed certificate")
	fs.StringVar(&c.healthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "json or text")
	fs.DurationVar(&c.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "how long reconciles in flight may finish on shutdown")
	fs.StringVar(&c.kubeconfigContext, "context", "", "kubeconfig context (outside a cluster; KUBECONFIG names the file)")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and commit, and exit")
	fs.StringVar(&c.probeURL, "probe", "", "GET this http(s) URL, exit 0 if it answers 2xx and 1 otherwise, instead of running (for `helm test`)")
	fs.DurationVar(&c.probeTimeout, "probe-timeout", 10*time.Second, "how long --probe may take")
	var stopDeployment string
	fs.StringVar(&stopDeployment, "stop-deployment", "", "NAMESPACE/NAME: scale this manager Deployment to zero and wait for its pods to exit, instead of running (the chart's pre-delete hook)")
	fs.DurationVar(&c.stopTimeout, "stop-timeout", time.Minute, "how long --stop-deployment waits for the pods to exit before it gives up with a warning")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return config{}, fmt.Errorf("--log-format must be json or text, got %q", c.logFormat)
	}
	if c.concurrency < 1 {
		return config{}, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", c.concurrency)
	}
	if c.metricsCertDir != "" && !c.metricsSecure {
		return config{}, errors.New("--metrics-cert-dir needs --metrics-secure: plain HTTP has no certificate")
	}
	if c.nodeImage == "" {
		return config{}, errors.New("--node-image must not be empty")
	}
	if stopDeployment != "" {
		ns, name, ok := strings.Cut(stopDeployment, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return config{}, fmt.Errorf("--stop-deployment must be NAMESPACE/NAME, got %q", stopDeployment)
		}
		c.stopDeployment = types.NamespacedName{Namespace: ns, Name: name}
	}
	if c.stopTimeout <= 0 {
		return config{}, fmt.Errorf("--stop-timeout must be positive, got %s", c.stopTimeout)
	}
	for ns := range strings.SplitSeq(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			c.watchNamespaces = append(c.watchNamespaces, ns)
		}
	}
	// Failpoints crash the manager at a named step, for tests of a manager
	// that dies mid-change (see controllers.RaftClusterReconciler.Failpoint).
	// Only a build with -tags failpoints takes them (failpointHook).
	for fp := range strings.SplitSeq(os.Getenv(failpointsEnv), ",") {
		if fp = strings.TrimSpace(fp); fp != "" {
			c.failpoints = append(c.failpoints, fp)
		}
	}
	return c, nil
}
