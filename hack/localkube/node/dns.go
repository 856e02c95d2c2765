package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/raftkube/raftkube/hack/localkube/controlplane"
)

// dnsConfig is what the CoreDNS manifests depend on.
type dnsConfig struct {
	Image     string // the CoreDNS image (imported, never pulled)
	ServiceIP string // the kube-dns Service's cluster IP (the kubelet's clusterDNS)
}

// corefile serves only the cluster's zones: no `forward`, since the host's
// resolver is off the machine and nothing may query it.
const corefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ` + ClusterDomain + ` in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loop
    reload
}
`

const (
	dnsNamespace = "kube-system"
	dnsName      = "coredns"
	dnsService   = "kube-dns"
	// dnsUser is the image's user: CoreDNS runs as non-root.
	dnsUser = 65532
)

// dnsObjects are the manifests of the cluster DNS: CoreDNS's ServiceAccount,
// ClusterRole (what its kubernetes plugin lists and watches) and binding,
// its Corefile, a one-replica Deployment and the kube-dns Service.
func dnsObjects(c dnsConfig) []object {
	labels := map[string]any{"k8s-app": dnsService}
	ns := "/api/v1/namespaces/" + dnsNamespace
	return []object{
		{ns + "/serviceaccounts", map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{"name": dnsName, "namespace": dnsNamespace},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "system:coredns"},
			"rules": []any{
				map[string]any{"apiGroups": []string{""}, "resources": []string{"endpoints", "services", "pods", "namespaces"}, "verbs": []string{"list", "watch"}},
				map[string]any{"apiGroups": []string{"discovery.k8s.io"}, "resources": []string{"endpointslices"}, "verbs": []string{"list", "watch"}},
			},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": "system:coredns"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": dnsName, "namespace": dnsNamespace}},
		}},
		{ns + "/configmaps", map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": dnsName, "namespace": dnsNamespace},
			"data":     map[string]string{"Corefile": corefile},
		}},
		{"/apis/apps/v1/namespaces/" + dnsNamespace + "/deployments", map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": dnsName, "namespace": dnsNamespace, "labels": labels},
			"spec": map[string]any{
				"replicas": 1,
				"selector": map[string]any{"matchLabels": labels},
				"template": map[string]any{
					"metadata": map[string]any{"labels": labels},
					"spec":     dnsPodSpec(c),
				},
			},
		}},
		{ns + "/services", map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": dnsService, "namespace": dnsNamespace, "labels": labels},
			"spec": map[string]any{
				"clusterIP": c.ServiceIP,
				"selector":  labels,
				"ports": []any{
					map[string]any{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
					map[string]any{"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
				},
			},
		}},
	}
}

// dnsPodSpec runs CoreDNS as non-root with no capabilities. Port 53 is
// below the unprivileged port range, and containerd gives a non-root process
// no ambient capabilities (NET_BIND_SERVICE would not survive its exec), so
// the pod lowers ip_unprivileged_port_start in its own network namespace: a
// namespaced, "safe" sysctl every kubelet allows.
func dnsPodSpec(c dnsConfig) map[string]any {
	probe := func(path string, port int) map[string]any {
		return map[string]any{
			"httpGet":          map[string]any{"path": path, "port": port, "scheme": "HTTP"},
			"periodSeconds":    1,
			"timeoutSeconds":   1,
			"failureThreshold": 5,
		}
	}
	return map[string]any{
		"serviceAccountName":            dnsName,
		"priorityClassName":             "system-cluster-critical",
		"dnsPolicy":                     "Default",
		"terminationGracePeriodSeconds": 0,
		"securityContext": map[string]any{
			"runAsNonRoot":   true,
			"runAsUser":      dnsUser,
			"runAsGroup":     dnsUser,
			"seccompProfile": map[string]string{"type": "RuntimeDefault"},
			"sysctls":        []any{map[string]string{"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}},
		},
		"containers": []any{map[string]any{
			"name":            dnsName,
			"image":           c.Image,
			"imagePullPolicy": "Never",
			"args":            []string{"-conf", "/etc/coredns/Corefile"},
			"ports": []any{
				map[string]any{"name": "dns", "containerPort": 53, "protocol": "UDP"},
				map[string]any{"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
				map[string]any{"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
			},
			"resources": map[string]any{
				"requests": map[string]string{"cpu": "50m", "memory": "32Mi"},
				"limits":   map[string]string{"memory": "128Mi"},
			},
			"readinessProbe": probe("/ready", 8181),
			"livenessProbe":  probe("/health", 8080),
			"volumeMounts":   []any{map[string]any{"name": "config", "mountPath": "/etc/coredns", "readOnly": true}},
			"securityContext": map[string]any{
				"allowPrivilegeEscalation": false,
				"readOnlyRootFilesystem":   true,
				"capabilities":             map[string]any{"drop": []string{"ALL"}},
			},
		}},
		"volumes": []any{map[string]any{
			"name":      "config",
			"configMap": map[string]any{"name": dnsName, "items": []any{map[string]string{"key": "Corefile", "path": "Corefile"}}},
		}},
	}
}

// kubernetesFQDN is the kubernetes Service's name, which CoreDNS answers
// from the apiserver's data once its kubernetes plugin has synced.
const kubernetesFQDN = "kubernetes.default.svc." + ClusterDomain

// resolver asks only server (host:port) over UDP, whatever /etc/resolv.conf says.
func resolver(server string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// waitDNS polls the kube-dns Service's IP from the host (kube-proxy's OUTPUT
// rules carry it to the CoreDNS pod) until it resolves the kubernetes
// Service to want.
func waitDNS(parent context.Context, serviceIP, want string, procs []*controlplane.Process, timeout time.Duration) error {
	r := resolver(net.JoinHostPort(serviceIP, "53"))
	last := "no answer"
	return poll(parent, timeout, 200*time.Millisecond, procs, func(ctx context.Context) (bool, error) {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		addrs, err := r.LookupHost(qctx, kubernetesFQDN+".")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if !slices.Contains(addrs, want) {
			last = fmt.Sprintf("%s -> %v", kubernetesFQDN, addrs)
			return false, nil
		}
		return true, nil
	}, func() string { return "answer from CoreDNS at " + serviceIP + " (last: " + last + ")" })
}

// probePodName is the pod Start resolves a Service name in, then deletes.
const probePodName = "localkube-dns-probe"

// probePod is a pause pod to resolve a name in (probeDNSFromPod).
func probePod(nodeName, pauseImage string) object {
	return object{"/api/v1/namespaces/" + dnsNamespace + "/pods", map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": probePodName, "namespace": dnsNamespace},
		"spec": map[string]any{
			// Bound here, not by the scheduler: one node, and a second saved.
			"nodeName":                      nodeName,
			"terminationGracePeriodSeconds": 0,
			"automountServiceAccountToken":  false,
			"containers": []any{map[string]any{
				"name": "pause", "image": pauseImage, "imagePullPolicy": "Never",
			}},
		},
	}}
}

// probeDNSFromPod waits for the probe pod (created with the DNS objects)
// and, in its network namespace with its resolv.conf (what the kubelet gave
// it: the cluster DNS and the search path), resolves the short name
// "kubernetes.default", as any pod would: through the bridge, kube-proxy's
// DNAT and CoreDNS. It deletes the pod before returning.
func probeDNSFromPod(ctx context.Context, api *apiClient, h helperCmd, ctrBin, socket, want string, procs []*controlplane.Process, timeout time.Duration) error {
	podPath := "/api/v1/namespaces/" + dnsNamespace + "/pods"
	defer func() {
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = api.do(delCtx, http.MethodDelete, podPath+"/"+probePodName+"?gracePeriodSeconds=0", nil, nil)
	}()
	var pid int
	last := "no container yet"
	err := poll(ctx, timeout, 100*time.Millisecond, procs, func(ctx context.Context) (bool, error) {
		id, err := containerID(ctx, api, dnsNamespace, probePodName, "")
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if pid, err = taskPID(ctx, ctrBin, socket, id); err != nil {
			last = err.Error()
			return false, nil
		}
		return true, nil
	}, func() string { return "running probe pod (last: " + last + ")" })
	if err != nil {
		return err
	}
	name := "kubernetes.default"
	return poll(ctx, timeout, 200*time.Millisecond, procs, func(ctx context.Context) (bool, error) {
		addrs, err := h.lookupInPod(ctx, pid, name)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if !slices.Contains(addrs, want) {
			last = fmt.Sprintf("%s -> %v", name, addrs)
			return false, nil
		}
		return true, nil
	}, func() string { return "resolution of " + name + " in a pod (last: " + last + ")" })
}

// podStatus is the part of a Pod the node reads.
type podStatus struct {
	Status struct {
		Phase             string `json:"phase"`
		PodIP             string `json:"podIP"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			ContainerID  string `json:"containerID"`
			RestartCount int    `json:"restartCount"`
			State        struct {
				Running *struct{} `json:"running"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// containerID returns the containerd id of a running container of a pod
// (container "" is the first).
func containerID(ctx context.Context, api *apiClient, namespace, pod, container string) (string, error) {
	var p podStatus
	if err := api.get(ctx, "/api/v1/namespaces/"+namespace+"/pods/"+pod, &p); err != nil {
		return "", err
	}
	for _, cs := range p.Status.ContainerStatuses {
		if container != "" && cs.Name != container {
			continue
		}
		if cs.State.Running == nil {
			return "", fmt.Errorf("container %s of %s/%s is not running", cs.Name, namespace, pod)
		}
		id, ok := strings.CutPrefix(cs.ContainerID, "containerd://")
		if !ok {
			return "", fmt.Errorf("container %s of %s/%s has id %q, not a containerd one", cs.Name, namespace, pod, cs.ContainerID)
		}
		return id, nil
	}
	if container == "" {
		return "", fmt.Errorf("pod %s/%s has no container status yet (phase %q)", namespace, pod, p.Status.Phase)
	}
	return "", fmt.Errorf("pod %s/%s has no container %q", namespace, pod, container)
}

// taskPID returns the host pid of a container's main process, from containerd.
func taskPID(ctx context.Context, ctrBin, socket, id string) (int, error) {
	out, err := ctr(ctx, ctrBin, socket, "tasks", "list")
	if err != nil {
		return 0, err
	}
	// TASK PID STATUS
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id {
			var pid int
			if _, err := fmt.Sscan(f[1], &pid); err != nil || pid <= 0 {
				return 0, fmt.Errorf("task %s: bad pid %q", id, f[1])
			}
			return pid, nil
		}
	}
	return 0, errors.New("containerd has no task " + id)
}
