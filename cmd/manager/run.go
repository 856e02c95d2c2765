package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	// spec.backup.schedule may name a time zone (CRON_TZ=Europe/Paris);
	// the manager's image has no zoneinfo of its own.
	_ "time/tzdata"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	raftv1 "github.com/raftkube/raftkube/api/v1alpha1"
	"github.com/raftkube/raftkube/controllers"
)

// logHandler writes the manager's logs to stderr at the configured level
// and format.
func logHandler(c config) slog.Handler {
	if c.logFormat == "text" {
		return slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: c.logLevel})
	}
	return slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: c.logLevel})
}

func run(ctx context.Context, c config) error {
	logger := logr.FromSlogHandler(logHandler(c))
	ctrl.SetLogger(logger)
	// First: a release build refuses failpoints before it touches anything.
	failpoint, err := failpointHook(c.failpoints, logger)
	if err != nil {
		return err
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := raftv1.AddToScheme(scheme); err != nil {
		return err
	}
	restConfig, err := ctrlconfig.GetConfigWithContext(c.kubeconfigContext)
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}

	// Only the operator's own pods and claims are cached, not every pod of
	// the cluster.
	managed := labels.SelectorFromSet(labels.Set{raftv1.LabelManagedBy: "raftkube-operator"})
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}:                   {Label: managed},
		&corev1.PersistentVolumeClaim{}: {Label: managed},
		&discoveryv1.EndpointSlice{}:    {Label: managed},
		// The clusters' certificates: the manager never reads, nor holds in
		// memory, anyone else's Secrets.
		&corev1.Secret{}:              {Label: managed},
		&networkingv1.NetworkPolicy{}: {Label: managed},
	}}
	if len(c.watchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range c.watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	metricsOpts, err := metricsOptions(c)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        c.healthAddr,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              c.leaderElectionID,
		LeaderElectionNamespace:       c.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &c.gracefulShutdown,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	metrics, err := controllers.NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	recorder := mgr.GetEventRecorder("raftkube-operator")
	r := &controllers.RaftClusterReconciler{
		Metrics:   metrics,
		Client:    mgr.GetClient(),
		Scheme:    scheme,
		Recorder:  recorder,
		Members:   controllers.NewMemberClient,
		Settings:  controllers.Settings{NodeImage: c.nodeImage, ClusterDomain: c.clusterDomain, OperatorNamespace: c.operatorNamespace},
		Failpoint: failpoint,
	}
	if err := r.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: c.concurrency}); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}
	backups := &controllers.RaftBackupReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    scheme,
		Recorder:  recorder,
		Metrics:   metrics,
		Settings:  r.Settings,
		Clock:     clock.RealClock{},
	}
	if err := backups.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: c.concurrency}); err != nil {
		return fmt.Errorf("set up backup controller: %w", err)
	}
	schedule := &controllers.BackupScheduleReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    scheme,
		Recorder:  recorder,
		Metrics:   metrics,
		Clock:     clock.RealClock{},
	}
	if err := schedule.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: c.concurrency}); err != nil {
		return fmt.Errorf("set up backup schedule controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the caches have synced: before that the manager would act
	// on an empty view.
	if err := mgr.AddReadyzCheck("caches", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	logger.Info("starting manager", "nodeImage", c.nodeImage, "watchNamespaces", c.watchNamespaces, "leaderElect", c.leaderElect,
		"metricsSecure", metricsOpts.SecureServing)
	return mgr.Start(ctx)
}
