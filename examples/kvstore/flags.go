package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/member"
)

// config is what the command line says.
type config struct {
	member         member.Config
	listenPeer     string
	listenClient   string
	requestTimeout time.Duration
}

var errUsage = errors.New("usage")

func parseFlags(args []string) (config, error) { return parseFlagsTo(os.Stderr, args) }

// parseFlagsTo parses args, writing usage messages to out.
func parseFlagsTo(out io.Writer, args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("kvstore", flag.ContinueOnError)
	fs.SetOutput(out)
	id := fs.Uint64("id", 0, "this member's id (required, > 0)")
	peers := fs.String("peers", "", "peer URLs by member id, this member's included: 1=http://127.0.0.1:12381,2=...")
	fs.BoolVar(&cfg.member.Join, "join", false, "join an existing cluster (add this member with POST /members/{id} first)")
	fs.StringVar(&cfg.member.DataDir, "data", "", "data directory (default kvstore-<id>)")
	fs.StringVar(&cfg.listenPeer, "listen-peer", "", "address for peers' Raft messages (default: the host:port of this member's peer URL)")
	fs.StringVar(&cfg.listenClient, "listen-client", "", "address of the client API (required), e.g. 127.0.0.1:8081")
	fs.DurationVar(&cfg.member.TickInterval, "tick", 100*time.Millisecond, "Raft tick interval")
	fs.IntVar(&cfg.member.ElectionTicks, "election-ticks", 10, "election timeout in ticks")
	fs.Uint64Var(&cfg.member.SnapshotEntries, "snapshot-entries", 1000, "applied entries between snapshots")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 5*time.Second, "how long a client request may wait")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if *id == 0 || *peers == "" || cfg.listenClient == "" {
		fs.Usage()
		return config{}, fmt.Errorf("%w: -id, -peers and -listen-client are required", errUsage)
	}
	cfg.member.ID = *id
	var err error
	if cfg.member.Peers, err = parsePeers(*peers); err != nil {
		return config{}, err
	}
	self, ok := cfg.member.Peers[*id]
	if !ok {
		return config{}, fmt.Errorf("%w: -peers does not list this member (%d)", errUsage, *id)
	}
	if cfg.listenPeer == "" {
		u, err := url.Parse(self)
		if err != nil {
			return config{}, fmt.Errorf("%w: peer URL %q: %w", errUsage, self, err)
		}
		cfg.listenPeer = u.Host
	}
	if cfg.member.DataDir == "" {
		cfg.member.DataDir = fmt.Sprintf("kvstore-%d", *id)
	}
	if cfg.member.SnapshotEntries == 0 {
		return config{}, fmt.Errorf("%w: -snapshot-entries must be positive", errUsage)
	}
	return cfg, nil
}

// parsePeers parses "1=http://host:port,2=...".
func parsePeers(s string) (map[uint64]string, error) {
	peers := map[uint64]string{}
	for _, item := range strings.Split(s, ",") {
		idText, peerURL, ok := strings.Cut(strings.TrimSpace(item), "=")
		id, err := strconv.ParseUint(idText, 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("%w: -peers item %q is not id=URL", errUsage, item)
		}
		u, err := url.Parse(peerURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("%w: -peers item %q: not an http URL", errUsage, item)
		}
		if _, dup := peers[id]; dup {
			return nil, fmt.Errorf("%w: -peers lists member %d twice", errUsage, id)
		}
		peers[id] = strings.TrimSuffix(peerURL, "/")
	}
	return peers, nil
}
