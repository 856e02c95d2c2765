package kubelet

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/raftkube/raftkube/hack/localkubelet/provider"
)

// watchServices keeps the provider's hosts files in step with the cluster's
// Services. There is no kube-proxy, and EndpointSlices cannot hold loopback
// pod IPs (the API server rejects them), so the provider resolves each
// Service's selector against the pods it runs. It returns once the informer
// is started.
func watchServices(ctx context.Context, client kubernetes.Interface, p *provider.Provider) {
	f := informers.NewSharedInformerFactory(client, time.Minute)
	inf := f.Core().V1().Services()
	update := func() {
		svcs, err := inf.Lister().List(labels.Everything())
		if err != nil {
			return
		}
		p.SetServices(toServices(svcs))
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { update() },
		UpdateFunc: func(any, any) { update() },
		DeleteFunc: func(any) { update() },
	})
	f.Start(ctx.Done())
}

func toServices(svcs []*corev1.Service) []provider.Service {
	out := make([]provider.Service, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, provider.Service{
			Namespace:                s.Namespace,
			Name:                     s.Name,
			Selector:                 s.Spec.Selector,
			PublishNotReadyAddresses: s.Spec.PublishNotReadyAddresses,
		})
	}
	return out
}
