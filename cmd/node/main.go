// Command raftnode runs one member of a raftkube cluster: the replicated
// key-value store with its client and admin gRPC APIs. Flags (or RAFTNODE_*
// environment variables) become a server.Config; SIGTERM and SIGINT shut it down
// gracefully.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/raftkube/raftkube/internal/version"
	"github.com/raftkube/raftkube/raftnode/server"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "raftnode:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	o, err := parseOptions(args, os.Getenv)
	if err != nil {
		return err
	}
	if o.showVersion {
		_, err := fmt.Fprintln(out, "raftnode", version.Get())
		return err
	}
	logger := o.logger()
	srv, err := server.New(server.Config{
		DataDir:                 o.dataDir,
		Name:                    o.name,
		PeerListenAddr:          o.listenPeer,
		PeerAdvertiseAddr:       o.advertisePeer,
		ClientListenAddr:        o.listenClient,
		ClientAdvertiseAddr:     o.advertiseClient,
		HTTPListenAddr:          o.listenHTTP,
		EnablePprof:             o.enablePprof,
		PeerTLS:                 o.peerTLS,
		ClientTLS:               o.clientTLS,
		PeerAllowedOrganization: o.peerOrg,
		ClientAdminOrganization: o.adminOrg,
		Bootstrap:               o.bootstrap,
		RestoreFrom:             o.restoreFrom,
		TickInterval:            o.tickInterval,
		ElectionTicks:           o.electionTicks,
		HeartbeatTicks:          o.heartbeatTicks,
		SnapshotEntries:         o.snapshotEntries,
		SnapshotBytes:           o.snapshotBytes,
		MaxRequestBytes:         o.maxRequestBytes,
		Logger:                  logger,
	})
	if err != nil {
		return fmt.Errorf("start member: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger.Info("serving", "id", fmt.Sprintf("%x", srv.ID()), "peer", srv.PeerAddr(), "client", srv.ClientAddr(), "http", srv.HTTPAddr())
	return srv.Run(ctx)
}
