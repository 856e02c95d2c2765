package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/raftkube/raftkube/hack/imagetool/archive"
)

func runDigest(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetool digest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: imagetool digest FILE.tar") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	d, err := archive.Descriptor(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	fmt.Fprintln(stdout, d.Digest)
	return nil
}
