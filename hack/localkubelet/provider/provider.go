// Package provider is a virtual-kubelet provider that runs each pod's
// containers as processes on this machine.
//
// There is no container runtime: a container's image names a local binary
// (ImageTable), its pod gets its own loopback address (LoopbackIPAM), and its
// process runs with the pod's environment, command and args, writing stdout
// and stderr to a per-container log file under the pod's directory.
//
// Each pod has one goroutine per container (supervise), which starts the
// process, runs its probes, restarts it per the pod's restartPolicy with
// exponential backoff, and on deletion stops it with SIGTERM, the grace
// period, then SIGKILL. Every status change wakes the pod's notifier
// goroutine, which hands the newest status to virtual-kubelet; having one
// notifier per pod means a stale status never overtakes a newer one.
package provider

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Config configures a Provider.
type Config struct {
	// NodeName is the node the provider serves.
	NodeName string
	// HostIP is reported as the pods' host IP (the node's address).
	HostIP string
	// StateDir holds one directory per pod, with its container logs.
	StateDir string
	// Images maps images to local binaries.
	Images ImageTable
	// IPAM hands out pod addresses.
	IPAM *LoopbackIPAM
	// Runner starts processes; nil means ExecRunner.
	Runner Runner
	// Objects resolves ConfigMap and Secret references in env vars; may be nil.
	Objects ObjectSource
	// BaseEnv is given to every container before its own env (PATH,
	// KUBERNETES_SERVICE_HOST, ...).
	BaseEnv []string
	// HostsFiles runs every container in its own mount namespace with
	// /etc/hosts bind-mounted from a per-namespace file naming pods and
	// Services, and its volumes bind-mounted at their mount paths (needs
	// root and util-linux's unshare and mount). Without it, containers with
	// volume mounts fail with CreateContainerConfigError.
	HostsFiles bool
	// Tokens issues projected service-account tokens; may be nil.
	Tokens TokenSource
	// Network gives each pod's traffic its pod IP as source address; nil
	// leaves processes sending from 127.0.0.1.
	Network PodNetwork
	// RemovePod, when set, deletes the Pod object (grace 0, only the given
	// UID) once a deleted pod's processes are gone, as the real kubelet does.
	// Without it the object goes only when virtual-kubelet's timer for the
	// whole grace period fires, however soon the processes exited.
	RemovePod func(ctx context.Context, namespace, name string, uid types.UID) error
	// BackoffBase is the delay before the first restart of a crashed
	// container; it doubles per restart up to BackoffMax. The real kubelet
	// uses 10s and 5m.
	BackoffBase, BackoffMax time.Duration
}

// Provider implements virtual-kubelet's PodLifecycleHandler and PodNotifier
// (and nodeutil.Provider) with local processes.
type Provider struct {
	cfg Config

	mu sync.Mutex
	// pods holds every pod the provider knows, by namespace/name, from
	// CreatePod until its terminal status after deletion has been delivered.
	pods map[string]*podState

	hostsMu sync.Mutex
	// services are the Services the hosts files name.
	services []Service
	// hostsWritten is each namespace's hosts file content as last written.
	hostsWritten map[string][]byte

	notifyMu sync.Mutex
	// notify is the callback virtual-kubelet registered with NotifyPods.
	notify func(*corev1.Pod)
}

