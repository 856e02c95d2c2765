package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
)

// backoffResetAfter is how long a container must run for its restart
// backoff to start over, as the kubelet's does after a quiet period.
const backoffResetAfter = 10 * time.Minute

// supervise runs one container for the life of its pod: start, probe, wait,
// restart per restartPolicy with backoff, and stop when the pod is deleted.
func (p *Provider) supervise(ps *podState, cs *containerState) {
	backoff := p.cfg.BackoffBase
	for {
		ran, exit, err := p.runOnce(ps, cs)
		if ps.ctx.Err() != nil {
			return
		}
		if err != nil {
			log.L.WithError(err).WithField("container", cs.spec.Name).Warn("container did not start")
		}
		if !shouldRestart(ps.pod.Spec.RestartPolicy, exit, err) {
			return
		}
		if ran >= backoffResetAfter {
			backoff = p.cfg.BackoffBase
		}
		ps.mu.Lock()
		// A config error never made a container, so it does not count as a restart.
		counts := cs.state.Terminated != nil
		if counts {
			cs.lastState = cs.state
		}
		// A config error keeps its own reason while the next attempt waits.
		if cs.state.Waiting == nil || cs.state.Waiting.Reason != ReasonCreateContainerConfigError {
			cs.state = waiting(ReasonCrashLoopBackOff, fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s",
				backoff, cs.spec.Name, ps.pod.Name, ps.pod.Namespace))
		}
		ps.mu.Unlock()
		ps.changed()
		select {
		case <-ps.ctx.Done():
			p.markStoppedWhileWaiting(ps, cs)
			return
		case <-time.After(backoff):
		}
		// Counted when the restart happens, as the kubelet counts containers it re-creates.
		if counts {
			ps.mu.Lock()
			cs.restarts++
			ps.mu.Unlock()
		}
		backoff = min(2*backoff, p.cfg.BackoffMax)
	}
}

// shouldRestart applies the pod's restartPolicy to how the container ended:
// Never stops, OnFailure retries start errors and non-zero exits, Always
// retries everything.
func shouldRestart(policy corev1.RestartPolicy, exit ExitStatus, startErr error) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return startErr != nil || exit.Code != 0
	}
	return true
}

// markStoppedWhileWaiting records a terminal state for a container deleted
// during its backoff, so the pod's final status has every container terminated.
func (p *Provider) markStoppedWhileWaiting(ps *podState, cs *containerState) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if cs.state.Terminated == nil {
		if cs.lastState.Terminated != nil {
			cs.state = cs.lastState
		} else {
			now := timeNow()
			cs.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: ReasonCompleted, StartedAt: now, FinishedAt: now}}
		}
	}
	cs.ready = false
}

