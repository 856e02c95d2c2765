package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// options are the node's command-line settings. Every flag has an environment
// variable equivalent (RAFTNODE_ and the flag name in upper case with dashes as
// underscores), so a pod spec can set them; a flag given on the command line wins
// over the environment.
type options struct {
	name            string
	dataDir         string
	listenPeer      string
	advertisePeer   string
	listenClient    string
	advertiseClient string
	listenHTTP      string
	enablePprof     bool
	peerTLS         tlsconfig.Files
	clientTLS       tlsconfig.Files
	// peerOrg is the organization peers' certificates must carry; adminOrg
	// the one that grants the Admin API on the client port.
	peerOrg         string
	adminOrg        string
	bootstrap       bool
	bootstrapMember string
	restoreFrom     string
	// bootstrapFrom becomes restoreFrom where this member bootstraps.
	bootstrapFrom   string
	tickInterval    time.Duration
	electionTicks   int
	heartbeatTicks  int
	snapshotEntries uint64
	snapshotBytes   uint64
	maxRequestBytes int
	logLevel        string
	logFormat       string
	// showVersion asks for the build's version only; nothing else is read.
	showVersion bool
}

const envPrefix = "RAFTNODE_"

// parseOptions reads args (without the program name) and the environment.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("raftnode", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "", "member name (default: the host name)")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for the log, snapshots and identity (required)")
	fs.StringVar(&o.listenPeer, "listen-peer", "127.0.0.1:2380", "address to listen on for other members")
	fs.StringVar(&o.advertisePeer, "advertise-peer", "", "address other members reach this one at (default: --listen-peer)")
	fs.StringVar(&o.listenClient, "listen-client", "127.0.0.1:2379", "address to listen on for the client and admin APIs")
	fs.StringVar(&o.advertiseClient, "advertise-client", "", "address clients reach this member at (default: --listen-client)")
	fs.StringVar(&o.listenHTTP, "listen-http", "", "address to serve /healthz, /readyz and /metrics on (default: none)")
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "serve Go profiles under /debug/pprof/ on --listen-http")
	fs.StringVar(&o.peerTLS.CertFile, "peer-cert-file", "", "PEM certificate of the peer port, also presented to other members (enables peer mutual TLS)")
	fs.StringVar(&o.peerTLS.KeyFile, "peer-key-file", "", "PEM private key of --peer-cert-file")
	fs.StringVar(&o.peerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "PEM CA bundle other members' certificates must chain to (required with --peer-cert-file); reloaded when the file changes")
	fs.StringVar(&o.clientTLS.CertFile, "client-cert-file", "", "PEM certificate of the client port (enables client TLS)")
	fs.StringVar(&o.clientTLS.KeyFile, "client-key-file", "", "PEM private key of --client-cert-file")
	fs.StringVar(&o.clientTLS.TrustedCAFile, "client-trusted-ca-file", "", "PEM CA bundle client certificates must chain to; when set, calls are authorized by client certificate (mutual TLS: none is refused as unauthenticated, the Admin API beyond Status needs --client-admin-organization) unless --client-cert-auth=false. Members also verify each other's client ports against it. Reloaded when the file changes")
	clientCertAuth := fs.Bool("client-cert-auth", true, "with --client-trusted-ca-file, require client certificates; false keeps server-only TLS for clients while members still verify each other's client ports against the CA")
	fs.StringVar(&o.peerOrg, "peer-allowed-organization", "", "with peer TLS, accept and dial only members whose certificate carries this Subject organization (the operator uses "+tlsconfig.MemberOrganization+"); empty: any certificate the peer CA signed")
	fs.StringVar(&o.adminOrg, "client-admin-organization", tlsconfig.AdminOrganization, "when the client port verifies client certificates, the Subject organization a certificate needs for the Admin API beyond Status; members forward admin calls with their own client certificate, which needs it too")
	fs.BoolVar(&o.bootstrap, "bootstrap", false, "form a new one-member cluster (ignored when the data dir is not empty)")
	fs.StringVar(&o.restoreFrom, "restore-from", "", "found a new cluster from this snapshot file (raftctl snapshot save) on an empty data dir; a data dir holding a member is refused, unless it was founded from this file")
	fs.StringVar(&o.bootstrapMember, "bootstrap-member", "", "act as --bootstrap when --name equals this (so every pod of a StatefulSet can share one setting; empty: never)")
	fs.StringVar(&o.bootstrapFrom, "bootstrap-from", "", "where this member bootstraps (--bootstrap, or --bootstrap-member naming it), found the cluster from this snapshot file as --restore-from does; ignored elsewhere, so every pod of a StatefulSet can share it")
	fs.DurationVar(&o.tickInterval, "tick-interval", 100*time.Millisecond, "length of one Raft tick")
	fs.IntVar(&o.electionTicks, "election-ticks", 10, "ticks without a leader before campaigning")
	fs.IntVar(&o.heartbeatTicks, "heartbeat-ticks", 1, "ticks between a leader's heartbeats")
	fs.Uint64Var(&o.snapshotEntries, "snapshot-entries", 10000, "applied entries between automatic snapshots")
	fs.Uint64Var(&o.snapshotBytes, "snapshot-bytes", 64<<20, "bytes of applied entry data between automatic snapshots, however few entries (the log holds them in memory until then)")
	fs.IntVar(&o.maxRequestBytes, "max-request-bytes", 3<<19, "largest client request accepted, in bytes")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and commit, and exit")

	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if o.showVersion {
		return options{showVersion: true}, nil
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return options{}, err
	}
	o.clientTLS.NoClientCertAuth = !*clientCertAuth
	return o, o.complete()
}