// New returns a provider; it creates cfg.StateDir.
func New(cfg Config) (*Provider, error) {
	if cfg.Runner == nil {
		cfg.Runner = &ExecRunner{}
	}
	if cfg.IPAM == nil {
		return nil, fmt.Errorf("provider config: no IPAM")
	}
	if cfg.Images == nil {
		cfg.Images = ImageTable{}
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = 30 * cfg.BackoffBase
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return &Provider{cfg: cfg, pods: map[string]*podState{}, hostsWritten: map[string][]byte{}}, nil
}

func podKey(namespace, name string) string { return namespace + "/" + name }

// Shutdown is called when the kubelet stops: a runner with host state of its
// own (ExecRunner's mount points) removes it.
func (p *Provider) Shutdown() {
	if s, ok := p.cfg.Runner.(interface{ Shutdown() }); ok {
		s.Shutdown()
	}
}

// NotifyPods implements node.PodNotifier.
func (p *Provider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.notifyMu.Lock()
	p.notify = cb
	p.notifyMu.Unlock()
}

func (p *Provider) deliver(pod *corev1.Pod) {
	p.notifyMu.Lock()
	cb := p.notify
	p.notifyMu.Unlock()
	if cb != nil {
		cb(pod)
	}
}

// CreatePod implements node.PodLifecycleHandler. It returns once the pod's
// address is allocated and its containers' supervisors are started; status
// then flows through the NotifyPods callback.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	if old, ok := p.pods[key]; ok {
		p.mu.Unlock()
		if old.uid() == pod.UID {
			return nil
		}
		return fmt.Errorf("create pod %s: the previous pod of that name (uid %s) is still terminating", key, old.uid())
	}
	ip, err := p.cfg.IPAM.Allocate(key + "/" + string(pod.UID))
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("create pod %s: %w", key, err)
	}
	ps := newPodState(pod, ip, filepath.Join(p.cfg.StateDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)), p.cfg.HostIP)
	if p.cfg.Network != nil {
		if ps.gid, err = p.cfg.Network.Attach(ctx, ip); err != nil {
			p.cfg.IPAM.Release(ps.ipOwner())
			p.mu.Unlock()
			return fmt.Errorf("create pod %s: %w", key, err)
		}
	}
	p.pods[key] = ps
	p.mu.Unlock()

	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
		log.G(ctx).WithError(err).Warn("create pod dir")
	}
	for _, cs := range ps.containers {
		p.resolveImage(cs)
	}
	p.refreshHosts()
	go p.notifier(ps)
	for _, cs := range ps.containers {
		if cs.binary == "" {
			continue
		}
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			p.supervise(ps, cs)
		}()
	}
	go p.reap(ps)
	ps.changed()
	log.G(ctx).WithField("pod", key).WithField("ip", ip.String()).Info("pod created")
	return nil
}

// resolveImage looks the container's image up; an unknown image or a
// missing binary leaves the container waiting with reason ErrImagePull.
func (p *Provider) resolveImage(cs *containerState) {
	bin, ok := p.cfg.Images.Lookup(cs.spec.Image)
	switch {
	case !ok:
		cs.state = waiting(ReasonErrImagePull, fmt.Sprintf("image %q is not in the local kubelet's image table", cs.spec.Image))
		return
	case bin == HostCommand:
		if len(cs.spec.Command) == 0 {
			cs.state = waiting(ReasonErrImagePull, fmt.Sprintf("image %q maps to the container's command, but the container has none", cs.spec.Image))
			return
		}
	default:
		if _, err := os.Stat(bin); err != nil {
			cs.state = waiting(ReasonErrImagePull, fmt.Sprintf("image %q maps to %s: %v", cs.spec.Image, bin, err))
			return
		}
	}
	cs.binary = bin
}

// UpdatePod implements node.PodLifecycleHandler. A pod's containers are
// immutable; labels and annotations (visible to the downward API) are kept.
func (p *Provider) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	ps := p.lookup(pod.Namespace, pod.Name)
	if ps == nil || ps.uid() != pod.UID {
		return errdefs.NotFoundf("pod %s/%s not found", pod.Namespace, pod.Name)
	}
	ps.mu.Lock()
	ps.pod.ObjectMeta = *pod.ObjectMeta.DeepCopy()
	ps.mu.Unlock()
	ps.changed()
	return nil
}

// DeletePod implements node.PodLifecycleHandler. It starts stopping the
// pod's processes (SIGTERM, the grace period, SIGKILL) and returns; the
// terminal status is delivered through NotifyPods when every process is gone,
// and then the pod's address is released.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	ps := p.lookup(pod.Namespace, pod.Name)
	if ps == nil || ps.uid() != pod.UID {
		return errdefs.NotFoundf("pod %s/%s not found", pod.Namespace, pod.Name)
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		grace = *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	ps.mu.Lock()
	if !ps.deleting {
		ps.deleting = true
		ps.grace = time.Duration(grace) * time.Second
		ps.pod.DeletionTimestamp = pod.DeletionTimestamp
		ps.pod.DeletionGracePeriodSeconds = pod.DeletionGracePeriodSeconds
	}
	ps.mu.Unlock()
	ps.cancel()
	log.G(ctx).WithField("pod", podKey(pod.Namespace, pod.Name)).WithField("grace", grace).Info("deleting pod")
	return nil
}

