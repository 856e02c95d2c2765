package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
)

// errPodsRemain: the Deployment was scaled to zero but some of its pods were
// still there when the wait ended.
var errPodsRemain = errors.New("manager pods still running")

// stopInterval is how often stopDeployment lists the pods it waits for.
const stopInterval = 500 * time.Millisecond

// stopDeployment scales the Deployment key to zero replicas and waits until
// none of its pods is left, or ctx ends (then errPodsRemain, with their
// names). It is the manager's `--stop-deployment` mode, run by the chart's
// pre-delete hook: `helm uninstall` deletes the manager's RBAC together with
// its Deployment, and a manager still terminating by then can no longer
// release its leader-election Lease. A Deployment that does not exist is
// nothing to stop.
func stopDeployment(ctx context.Context, c client.Client, key types.NamespacedName, interval time.Duration, log *slog.Logger) error {
	var dep appsv1.Deployment
	if err := c.Get(ctx, key, &dep); apierrors.IsNotFound(err) {
		log.Info("no manager Deployment: nothing to stop", "deployment", key.String())
		return nil
	} else if err != nil {
		return fmt.Errorf("get Deployment %s: %w", key, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return fmt.Errorf("selector of Deployment %s: %w", key, err)
	}
	// Through the scale subresource: the hook's Role may change the replica
	// count and nothing else of the Deployment.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var scale autoscalingv1.Scale
		if err := c.SubResource("scale").Get(ctx, &dep, &scale); err != nil {
			return err
		}
		if scale.Spec.Replicas == 0 {
			return nil
		}
		scale.Spec.Replicas = 0
		return c.SubResource("scale").Update(ctx, &dep, client.WithSubResourceBody(&scale))
	})
	if apierrors.IsNotFound(err) {
		log.Info("manager Deployment deleted meanwhile: nothing to stop", "deployment", key.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("scale Deployment %s to zero: %w", key, err)
	}
	start := time.Now()
	log.Info("scaled the manager Deployment to zero; waiting for its pods to exit", "deployment", key.String())

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		var pods corev1.PodList
		err := c.List(ctx, &pods, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: selector})
		if err == nil && len(pods.Items) == 0 {
			log.Info("the manager's pods have exited", "deployment", key.String(), "after", time.Since(start).Round(time.Millisecond).String())
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("list the pods of Deployment %s: %w", key, errors.Join(err, ctx.Err()))
			}
			names := make([]string, 0, len(pods.Items))
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			return fmt.Errorf("%w after %s: %s", errPodsRemain, time.Since(start).Round(time.Second), strings.Join(names, ", "))
		case <-ticker.C:
		}
	}
}

// stopMain is the --stop-deployment mode: it stops the manager Deployment
// within --stop-timeout. Pods that outlive the wait are logged as a warning
// and do not fail the hook: `helm uninstall` then goes on, and the Lease
// those pods hold expires on its own. Any other error fails it.
func stopMain(c config) error {
	log := slog.New(logHandler(c))
	restConfig, err := ctrlconfig.GetConfigWithContext(c.kubeconfigContext)
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	cl, err := client.New(restConfig, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return stopWithin(ctx, cl, c.stopDeployment, c.stopTimeout, stopInterval, log)
}

// stopWithin runs stopDeployment for at most timeout; pods still there
// after it are a warning, not an error.
func stopWithin(ctx context.Context, c client.Client, key types.NamespacedName, timeout, interval time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := stopDeployment(ctx, c, key, interval, log)
	if errors.Is(err, errPodsRemain) {
		log.Warn("gave up waiting for the manager to exit; the uninstall goes on and the Lease it holds expires on its own",
			"deployment", key.String(), "timeout", timeout.String(), "error", err.Error())
		return nil
	}
	return err
}
