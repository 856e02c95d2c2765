// Command imagetool builds raftkube's container images without a container
// engine and moves them around:
//
//	imagetool build --ref NAME:TAG --out FILE.tar --platform OS/ARCH=DIR ... [flags]
//	    writes an OCI image index, one single-layer image per platform (the
//	    layer is DIR's tree on an empty base), to an OCI layout tarball that
//	    ctr, kind and docker load; prints the index digest
//	imagetool digest FILE.tar
//	    prints the digest of the image index in FILE.tar
//	imagetool registry --listen 127.0.0.1:PORT [--addr-file F] [--blobs DIR]
//	    serves an OCI distribution registry over plain HTTP until SIGINT or
//	    SIGTERM
//	imagetool push FILE.tar REF
//	    pushes the whole index in FILE.tar (every platform) as REF; prints
//	    REF@DIGEST
//
// Run `imagetool COMMAND -h` for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// commands maps a subcommand to its function, which parses args itself.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"build":    runBuild,
	"digest":   runDigest,
	"registry": runRegistry,
	"push":     runPush,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "imagetool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: imagetool build|digest|registry|push [flags] (see the package comment)")
		return flag.ErrHelp
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q: want build, digest, registry or push", args[0])
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return fmt.Sprint(*r) }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