// GetPod implements node.PodLifecycleHandler.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	ps := p.lookup(namespace, name)
	if ps == nil {
		return nil, errdefs.NotFoundf("pod %s/%s not found", namespace, name)
	}
	pod, _ := ps.snapshot()
	return pod, nil
}

// GetPodStatus implements node.PodLifecycleHandler.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods implements node.PodLifecycleHandler.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	all := make([]*podState, 0, len(p.pods))
	for _, ps := range p.pods {
		all = append(all, ps)
	}
	p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(all))
	for _, ps := range all {
		pod, _ := ps.snapshot()
		pods = append(pods, pod)
	}
	sort.Slice(pods, func(i, j int) bool {
		return podKey(pods[i].Namespace, pods[i].Name) < podKey(pods[j].Namespace, pods[j].Name)
	})
	return pods, nil
}

func (p *Provider) lookup(namespace, name string) *podState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pods[podKey(namespace, name)]
}

// notifier delivers the pod's newest status on every change, and after the
// terminal status of a deleted pod forgets the pod and frees its address.
func (p *Provider) notifier(ps *podState) {
	for range ps.wake {
		pod, final := ps.snapshot()
		p.deliver(pod)
		// Readiness decides which pods back a Service.
		p.refreshHosts()
		if final {
			p.forget(ps)
			if p.cfg.RemovePod != nil {
				if err := p.cfg.RemovePod(context.Background(), pod.Namespace, pod.Name, pod.UID); err != nil {
					log.L.WithError(err).WithField("pod", ps.key).Warn("remove the pod object")
				}
			}
			return
		}
	}
}

// reap waits until every container has stopped for good and the pod is
// deleted, then marks the pod final so the notifier sends its last status.
func (p *Provider) reap(ps *podState) {
	ps.wg.Wait()
	<-ps.ctx.Done()
	ps.mu.Lock()
	ps.final = true
	ps.mu.Unlock()
	ps.changed()
}

func (p *Provider) forget(ps *podState) {
	p.mu.Lock()
	if p.pods[ps.key] == ps {
		delete(p.pods, ps.key)
	}
	p.mu.Unlock()
	if p.cfg.Network != nil {
		if err := p.cfg.Network.Detach(context.Background(), ps.ip); err != nil {
			log.L.WithError(err).Warn("detach pod network")
		}
	}
	p.cfg.IPAM.Release(ps.ipOwner())
	p.refreshHosts()
	if err := os.RemoveAll(ps.dir); err != nil {
		log.L.WithError(err).Warn("remove pod dir")
	}
}

// GetContainerLogs implements nodeutil.Provider: it serves the output of
// the container's current instance, or with Previous of its last terminated
// one, honouring Tail, LimitBytes and Follow (logs.go).
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	ps := p.lookup(namespace, podName)
	if ps == nil {
		return nil, errdefs.NotFoundf("pod %s/%s not found", namespace, podName)
	}
	return ps.containerLogs(ctx, containerName, opts)
}

// PodIP returns the address given to a pod, for tests and tools.
func (p *Provider) PodIP(namespace, name string) (netip.Addr, bool) {
	ps := p.lookup(namespace, name)
	if ps == nil {
		return netip.Addr{}, false
	}
	return ps.ip, true
}

// LogPath returns where a container's output goes.
func (p *Provider) LogPath(namespace, name, container string) (string, bool) {
	ps := p.lookup(namespace, name)
	if ps == nil {
		return "", false
	}
	return ps.logPath(container), true
}

// timeNow is the provider's clock for status timestamps.
func timeNow() metav1.Time { return metav1.Now() }