// complete fills defaults that depend on other settings and checks the result.
func (o *options) complete() error {
	if o.dataDir == "" {
		return errors.New("--data-dir (or RAFTNODE_DATA_DIR) is required")
	}
	if o.name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("no --name given and the host name is unknown: %w", err)
		}
		o.name = host
	}
	if o.bootstrapMember != "" && o.bootstrapMember == o.name {
		o.bootstrap = true
	}
	if o.bootstrapFrom != "" && o.restoreFrom != "" {
		return errors.New("--bootstrap-from and --restore-from both name a snapshot to found the cluster from: give one")
	}
	if o.bootstrapFrom != "" && o.bootstrap {
		// The server ignores Bootstrap with RestoreFrom.
		o.restoreFrom, o.bootstrap = o.bootstrapFrom, false
	}
	if o.advertisePeer == "" {
		o.advertisePeer = o.listenPeer
	}
	if o.advertiseClient == "" {
		o.advertiseClient = o.listenClient
	}
	if o.tickInterval <= 0 {
		return fmt.Errorf("--tick-interval must be positive, got %s", o.tickInterval)
	}
	if o.heartbeatTicks <= 0 || o.electionTicks <= o.heartbeatTicks {
		return fmt.Errorf("--election-ticks (%d) must be greater than --heartbeat-ticks (%d) > 0", o.electionTicks, o.heartbeatTicks)
	}
	if o.enablePprof && o.listenHTTP == "" {
		return errors.New("--enable-pprof needs --listen-http")
	}
	if o.maxRequestBytes <= 0 {
		return fmt.Errorf("--max-request-bytes must be positive, got %d", o.maxRequestBytes)
	}
	if err := checkTLSFlags("peer", o.peerTLS, true); err != nil {
		return err
	}
	if err := checkTLSFlags("client", o.clientTLS, false); err != nil {
		return err
	}
	if o.peerOrg != "" && o.peerTLS.Empty() {
		return errors.New("--peer-allowed-organization needs peer TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file)")
	}
	if o.adminOrg == "" {
		return errors.New("--client-admin-organization must not be empty (to check no identities, serve the client port without --client-trusted-ca-file or with --client-cert-auth=false)")
	}
	if _, err := o.level(); err != nil {
		return err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", o.logFormat)
	}
	return nil
}

// checkTLSFlags reports a --<port>-cert-file without its key or the other way
// round, and a trusted CA without a certificate (or, when needCA, a
// certificate without a trusted CA). The files themselves are read at start.
func checkTLSFlags(port string, f tlsconfig.Files, needCA bool) error {
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		return fmt.Errorf("--%s-cert-file needs --%s-key-file", port, port)
	case f.KeyFile != "" && f.CertFile == "":
		return fmt.Errorf("--%s-key-file needs --%s-cert-file", port, port)
	case f.TrustedCAFile != "" && f.CertFile == "":
		return fmt.Errorf("--%s-trusted-ca-file needs --%s-cert-file and --%s-key-file", port, port, port)
	case needCA && f.CertFile != "" && f.TrustedCAFile == "":
		return fmt.Errorf("--%s-cert-file needs --%s-trusted-ca-file: members authenticate each other", port, port)
	}
	return nil
}

func (o *options) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.logLevel)); err != nil {
		return 0, fmt.Errorf("--log-level: %w", err)
	}
	return l, nil
}

// logger builds the process logger from the options.
func (o *options) logger() *slog.Logger {
	level, _ := o.level() // checked in complete
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts)).With("member", o.name)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, hopts)).With("member", o.name)
}
