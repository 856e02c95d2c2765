package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ClusterDomain is the DNS suffix of in-cluster names.
const ClusterDomain = "cluster.local"

// There is no cluster DNS and no kube-proxy: each pod process runs in its
// own mount namespace with /etc/hosts bind-mounted from a file the kubelet
// keeps for the pod's namespace. The file names every pod
// (HOSTNAME.SUBDOMAIN.NS.svc.cluster.local) and every Service (a Service name
// resolves to its ready endpoints' pod IPs). One file per namespace lets short
// names ("web", "web-0.web") resolve as the namespace's DNS search path would.
// Files are rewritten in place (same inode), so processes that already have
// one mounted see updates.

// hostsPod is what the hosts file needs of a pod.
type hostsPod struct {
	Namespace, Hostname, Subdomain, IP string
	// Labels and Ready decide which Services the pod backs.
	Labels map[string]string
	Ready  bool
}

// ServiceEndpoints maps "namespace/name" of a Service to its ready endpoint IPs.
type ServiceEndpoints map[string][]string

// Service is what the hosts files need of a Service. EndpointSlices cannot
// carry pod IPs here (the API server rejects loopback endpoint addresses), so
// the provider matches the selector against the pods it runs itself: on this
// one-node cluster it runs every pod.
type Service struct {
	Namespace, Name string
	// Selector picks the backing pods; a Service without one gets no names.
	Selector map[string]string
	// PublishNotReadyAddresses includes pods that are not Ready.
	PublishNotReadyAddresses bool
}

// serviceEndpoints resolves services to the addresses of the pods backing them.
func serviceEndpoints(services []Service, pods []hostsPod) ServiceEndpoints {
	out := ServiceEndpoints{}
	for _, svc := range services {
		if len(svc.Selector) == 0 {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		for _, p := range pods {
			if p.Namespace != svc.Namespace || p.IP == "" || !(p.Ready || svc.PublishNotReadyAddresses) {
				continue
			}
			if matches(svc.Selector, p.Labels) {
				out[key] = append(out[key], p.IP)
			}
		}
	}
	return out
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// renderHosts is the hosts file for pods of namespace ns. Pure: the same
// inputs always give the same bytes.
func renderHosts(ns, nodeName string, pods []hostsPod, services ServiceEndpoints) []byte {
	var b bytes.Buffer
	b.WriteString("# Kept by the local kubelet; rewritten in place on every change.\n")
	b.WriteString("127.0.0.1\tlocalhost " + nodeName + "\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b hostsPod) int {
		return strings.Compare(a.Namespace+"/"+a.Hostname+"."+a.Subdomain, b.Namespace+"/"+b.Hostname+"."+b.Subdomain)
	})
	for _, p := range pods {
		if p.IP == "" {
			continue
		}
		var names []string
		if p.Subdomain != "" {
			names = append(names, fmt.Sprintf("%s.%s.%s.svc.%s", p.Hostname, p.Subdomain, p.Namespace, ClusterDomain))
			names = append(names, fmt.Sprintf("%s.%s.%s.svc", p.Hostname, p.Subdomain, p.Namespace))
			names = append(names, fmt.Sprintf("%s.%s.%s", p.Hostname, p.Subdomain, p.Namespace))
			if p.Namespace == ns {
				names = append(names, p.Hostname+"."+p.Subdomain)
			}
		}
		if p.Namespace == ns {
			names = append(names, p.Hostname)
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", p.IP, strings.Join(names, " "))
		}
	}
	for _, key := range sortedKeys(serviceKeys(services)) {
		svcNS, name, _ := strings.Cut(key, "/")
		names := []string{
			fmt.Sprintf("%s.%s.svc.%s", name, svcNS, ClusterDomain),
			fmt.Sprintf("%s.%s.svc", name, svcNS),
			name + "." + svcNS,
		}
		if svcNS == ns {
			names = append(names, name)
		}
		ips := slices.Clone(services[key])
		slices.Sort(ips)
		for _, ip := range slices.Compact(ips) {
			fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(names, " "))
		}
	}
	return b.Bytes()
}

func serviceKeys(s ServiceEndpoints) map[string]string {
	m := make(map[string]string, len(s))
	for k := range s {
		m[k] = ""
	}
	return m
}

// hostsPath is the hosts file for namespace ns, or "" when the provider does
// not manage hosts files.
func (p *Provider) hostsPath(ns string) string {
	if !p.cfg.HostsFiles {
		return ""
	}
	return filepath.Join(p.cfg.StateDir, "hosts", ns)
}

// SetServices replaces the Services the hosts files name.
func (p *Provider) SetServices(s []Service) {
	p.hostsMu.Lock()
	p.services = s
	p.hostsMu.Unlock()
	p.refreshHosts()
}

// refreshHosts rewrites every namespace's hosts file whose content changed.
func (p *Provider) refreshHosts() {
	if !p.cfg.HostsFiles {
		return
	}
	p.mu.Lock()
	var pods []hostsPod
	namespaces := map[string]bool{}
	for _, ps := range p.pods {
		ps.mu.Lock()
		ready := !ps.deleting && len(ps.containers) > 0
		for _, cs := range ps.containers {
			ready = ready && cs.ready && cs.state.Running != nil
		}
		pods = append(pods, hostsPod{
			Namespace: ps.pod.Namespace, Hostname: podHostname(ps.pod), Subdomain: ps.pod.Spec.Subdomain,
			IP: ps.ip.String(), Labels: ps.pod.Labels, Ready: ready,
		})
		namespaces[ps.pod.Namespace] = true
		ps.mu.Unlock()
	}
	p.mu.Unlock()

	p.hostsMu.Lock()
	defer p.hostsMu.Unlock()
	endpoints := serviceEndpoints(p.services, pods)
	for ns := range namespaces {
		content := renderHosts(ns, p.cfg.NodeName, pods, endpoints)
		if bytes.Equal(p.hostsWritten[ns], content) {
			continue
		}
		if err := writeInPlace(p.hostsPath(ns), content); err != nil {
			continue
		}
		p.hostsWritten[ns] = content
	}
}

// writeInPlace truncates and rewrites path, keeping its inode so bind
// mounts of it see the new content.
func writeInPlace(path string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}
