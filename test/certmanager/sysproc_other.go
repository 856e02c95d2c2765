//go:build !linux

package certmanager

import "syscall"

// sysProcAttr is empty where the kernel offers no parent-death signal; the
// test's cleanup still stops the controller.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
