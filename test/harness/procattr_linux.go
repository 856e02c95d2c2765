package harness

import "syscall"

// procAttr makes a node die with the test process, so that a test binary
// killed by its -timeout leaves no member running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
