//go:build !linux

package testproc

import "syscall"

// sysProcAttr is empty where the kernel offers no parent-death signal; the
// test's cleanup still stops the process.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
