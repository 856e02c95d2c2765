//go:build !linux

package s3server

import "syscall"

// sysProcAttr is empty where the kernel offers no parent-death signal; the
// test's cleanup still stops the gateway.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
