// Command coredns is CoreDNS with only the plugins the project's Kubernetes
// node needs for cluster DNS; hack/build-k8s-tools.sh builds it into
// bin/coredns.
//
// CoreDNS's own main imports core/plugin, which registers every in-tree plugin
// and so links every cloud SDK they use (Route 53, Azure DNS, Cloud DNS,
// Nomad, etcd, ...). This main imports the plugins of a kubeadm-style Corefile
// one by one instead: each plugin package registers itself in its init. What
// CoreDNS takes from plugin.cfg at generate time, the execution order of the
// directives, is set here: directives lists them in plugin.cfg's order, and
// main hands the list to dnsserver before coremain reads the Corefile.
//
// Not included: prometheus (the metrics directive), so a Corefile for this
// binary must not use it.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives are the imported plugins in CoreDNS's plugin.cfg order, which is
// the order a query passes through them: a plugin sees only what the ones
// before it let through (errors and log wrap everything below them, cache sits
// in front of kubernetes and forward, loop must come before forward).
// TestDirectives checks the order against CoreDNS's generated list and the
// set against the plugins the imports registered.
var directives = []string{
	"reload",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
	"loop",
	"forward",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, "coredns: set directives:", err)
		os.Exit(1)
	}
	coremain.Run()
}
