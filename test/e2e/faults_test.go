package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Fault handles: what a node crash, a stalled machine or a broken link does
// to a pod. On the real node they are localkube's `node` commands (SIGKILL of
// the container's processes, the cgroup freezer, iptables rules on the pods'
// bridge); under the process kubelet they act on the process group the
// kubelet runs for the pod (in the pod's directory under its state dir) and
// on the pods' loopback addresses.

// localkubeNode runs `localkube node VERB --state DIR ARGS...` against the
// env's real node.
func (e *env) localkubeNode(verb string, args ...string) error {
	all := append([]string{"node", verb, "--state", e.controlDir}, args...)
	out, err := exec.Command(filepath.Join(buildDir, "localkube"), all...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localkube %s: %w: %s", strings.Join(all, " "), err, out)
	}
	return nil
}

func podRef(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// cutChain is the iptables chain (filter table) holding this test process's
// network cuts; INPUT jumps to it while a cut is in force.
func cutChain() string { return fmt.Sprintf("E2E-CUT-%d", os.Getpid()) }

// netCuts records that cutChain exists for an env.
type netCuts struct{}

// cutNetwork drops every packet between pods a and b, both ways, as a broken
// link between their machines would: both keep running and reach every other
// pod. heal restores the link; cleanup removes the chain.
//
// The local kubelet makes each pod's connections leave from its pod IP
// (--pod-source-addresses), so rules on the two addresses see exactly the
// pods' traffic. They sit in INPUT, which loopback packets reach after source
// NAT; a packet from a to b is dropped there, on the way to b.
func (e *env) cutNetwork(t *testing.T, a, b *corev1.Pod) (heal func()) {
	t.Helper()
	if a.Status.PodIP == "" || b.Status.PodIP == "" {
		t.Fatalf("cut network between %s (%q) and %s (%q): a pod has no IP", a.Name, a.Status.PodIP, b.Name, b.Status.PodIP)
	}
	if e.real {
		return e.cutRealNetwork(t, a.Status.PodIP, b.Status.PodIP)
	}
	chain := cutChain()
	if e.cuts == nil {
		iptables(t, "-N", chain)
		iptables(t, "-I", "INPUT", "1", "-j", chain)
		e.cuts = &netCuts{}
		t.Cleanup(func() {
			iptables(t, "-D", "INPUT", "-j", chain)
			iptables(t, "-F", chain)
			iptables(t, "-X", chain)
			e.cuts = nil
		})
	}
	rules := [][]string{
		{chain, "-s", a.Status.PodIP, "-d", b.Status.PodIP, "-j", "DROP"},
		{chain, "-s", b.Status.PodIP, "-d", a.Status.PodIP, "-j", "DROP"},
	}
	for _, r := range rules {
		iptables(t, append([]string{"-A"}, r...)...)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, r := range rules {
				iptables(t, append([]string{"-D"}, r...)...)
			}
		})
	}
}

// cutRealNetwork cuts the link between two pod IPs on the real node's bridge.
func (e *env) cutRealNetwork(t *testing.T, a, b string) (heal func()) {
	t.Helper()
	if err := e.localkubeNode("cut", a, b); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	heal = func() {
		once.Do(func() {
			if err := e.localkubeNode("heal", a, b); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(heal)
	return heal
}

// iptables runs iptables -w on the filter table; a failure fails the test.
func iptables(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		t.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// killPod kills pod's processes with SIGKILL, as a crash of its node would.
func (e *env) killPod(pod *corev1.Pod) error {
	if e.real {
		return e.localkubeNode("kill", podRef(pod))
	}
	return e.signalPod(pod, syscall.SIGKILL)
}

// pausePod stops pod's processes (the freezer, or SIGSTOP): they hold their
// sockets and answer nothing, as a stalled machine does. resumePod lets them
// go on.
func (e *env) pausePod(pod *corev1.Pod) error {
	if e.real {
		return e.localkubeNode("pause", podRef(pod))
	}
	return e.signalPod(pod, syscall.SIGSTOP)
}

func (e *env) resumePod(pod *corev1.Pod) error {
	if e.real {
		return e.localkubeNode("resume", podRef(pod))
	}
	return e.signalPod(pod, syscall.SIGCONT)
}

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
