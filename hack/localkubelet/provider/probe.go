package provider

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeTarget is what a probe runs against: the pod's address, the
// container's declared ports (for named ports) and its environment (for exec).
type probeTarget struct {
	PodIP string
	Ports []corev1.ContainerPort
	Env   []string
	Dir   string
	// GID is the pod's group id, for exec probes (see PodNetwork).
	GID uint32
}

// runProbe runs one probe attempt and reports success, with a message saying
// why it failed.
func runProbe(ctx context.Context, p *corev1.Probe, t probeTarget) (bool, string) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		return probeHTTP(ctx, p.HTTPGet, t)
	case p.TCPSocket != nil:
		return probeTCP(ctx, p.TCPSocket, t)
	case p.Exec != nil:
		return probeExec(ctx, p.Exec, t)
	}
	return false, "probe kind not supported by the local kubelet (httpGet, tcpSocket, exec are)"
}

func probeHTTP(ctx context.Context, h *corev1.HTTPGetAction, t probeTarget) (bool, string) {
	port, err := resolvePort(h.Port, t.Ports)
	if err != nil {
		return false, err.Error()
	}
	host := h.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := "http"
	if h.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	// The probe's path may carry a query ("/readyz?verbose"), as the
	// kubelet's probes allow: it is not part of the escaped path.
	path, query, _ := strings.Cut(h.Path, "?")
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: query}
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	for _, hdr := range h.HTTPHeaders {
		if hdr.Name == "Host" {
			req.Host = hdr.Value
			continue
		}
		req.Header.Add(hdr.Name, hdr.Value)
	}
	req.Header.Set("User-Agent", "kube-probe/local")
	client := &http.Client{
		// The kubelet does not verify probe certificates either.
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}, //nolint:gosec
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("HTTP probe failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

func probeTCP(ctx context.Context, s *corev1.TCPSocketAction, t probeTarget) (bool, string) {
	port, err := resolvePort(s.Port, t.Ports)
	if err != nil {
		return false, err.Error()
	}
	host := s.Host
	if host == "" {
		host = t.PodIP
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false, fmt.Sprintf("TCP probe failed: %v", err)
	}
	conn.Close()
	return true, ""
}

// probeExec runs the command on the host with the container's environment;
// there is no container filesystem to run it in.
func probeExec(ctx context.Context, e *corev1.ExecAction, t probeTarget) (bool, string) {
	if len(e.Command) == 0 {
		return false, "exec probe has no command"
	}
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...)
	cmd.Env = t.Env
	cmd.Dir = t.Dir
	if t.GID != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: t.GID, NoSetGroups: true}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("exec probe failed: %v: %s", err, truncate(string(out), 256))
	}
	return true, ""
}

// resolvePort turns a probe's port, a number or a container port name, into a number.
func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found among the container's ports", p.StrVal)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
