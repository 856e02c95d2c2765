//go:build !linux

package wal

import "os"

// preallocate is a no-op where fallocate is not available: the file grows.
func preallocate(*os.File, int64) error { return nil }

// datasync makes f durable.
func datasync(f *os.File) error { return f.Sync() }
