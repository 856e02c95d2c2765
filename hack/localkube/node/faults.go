package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// The fault handles act on the node recorded in a state directory, so the
// e2e tests (another module, another process) reach them through `localkube
// node kill|pause|resume|cut|heal`. A container is named by its pod
// (namespace/pod) and, for pods of several containers, its name.

// KillContainer SIGKILLs a container's main process (the kubelet then
// restarts it per the pod's restartPolicy, counting a restart).
func KillContainer(ctx context.Context, stateDir, namespace, pod, container string) error {
	return withTask(ctx, stateDir, namespace, pod, container, "kill", "tasks", "kill", "--signal", "SIGKILL")
}

// PauseContainer freezes a container's processes (cgroup freezer): they
// stay, hold their sockets and answer nothing until ResumeContainer.
func PauseContainer(ctx context.Context, stateDir, namespace, pod, container string) error {
	return withTask(ctx, stateDir, namespace, pod, container, "pause", "tasks", "pause")
}

// ResumeContainer thaws a container PauseContainer froze.
func ResumeContainer(ctx context.Context, stateDir, namespace, pod, container string) error {
	return withTask(ctx, stateDir, namespace, pod, container, "resume", "tasks", "resume")
}

func withTask(ctx context.Context, stateDir, namespace, pod, container, what string, ctrArgs ...string) error {
	st, api, err := openNode(stateDir)
	if err != nil {
		return err
	}
	defer api.close()
	id, err := containerID(ctx, api, namespace, pod, container)
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", what, namespace, pod, err)
	}
	if _, err := ctr(ctx, st.Ctr, st.ContainerdSocket, append(ctrArgs, id)...); err != nil {
		return fmt.Errorf("%s %s/%s: %w", what, namespace, pod, err)
	}
	return nil
}

// ContainerPID is the host pid of a container's main process.
func ContainerPID(ctx context.Context, stateDir, namespace, pod, container string) (int, error) {
	st, api, err := openNode(stateDir)
	if err != nil {
		return 0, err
	}
	defer api.close()
	id, err := containerID(ctx, api, namespace, pod, container)
	if err != nil {
		return 0, err
	}
	return taskPID(ctx, st.Ctr, st.ContainerdSocket, id)
}

// Cut drops all traffic between two pods, both ways, including connections
// already open and traffic through Services (the rules see the pod IPs
// after kube-proxy's DNAT). a and b are pod IPs or namespace/pod names.
//
// Connections already open are cut only if the node's chain comes before
// kube-proxy's KUBE-FORWARD, which accepts every packet of an established
// connection; kube-proxy puts its jumps at the top of FORWARD after the
// node's, so Cut moves the node's jump back to the top first.
func Cut(ctx context.Context, stateDir, a, b string) error {
	if _, err := ReadState(stateDir); err != nil {
		return err
	}
	if err := ensureFirstRule(execIptables{}, "filter", "FORWARD", forwardChain); err != nil {
		return fmt.Errorf("cut: put %s first in FORWARD: %w", forwardChain, err)
	}
	return cutRules(ctx, stateDir, a, b, "-A")
}

// Heal undoes Cut for the same two pods.
func Heal(ctx context.Context, stateDir, a, b string) error {
	return cutRules(ctx, stateDir, a, b, "-D")
}

// HealAll removes every cut.
func HealAll(_ context.Context, stateDir string) error {
	if _, err := ReadState(stateDir); err != nil {
		return err
	}
	return execIptables{}.run("iptables", "-t", "filter", "-F", cutsChain)
}

func cutRules(ctx context.Context, stateDir, a, b, op string) error {
	_, api, err := openNode(stateDir)
	if err != nil {
		return err
	}
	defer api.close()
	ipA, err := podIP(ctx, api, a)
	if err != nil {
		return err
	}
	ipB, err := podIP(ctx, api, b)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range cutRuleArgs(ipA, ipB) {
		if err := (execIptables{}).run("iptables", append([]string{"-t", "filter", op, cutsChain}, r...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cutRuleArgs are the two DROP rules (one per direction) of a cut.
func cutRuleArgs(a, b string) [][]string {
	return [][]string{
		{"-s", a + "/32", "-d", b + "/32", "-j", "DROP"},
		{"-s", b + "/32", "-d", a + "/32", "-j", "DROP"},
	}
}

// podIP resolves a pod IP or a namespace/pod name to the pod's IP.
func podIP(ctx context.Context, api *apiClient, ref string) (string, error) {
	if ip := net.ParseIP(ref); ip != nil && ip.To4() != nil {
		return ip.String(), nil
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return "", fmt.Errorf("%q is neither an IPv4 pod IP nor namespace/pod", ref)
	}
	var p podStatus
	if err := api.get(ctx, "/api/v1/namespaces/"+ns+"/pods/"+name, &p); err != nil {
		return "", err
	}
	if p.Status.PodIP == "" {
		return "", fmt.Errorf("pod %s has no IP yet", ref)
	}
	return p.Status.PodIP, nil
}

// openNode reads a node's state and makes an admin API client from it.
func openNode(stateDir string) (State, *apiClient, error) {
	st, err := ReadState(stateDir)
	if err != nil {
		return st, nil, err
	}
	ca, err := os.ReadFile(st.CACertFile)
	if err != nil {
		return st, nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	api, err := newAPIClient(st.APIServerURL, ca, st.AdminToken)
	return st, api, err
}
