package provider

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Container waiting and termination reasons, as the real kubelet reports them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonStartError                 = "StartError"
	ReasonCompleted                  = "Completed"
	ReasonError                      = "Error"
)

// podState is the provider's record of one pod.
type podState struct {
	// key is namespace/name and podUID the pod's uid; both fixed.
	key    string
	podUID types.UID
	// ip is the pod's loopback address; fixed for the pod's life.
	ip netip.Addr
	// gid is the group id the pod's processes run with (PodNetwork); 0
	// means the kubelet's own.
	gid uint32
	// dir holds the pod's container logs.
	dir string
	// hostIP is the node's address.
	hostIP string
	// ctx is cancelled when the pod is deleted.
	ctx    context.Context
	cancel context.CancelFunc
	// wake has room for one pending wake-up of the notifier; more changes
	// while one is pending fold into it.
	wake chan struct{}
	// wg counts running supervisors.
	wg sync.WaitGroup

	mu sync.Mutex
	// pod is the pod as last given by virtual-kubelet; its status is ignored
	// except for the fields the API server owns (qosClass, foreign conditions).
	pod *corev1.Pod
	// startTime is when the provider accepted the pod.
	startTime metav1.Time
	// containers are in spec order.
	containers []*containerState
	// conditions remembers each owned condition's status and transition time.
	conditions map[corev1.PodConditionType]corev1.PodCondition
	// deleting is set by DeletePod; grace is the time between SIGTERM and SIGKILL.
	deleting bool
	grace    time.Duration
	// final is set once every process is gone after deletion.
	// Invariant: final implies deleting and no supervisor is running.
	final bool
}

// containerState is one container's runtime state. Fields are guarded by
// the pod's mu.
type containerState struct {
	spec corev1.Container
	// binary is the resolved program; empty when the image is unknown.
	binary string
	// state and lastState are reported as State and LastTerminationState.
	state, lastState corev1.ContainerState
	restarts         int32
	// ready is the readiness probe's verdict (true once running without a probe).
	ready bool
	// started is the startup probe's verdict.
	started bool
	// containerID names the current process instance.
	containerID string
	// instance counts process starts, so a probe of an old instance cannot
	// change the state of a newer one.
	instance int
	// logs locates the newest instances' output in the log file (logs.go).
	logs logHistory
}

func newPodState(pod *corev1.Pod, ip netip.Addr, dir, hostIP string) *podState {
	ctx, cancel := context.WithCancel(context.Background())
	ps := &podState{
		key:        podKey(pod.Namespace, pod.Name),
		podUID:     pod.UID,
		ip:         ip,
		dir:        dir,
		hostIP:     hostIP,
		ctx:        ctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		pod:        pod.DeepCopy(),
		startTime:  timeNow(),
		conditions: map[corev1.PodConditionType]corev1.PodCondition{},
	}
	for _, c := range pod.Spec.Containers {
		ps.containers = append(ps.containers, &containerState{
			spec:  *c.DeepCopy(),
			state: waiting(ReasonContainerCreating, ""),
		})
	}
	return ps
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func (ps *podState) uid() types.UID { return ps.podUID }

// ipOwner is the pod's key in the address allocator.
func (ps *podState) ipOwner() string { return ps.key + "/" + string(ps.podUID) }

// changed wakes the notifier.
func (ps *podState) changed() {
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

func (ps *podState) logPath(container string) string {
	return filepath.Join(ps.dir, container+".log")
}

// snapshot returns a copy of the pod with its current status, and whether it
// is the final status of a deleted pod.
func (ps *podState) snapshot() (*corev1.Pod, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pod := ps.pod.DeepCopy()
	pod.Status = ps.statusLocked()
	return pod, ps.final
}

func (ps *podState) statusLocked() corev1.PodStatus {
	st := corev1.PodStatus{
		Phase:              ps.phaseLocked(),
		HostIP:             ps.hostIP,
		PodIP:              ps.ip.String(),
		PodIPs:             []corev1.PodIP{{IP: ps.ip.String()}},
		StartTime:          ps.startTime.DeepCopy(),
		QOSClass:           ps.pod.Status.QOSClass,
		ObservedGeneration: ps.pod.Generation,
	}
	if ps.hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: ps.hostIP}}
	}
	allReady := true
	for _, cs := range ps.containers {
		started := cs.started
		cst := corev1.ContainerStatus{
			Name:                 cs.spec.Name,
			State:                *cs.state.DeepCopy(),
			LastTerminationState: *cs.lastState.DeepCopy(),
			Ready:                cs.ready && cs.state.Running != nil,
			RestartCount:         cs.restarts,
			Image:                cs.spec.Image,
			ContainerID:          cs.containerID,
			Started:              &started,
		}
		if cs.binary != "" {
			cst.ImageID = "local://" + cs.binary
		}
		allReady = allReady && cst.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cst)
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	ready := allReady && !terminal && !ps.deleting
	owned := []struct {
		t  corev1.PodConditionType
		ok bool
	}{
		{corev1.PodReadyToStartContainers, !terminal},
		{corev1.PodInitialized, true},
		{corev1.ContainersReady, ready},
		{corev1.PodReady, ready},
		{corev1.PodScheduled, true},
	}
	for _, o := range owned {
		st.Conditions = append(st.Conditions, ps.conditionLocked(o.t, o.ok))
	}
	// Keep conditions other components own (DisruptionTarget, readiness gates).
	for _, c := range ps.pod.Status.Conditions {
		if _, ours := ps.conditions[c.Type]; !ours {
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}

// conditionLocked returns the condition with status ok, keeping its last
// transition time unless the status changed.
func (ps *podState) conditionLocked(t corev1.PodConditionType, ok bool) corev1.PodCondition {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	c, seen := ps.conditions[t]
	if !seen || c.Status != status {
		c = corev1.PodCondition{Type: t, Status: status, LastTransitionTime: timeNow()}
		if !ok && (t == corev1.PodReady || t == corev1.ContainersReady) {
			c.Reason = "ContainersNotReady"
		}
		ps.conditions[t] = c
	}
	c.ObservedGeneration = ps.pod.Generation
	return c
}

// phaseLocked derives the pod phase from its containers, as the kubelet does:
// Pending until every container has started once; Running while any runs or
// will be restarted; Succeeded or Failed when all have stopped for good.
func (ps *podState) phaseLocked() corev1.PodPhase {
	var running, restarting, stopped, failed int
	for _, cs := range ps.containers {
		switch {
		case cs.state.Running != nil:
			running++
		case cs.state.Terminated != nil:
			stopped++
			if cs.state.Terminated.ExitCode != 0 {
				failed++
			}
		case cs.lastState.Terminated != nil:
			restarting++
		default:
			return corev1.PodPending
		}
	}
	if running > 0 || restarting > 0 {
		return corev1.PodRunning
	}
	if stopped == len(ps.containers) && ps.pod.Spec.RestartPolicy == corev1.RestartPolicyAlways && !ps.deleting {
		// Between exit and the restart decision.
		return corev1.PodRunning
	}
	if failed > 0 {
		return corev1.PodFailed
	}
	return corev1.PodSucceeded
}
