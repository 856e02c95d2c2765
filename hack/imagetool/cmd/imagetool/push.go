package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/raftkube/raftkube/hack/imagetool/archive"
	"github.com/raftkube/raftkube/hack/imagetool/push"
)

func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("imagetool push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: imagetool push FILE.tar REF\n\nPushes the image index in FILE.tar, every platform, as REF (NAME:TAG);\nthe name inside FILE.tar does not matter. Loopback registries get plain HTTP.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return flag.ErrHelp
	}
	ref, err := push.ParseRef(fs.Arg(1))
	if err != nil {
		return err
	}
	idx, _, cleanup, err := archive.Open(fs.Arg(0), "")
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("push: removing the unpacked tarball: %w", cerr)
		}
	}()
	d, err := push.Index(ctx, idx, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s@%s\n", ref, d)
	return nil
}
