// Command etcdbench runs raftctl bench's workload against an etcd cluster, and
// prints the side-by-side table of hack/bench-cluster.sh.
//
//	etcdbench wait --endpoints E1,E2,E3 [--timeout 30s]
//	    wait until every endpoint answers Status and all agree on a leader;
//	    prints the leader's endpoint
//	etcdbench put|get --endpoints E1,E2,E3 [--clients 8] [--total 10000]
//	    [--value-size 64] [--key-space 1000] [--serializable]
//	    the workload of raftctl bench, with its flags and defaults, sent to the
//	    leader's endpoint; prints raftctl bench -o json's summary
//	etcdbench table --dir DIR [--sides raftkube,etcd] WORKLOAD...
//	    Markdown tables of DIR/SIDE/WORKLOAD/rN.json (one summary per round) and
//	    rN.cpu: the medians over the rounds with the ratio of the first side to
//	    the second, the CPU time per request, and every round
//
// It lives in hack/etcdcluster, a module of its own, so that the product never
// depends on etcd.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench:", err)
		os.Exit(1)
	}
}

const usage = "usage: etcdbench wait|put|get|table [flags] (see the package doc)"

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "wait":
		return runWait(args[1:], out)
	case "put", "get":
		return runBench(args[0], args[1:], out)
	case "table":
		return runTable(args[1:], out)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

// splitEndpoints parses a comma-separated endpoint list.
func splitEndpoints(s string) []string {
	var eps []string
	for _, ep := range strings.Split(s, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

func newClient(eps []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(eps, ","), err)
	}
	return c, nil
}

// leaderEndpoint asks every endpoint for its status and returns the endpoint
// of the leader they all agree on.
func leaderEndpoint(ctx context.Context, c *clientv3.Client, eps []string) (string, error) {
	var leader uint64
	lead := ""
	for _, ep := range eps {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(sctx, ep)
		cancel()
		if err != nil {
			return "", fmt.Errorf("status of %s: %w", ep, err)
		}
		if len(st.Errors) > 0 {
			return "", fmt.Errorf("status of %s: %s", ep, strings.Join(st.Errors, "; "))
		}
		switch {
		case st.Leader == 0:
			return "", fmt.Errorf("%s knows no leader", ep)
		case leader != 0 && st.Leader != leader:
			return "", fmt.Errorf("%s has leader %x, another endpoint %x", ep, st.Leader, leader)
		}
		leader = st.Leader
		if st.Header.GetMemberId() == leader {
			lead = ep
		}
	}
	if lead == "" {
		return "", fmt.Errorf("the leader %x is not among %s", leader, strings.Join(eps, ","))
	}
	return lead, nil
}

func runWait(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("etcdbench wait", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client addresses")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	eps := splitEndpoints(*endpoints)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := newClient(eps)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		lead, err := leaderEndpoint(ctx, c, eps)
		if err == nil {
			// A write through the leader proves a quorum is up, not just the leader.
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = c.Put(pctx, "etcdbench/probe", "ok")
			pcancel()
			if err == nil {
				_, err = fmt.Fprintln(out, lead)
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s not ready after %s: %w", strings.Join(eps, ","), *timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
