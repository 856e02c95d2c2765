package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/raftkube/raftkube/hack/imagetool/regserver"
)

func runRegistry(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetool registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5000", "the `ADDR` to serve on; port 0 picks a free one")
	addrFile := fs.String("addr-file", "", "write the address served on to `FILE` once listening (for port 0)")
	blobs := fs.String("blobs", "", "keep blobs in `DIR` instead of memory")
	quiet := fs.Bool("quiet", false, "do not log requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("registry: unexpected arguments %q", fs.Args())
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	addr := ln.Addr().String()
	if *addrFile != "" {
		// Written through a rename, so a reader polling for the file never
		// sees it half written.
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("registry: %w", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			ln.Close()
			return fmt.Errorf("registry: %w", err)
		}
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	fmt.Fprintf(stderr, "registry: serving on http://%s\n", addr)
	return regserver.Serve(ctx, ln, regserver.Handler(*blobs, logw))
}
