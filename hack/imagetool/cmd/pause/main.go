// Command pause is the first process of a pod sandbox on the local Kubernetes
// node, as Kubernetes' own pause: it holds the pod's namespaces open by doing
// nothing until SIGINT or SIGTERM, and, being PID 1 of the pod's PID
// namespace when that is shared, reaps the zombies that orphaned processes
// leave behind (SIGCHLD). It exits 0 on a stop signal.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		// Like Kubernetes' pause, only -v is understood; anything else is a
		// mistake worth reporting rather than ignoring.
		if os.Args[1] == "-v" {
			fmt.Println("pause (raftkube)")
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "pause: unexpected arguments %q\n", os.Args[1:])
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	os.Exit(wait(sigs))
}

// wait handles signals until a stop signal, reaping children on each SIGCHLD
// (signals coalesce, so one SIGCHLD may stand for many exits), and returns the
// exit code.
func wait(sigs <-chan os.Signal) int {
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		return 0
	}
	return 0
}

// reap collects every child that has exited, without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
