package testproc

import "syscall"

// sysProcAttr has the kernel kill the process when the test binary dies (a
// panic, a -timeout), so no process outlives the test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