// runOnce starts the container's process and waits for it to end. It
// returns how long the process ran and how it ended, or the error that kept
// it from starting.
func (p *Provider) runOnce(ps *podState, cs *containerState) (time.Duration, ExitStatus, error) {
	spec, err := p.processSpec(ps, cs)
	if err != nil {
		ps.mu.Lock()
		cs.state = waiting(ReasonCreateContainerConfigError, err.Error())
		ps.mu.Unlock()
		ps.changed()
		return 0, ExitStatus{}, err
	}
	defer spec.Log.Close()
	// The previous instance's output ends here; this one's starts (logs.go).
	logStart := ps.endLogInstance(cs, spec.Log)
	proc, err := p.cfg.Runner.Start(spec)
	if err != nil {
		now := timeNow()
		ps.mu.Lock()
		cs.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: ReasonStartError, Message: err.Error(), StartedAt: now, FinishedAt: now,
		}}
		ps.mu.Unlock()
		ps.changed()
		return 0, ExitStatus{Code: 128}, err
	}

	started := timeNow()
	ps.mu.Lock()
	cs.instance++
	instance := cs.instance
	cs.containerID = fmt.Sprintf("local://%s_%s_%s_%d", ps.pod.Namespace, ps.pod.Name, cs.spec.Name, proc.Pid())
	cs.logStartLocked(cs.containerID, logStart)
	cs.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	cs.ready = cs.spec.ReadinessProbe == nil && cs.spec.StartupProbe == nil
	cs.started = cs.spec.StartupProbe == nil
	ps.mu.Unlock()
	ps.changed()

	exited := make(chan ExitStatus, 1)
	go func() { exited <- proc.Wait() }()
	probeCtx, stopProbes := context.WithCancel(context.Background())
	kill := make(chan string, 1)
	go p.probe(probeCtx, ps, cs, instance, probeTarget{PodIP: ps.ip.String(), Ports: cs.spec.Ports, Env: spec.Env, Dir: spec.Dir, GID: spec.GID}, kill)

	var exit ExitStatus
	select {
	case exit = <-exited:
	case <-ps.ctx.Done():
		ps.mu.Lock()
		grace := ps.grace
		ps.mu.Unlock()
		exit = terminate(proc, grace, exited)
	case why := <-kill:
		fmt.Fprintf(spec.Log, "local-kubelet: %s, restarting\n", why)
		exit = terminate(proc, p.gracePeriod(ps), exited)
	}
	stopProbes()

	finished := timeNow()
	reason := ReasonCompleted
	if exit.Code != 0 {
		reason = ReasonError
	}
	ps.mu.Lock()
	cs.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: exit.Code, Reason: reason, StartedAt: started, FinishedAt: finished, ContainerID: cs.containerID,
	}}
	if exit.Signal != 0 {
		cs.state.Terminated.Signal = int32(exit.Signal)
	}
	cs.ready = false
	ps.mu.Unlock()
	ps.changed()
	return finished.Sub(started.Time), exit, nil
}

// gracePeriod is the pod spec's termination grace period.
func (p *Provider) gracePeriod(ps *podState) time.Duration {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if g := ps.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// terminate sends SIGTERM, waits up to grace for the process to exit, then
// sends SIGKILL, and returns how the process ended.
func terminate(proc Process, grace time.Duration, exited <-chan ExitStatus) ExitStatus {
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		log.L.WithError(err).Warn("SIGTERM")
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case exit := <-exited:
		return exit
	case <-timer.C:
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		log.L.WithError(err).Warn("SIGKILL")
	}
	return <-exited
}

// processSpec turns the container into a process: program, argv, env and log.
func (p *Provider) processSpec(ps *podState, cs *containerState) (ProcessSpec, error) {
	ps.mu.Lock()
	pod := ps.pod.DeepCopy()
	ps.mu.Unlock()
	env, err := containerEnv(pod, &cs.spec, podFacts{PodIP: ps.ip.String(), HostIP: ps.hostIP}, p.cfg.Objects)
	if err != nil {
		return ProcessSpec{}, err
	}
	env = append(append(append([]string{}, p.cfg.BaseEnv...), "HOSTNAME="+podHostname(pod)), env...)
	vars := envMap(env)

	path, args, err := commandLine(cs.binary, cs.spec.Command, cs.spec.Args, vars)
	if err != nil {
		return ProcessSpec{}, err
	}
	logFile, err := os.OpenFile(ps.logPath(cs.spec.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return ProcessSpec{}, fmt.Errorf("open container log: %w", err)
	}
	var mounts []Mount
	if hosts := p.hostsPath(pod.Namespace); hosts != "" {
		mounts = append(mounts, Mount{Source: hosts, Target: "/etc/hosts"})
	}
	if len(cs.spec.VolumeMounts) > 0 {
		if !p.cfg.HostsFiles {
			if err := onlyProjectedMounts(pod, &cs.spec); err != nil {
				logFile.Close()
				return ProcessSpec{}, err
			}
			return ProcessSpec{Path: path, Args: args, Env: env, Dir: ps.dir, Log: logFile, GID: ps.gid}, nil
		}
		dirs, err := p.prepareVolumes(ps.ctx, ps, pod)
		if err != nil {
			logFile.Close()
			return ProcessSpec{}, err
		}
		vm, err := containerMounts(&cs.spec, dirs)
		if err != nil {
			logFile.Close()
			return ProcessSpec{}, err
		}
		mounts = append(mounts, vm...)
	}
	return ProcessSpec{Path: path, Args: args, Env: env, Dir: ps.dir, Log: logFile, Mounts: mounts, Hostname: podHostname(pod), GID: ps.gid}, nil
}

// commandLine builds the program and argv[1:]. The image's binary is the
// entrypoint; a container command's first word names that entrypoint inside
// the image and is replaced by the binary, the rest are kept. For images
// mapped to HostCommand, command[0] is looked up on the host's PATH.
func commandLine(binary string, command, args []string, vars map[string]string) (string, []string, error) {
	var argv []string
	for _, a := range command {
		argv = append(argv, expand(a, vars))
	}
	for _, a := range args {
		argv = append(argv, expand(a, vars))
	}
	if binary == HostCommand {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return "", nil, fmt.Errorf("command %q: %w", argv[0], err)
		}
		return path, argv[1:], nil
	}
	if len(command) > 0 {
		argv = argv[1:]
	}
	return binary, argv, nil
}

