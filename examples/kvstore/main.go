// Command kvstore is a replicated key-value store built on the raft library
// alone: its own storage (internal/storage), its own transport
// (internal/transport) and an HTTP API (internal/httpapi). See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/httpapi"
	"github.com/raftkube/raftkube/examples/kvstore/internal/member"
	"github.com/raftkube/raftkube/examples/kvstore/internal/transport"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("member", cfg.member.ID)
	cfg.member.Logger = logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch err := run(ctx, cfg); {
	case errors.Is(err, member.ErrRemoved):
		logger.Info("removed from the cluster; exiting")
	case err != nil:
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// run serves the member until ctx is done or the member stops.
func run(ctx context.Context, cfg config) error {
	m, err := member.Open(cfg.member)
	if err != nil {
		return err
	}
	log := cfg.member.Logger
	peerMux := http.NewServeMux()
	peerMux.Handle(transport.Path, m.PeerHandler())
	peerSrv, err := serve(cfg.listenPeer, peerMux)
	if err != nil {
		return fmt.Errorf("peer listener: %w", err)
	}
	clientSrv, err := serve(cfg.listenClient, httpapi.New(m, cfg.requestTimeout))
	if err != nil {
		shutdown(peerSrv)
		return fmt.Errorf("client listener: %w", err)
	}
	log.Info("serving", "peer", cfg.listenPeer, "client", cfg.listenClient, "data", cfg.member.DataDir)
	runErr := m.Run(ctx)
	// Answers already decided (a removal this member applied) still go out.
	shutdown(clientSrv)
	shutdown(peerSrv)
	return runErr
}

func serve(addr string, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
