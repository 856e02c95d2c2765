// Command cert-manager-controller runs cert-manager's controller, at the
// version hack/certmanager/go.mod pins, for raftkube's tests: the Issuer and
// ClusterIssuer controllers, the six Certificate controllers, the
// CertificateRequest approver and the CA and SelfSigned signers. There is no
// webhook, cainjector or ACME.
//
//	cert-manager-controller --kubeconfig FILE [--cluster-resource-namespace kube-system]
//	    [--readyz-address 127.0.0.1:0] [--address-file FILE] [--workers 5] [-v 2]
//
// cert-manager's own main (cmd/controller) is a module the Go module proxy
// does not serve, so this one wires the exported controller packages of the
// root module the way its cmd/controller/app/controller.go does. GET /readyz on
// --readyz-address answers 200 once every controller is registered and the
// informer caches have synced; the bound address is written to --address-file
// so a caller can ask for port 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuers controllers set up an Issuer through the constructors these
	// packages register for their kinds.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

// enabledControllers are the controllers this command runs. Each package
// above registers its constructor with controller.Register when imported.
var enabledControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	crapprover.ControllerName,
	crca.CRControllerName,
	crselfsigned.CRControllerName,
}

// config is what the flags set.
type config struct {
	kubeconfig               string
	clusterResourceNamespace string
	readyzAddress            string
	addressFile              string
	workers                  int
	// The backoff after a failed CertificateRequest; cert-manager's defaults.
	minBackoff, maxBackoff time.Duration
}

func main() {
	logf.InitLogs()
	defer logf.FlushLogs()
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		logf.FlushLogs()
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("cert-manager-controller", flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg config
	fs.StringVar(&cfg.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	fs.StringVar(&cfg.clusterResourceNamespace, "cluster-resource-namespace", "kube-system", "namespace of the Secrets ClusterIssuers refer to")
	fs.StringVar(&cfg.readyzAddress, "readyz-address", "127.0.0.1:0", "address of the /readyz endpoint")
	fs.StringVar(&cfg.addressFile, "address-file", "", "file to write the bound /readyz address to")
	fs.IntVar(&cfg.workers, "workers", 5, "workers per controller")
	fs.DurationVar(&cfg.minBackoff, "certificate-request-minimum-backoff", time.Hour, "backoff after the first failed CertificateRequest")
	fs.DurationVar(&cfg.maxBackoff, "certificate-request-maximum-backoff", 32*time.Hour, "longest backoff after failed CertificateRequests")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if cfg.kubeconfig == "" {
		return config{}, errors.New("--kubeconfig is required")
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, nil
}

// run runs the controllers until ctx ends or one of them fails.
func run(ctx context.Context, cfg config) error {
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	log := logf.FromContext(ctx)
	g, ctx := errgroup.WithContext(ctx)

	// The defaults of cert-manager's controller configuration
	// (internal/apis/config/controller/v1alpha1/defaults.go).
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         cfg.kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        cfg.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: cfg.minBackoff,
			CertificateRequestMaximumBackoffDuration: cfg.maxBackoff,
		},
	})
	if err != nil {
		return fmt.Errorf("build the controller context: %w", err)
	}
	base, err := factory.Build()
	if err != nil {
		return fmt.Errorf("build the base controller context: %w", err)
	}

	var ready atomic.Bool
	ln, err := net.Listen("tcp", cfg.readyzAddress)
	if err != nil {
		return fmt.Errorf("listen for /readyz on %s: %w", cfg.readyzAddress, err)
	}
	srv := readyzServer(&ready)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve /readyz: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		// The context is over; shutting down needs a deadline of its own.
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	if cfg.addressFile != "" {
		if err := writeFileAtomic(cfg.addressFile, ln.Addr().String()); err != nil {
			return errors.Join(err, ln.Close())
		}
	}

	// Constructing a controller registers the informers it needs, so every
	// one is built before the factories start.
	known := controller.Known()
	for _, name := range enabledControllers {
		construct, ok := known[name]
		if !ok {
			return errors.Join(fmt.Errorf("controller %s is not registered", name), ln.Close())
		}
		c, err := construct(factory)
		if err != nil {
			return errors.Join(fmt.Errorf("construct controller %s: %w", name, err), ln.Close())
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("starting controller", "controller", name)
			if err := c.Run(cfg.workers, ctx); err != nil {
				return fmt.Errorf("controller %s: %w", name, err)
			}
			return nil
		})
	}
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	g.Go(func() error {
		if err := waitForSync(ctx, base); err != nil {
			return err
		}
		ready.Store(true)
		log.V(logf.InfoLevel).Info("informer caches synced; ready")
		return nil
	})

	err = g.Wait()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// waitForSync waits until both informer factories have synced every informer
// the controllers asked for.
func waitForSync(ctx context.Context, base *controller.Context) error {
	var unsynced []string
	for typ, ok := range base.SharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			unsynced = append(unsynced, typ.String())
		}
	}
	for typ, ok := range base.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			unsynced = append(unsynced, typ)
		}
	}
	if len(unsynced) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("informer caches of %v did not sync", unsynced)
}

func readyzServer(ready *atomic.Bool) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// writeFileAtomic writes data to path through a rename, so a reader polling
// for the file never sees it half written.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".address-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.WriteString(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, errors.Join(err, os.Remove(tmp.Name())))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
