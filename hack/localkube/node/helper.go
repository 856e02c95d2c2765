package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// HelperEnv is the environment variable that, set to "1", tells a test binary that it was
// started as the node's helper (see Options.HelperBin) and must run
// LookupMain instead of its tests.
const HelperEnv = "LOCALKUBE_NODE_HELPER"

// helperCmd runs this package's lookup in another network namespace. A
// separate process, because a network namespace belongs to an OS thread and
// Go's resolver runs its queries on goroutines of any thread; nsenter puts
// the whole helper process in the pod's namespace.
type helperCmd struct{ bin string }

// lookupInPod resolves name as the process pid (a container's main
// process) would: from its network namespace, with its /etc/resolv.conf.
func (h helperCmd) lookupInPod(ctx context.Context, pid int, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	proc := "/proc/" + strconv.Itoa(pid)
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+proc+"/ns/net", "--",
		h.bin, "node", "lookup", "--resolv-conf", proc+"/root/etc/resolv.conf", name)
	cmd.Env = append(os.Environ(), HelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("lookup %s in the netns of pid %d: %w: %s", name, pid, err, strings.TrimSpace(string(out)))
	}
	return strings.Fields(string(out)), nil
}

// resolvConf is what a lookup uses of a resolv.conf.
type resolvConf struct {
	nameservers []string
	search      []string
	ndots       int
}

func parseResolvConf(data string) resolvConf {
	rc := resolvConf{ndots: 1}
	for line := range strings.SplitSeq(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search":
			rc.search = f[1:]
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil {
						rc.ndots = n
					}
				}
			}
		}
	}
	return rc
}

// candidates are the fully qualified names a resolver tries for name, in
// order (glibc's rule: the search path first when name has fewer dots than ndots).
func (rc resolvConf) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	withSearch := make([]string, 0, len(rc.search))
	for _, s := range rc.search {
		withSearch = append(withSearch, name+"."+strings.TrimSuffix(s, ".")+".")
	}
	if strings.Count(name, ".") < rc.ndots {
		out = append(withSearch, name+".")
	} else {
		out = append([]string{name + "."}, withSearch...)
	}
	return out
}

// LookupMain is `localkube node lookup --resolv-conf FILE NAME`: it resolves
// NAME with the nameservers and search path of FILE (Go's resolver, asked
// over UDP) and prints the addresses, one per line. It returns the exit status.
func LookupMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("resolv-conf", "/etc/resolv.conf", "resolv.conf whose nameservers and search path to use")
	timeout := fs.Duration("timeout", 5*time.Second, "how long the whole lookup may take")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: lookup [--resolv-conf FILE] NAME")
		return 2
	}
	data, err := os.ReadFile(*conf)
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	addrs, err := lookup(ctx, parseResolvConf(string(data)), fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return 1
	}
	for _, a := range addrs {
		fmt.Fprintln(stdout, a)
	}
	return 0
}

func lookup(ctx context.Context, rc resolvConf, name string) ([]string, error) {
	if len(rc.nameservers) == 0 {
		return nil, errors.New("no nameserver in resolv.conf")
	}
	var errs []error
	for _, fqdn := range rc.candidates(name) {
		for _, ns := range rc.nameservers {
			addrs, err := resolver(net.JoinHostPort(ns, "53")).LookupHost(ctx, fqdn)
			if err == nil {
				return addrs, nil
			}
			errs = append(errs, err)
		}
	}
	return nil, fmt.Errorf("resolve %s: %w", name, errors.Join(errs...))
}