// podHostname is the pod's hostname: spec.hostname or the pod name.
func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// probe runs the container instance's startup, readiness and liveness probes
// until ctx ends. It sets started and ready, and asks for a restart on kill
// when the startup or liveness probe fails its threshold.
func (p *Provider) probe(ctx context.Context, ps *podState, cs *containerState, instance int, t probeTarget, kill chan<- string) {
	spec := cs.spec
	if spec.StartupProbe != nil {
		ok := runProbeLoop(ctx, spec.StartupProbe, t, func(bool) bool { return true })
		if ctx.Err() != nil {
			return
		}
		if !ok {
			kill <- "startup probe failed"
			return
		}
		ps.mu.Lock()
		if cs.instance == instance {
			cs.started = true
			cs.ready = spec.ReadinessProbe == nil
		}
		ps.mu.Unlock()
		ps.changed()
	}
	if spec.LivenessProbe != nil {
		go func() {
			ok := runProbeLoop(ctx, spec.LivenessProbe, t, func(ok bool) bool { return !ok })
			if !ok && ctx.Err() == nil {
				select {
				case kill <- "liveness probe failed":
				default:
				}
			}
		}()
	}
	if spec.ReadinessProbe != nil {
		runProbeLoop(ctx, spec.ReadinessProbe, t, func(ready bool) bool {
			ps.mu.Lock()
			changed := cs.instance == instance && cs.ready != ready
			if changed {
				cs.ready = ready
			}
			ps.mu.Unlock()
			if changed {
				ps.changed()
			}
			return false
		})
	}
}

// runProbeLoop runs p every period after its initial delay. Each time the
// success threshold (consecutive successes) or the failure threshold
// (consecutive failures) is reached it calls onVerdict with the verdict; when
// onVerdict returns true the loop stops and returns that verdict. It returns
// false when ctx ends.
func runProbeLoop(ctx context.Context, p *corev1.Probe, t probeTarget, onVerdict func(ok bool) (stop bool)) bool {
	period := time.Duration(p.PeriodSeconds) * time.Second
	if period <= 0 {
		period = 10 * time.Second
	}
	successThreshold, failureThreshold := max(p.SuccessThreshold, 1), p.FailureThreshold
	if failureThreshold <= 0 {
		failureThreshold = 3
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	var successes, failures int32
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		ok, _ := runProbe(ctx, p, t)
		if ctx.Err() != nil {
			return false
		}
		if ok {
			successes, failures = successes+1, 0
			if successes >= successThreshold && onVerdict(true) {
				return true
			}
		} else {
			successes, failures = 0, failures+1
			if failures >= failureThreshold && onVerdict(false) {
				return false
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// onlyProjectedMounts is the check made when mount namespaces are off: the
// projected service-account volume the API server adds to every pod is
// skipped (programs that need in-cluster credentials will not find them),
// any other volume mount is an error rather than a silent loss of data.
func onlyProjectedMounts(pod *corev1.Pod, c *corev1.Container) error {
	projected := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		projected[v.Name] = v.Projected != nil
	}
	for _, vm := range c.VolumeMounts {
		if !projected[vm.Name] {
			return fmt.Errorf("volume mount %s needs mount namespaces (--hosts-files)", vm.Name)
		}
	}
	return nil
}
