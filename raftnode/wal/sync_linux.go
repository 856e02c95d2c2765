package wal

import (
	"errors"
	"os"
	"syscall"
)

// preallocate reserves size bytes for f (zero-filled, the file's size set to
// at least size), so that appends and their fdatasync do not have to grow the
// file too. A file system that cannot preallocate just grows the file instead.
func preallocate(f *os.File, size int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return nil
		}
		return err
	}
}

// datasync makes f's data durable, with the metadata needed to read it back
// (fdatasync: no timestamps).
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
