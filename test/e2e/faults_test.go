package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// Fault handles: what a node crash or a stalled machine does to a pod's
// containers, applied to the process group the local kubelet runs for the
// pod. The kubelet starts every container of a pod in the pod's directory
// under its state dir, in a process group of its own.

// killPod kills pod's processes with SIGKILL, as a crash of its node would.
func (e *env) killPod(pod *corev1.Pod) error { return e.signalPod(pod, syscall.SIGKILL) }

// pausePod stops pod's processes (SIGSTOP): they hold their sockets and
// answer nothing, as a stalled machine does. resumePod lets them go on.
func (e *env) pausePod(pod *corev1.Pod) error  { return e.signalPod(pod, syscall.SIGSTOP) }
func (e *env) resumePod(pod *corev1.Pod) error { return e.signalPod(pod, syscall.SIGCONT) }

func (e *env) signalPod(pod *corev1.Pod, sig syscall.Signal) error {
	groups, err := e.podProcessGroups(pod)
	if err != nil {
		return err
	}
	for _, pgid := range groups {
		if err := syscall.Kill(-pgid, sig); err != nil {
			return fmt.Errorf("signal %v to process group %d of pod %s: %w", sig, pgid, pod.Name, err)
		}
	}
	return nil
}

// podProcessGroups returns the process groups of the processes whose working
// directory is pod's directory.
func (e *env) podProcessGroups(pod *corev1.Pod) ([]int, error) {
	dir := filepath.Join(e.kubeletDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var groups []int
	for _, d := range entries {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", d.Name(), "cwd"))
		if err != nil || cwd != dir {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// Fields after the command, which is in parentheses and may hold spaces:
		// state, ppid, pgrp.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 3 {
			continue
		}
		pgid, err := strconv.Atoi(fields[2])
		if err == nil && !seen[pgid] {
			seen[pgid] = true
			groups = append(groups, pgid)
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("no process of pod %s runs in %s", pod.Name, dir)
	}
	return groups, nil
}
