// Package regserver serves an OCI distribution registry (go-containerregistry's
// pkg/registry) over plain HTTP, for pushes and pulls on loopback: `make
// push` in tests, and containerd pulling with plain HTTP. Manifests live in
// memory; blobs in memory or, given a folder, on disk. Nothing survives the
// process.
package regserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// shutdownTimeout bounds how long Serve waits for requests in flight once
// its context is done.
const shutdownTimeout = 5 * time.Second

// Handler is the registry's HTTP handler. blobDir "" keeps blobs in memory.
// Request logs go to logw (io.Discard for none).
func Handler(blobDir string, logw io.Writer) http.Handler {
	blobs := registry.NewInMemoryBlobHandler()
	if blobDir != "" {
		blobs = registry.NewDiskBlobHandler(blobDir)
	}
	return registry.New(
		registry.WithBlobHandler(blobs),
		registry.Logger(log.New(logw, "registry: ", log.LstdFlags)),
	)
}

// Serve serves h on ln until ctx is done, then shuts the server down and
// returns nil; it returns an error if the server stops for another reason.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests see ctx's values but not its end: on shutdown, those in
		// flight get shutdownTimeout to finish instead of being cut at once.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Connections that have not sent a request yet (a client's transport
	// opens some it may never use) count as busy for their first 5 s in
	// Shutdown, as long as shutdownTimeout: they are closed first instead,
	// which loses nothing.
	var mu sync.Mutex
	fresh := map[net.Conn]bool{}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateNew {
			fresh[c] = true
		} else {
			delete(fresh, c)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("regserver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	mu.Lock()
	for c := range fresh {
		_ = c.Close() // its serving goroutine sees the error and ends
	}
	mu.Unlock()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		// Requests still running after the timeout: cut them.
		shutdownErr = errors.Join(shutdownErr, srv.Close())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("regserver: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("regserver: shutting down: %w", shutdownErr)
	}
	return nil
}
