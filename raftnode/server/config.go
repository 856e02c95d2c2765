package server

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
)

// Defaults of the zero fields of Config.
const (
	DefaultTickInterval    = 100 * time.Millisecond
	DefaultElectionTicks   = 10
	DefaultHeartbeatTicks  = 1
	DefaultSnapshotEntries = 10000
	// DefaultSnapshotBytes bounds the entry data applied between two
	// snapshots, which the in-memory log holds until the next one.
	DefaultSnapshotBytes   = 64 << 20
	DefaultMaxRequestBytes = 3 << 20 / 2 // 1.5 MiB: a 1 MiB value plus framing
	DefaultRequestTimeout  = 5 * time.Second
)

// Config configures one member. DataDir, PeerAdvertiseAddr and
// ClientAdvertiseAddr (or the listeners they default from) are required.
type Config struct {
	// DataDir holds member.json, wal/, snap/ and members/ (see the package doc).
	DataDir string
	// Name is the member's human-readable name (for instance its pod name).
	Name string

	// PeerListenAddr is where the Raft transport listens ("host:port"), unless
	// PeerListener is set.
	PeerListenAddr string
	// PeerAdvertiseAddr is where other members reach the transport; defaults to
	// the peer listener's address.
	PeerAdvertiseAddr string
	// ClientListenAddr is where the KV and Admin APIs listen, unless
	// ClientListener is set.
	ClientListenAddr string
	// ClientAdvertiseAddr is where clients reach the APIs; defaults to the
	// client listener's address.
	ClientAdvertiseAddr string
	// PeerListener and ClientListener, when set, are used instead of listening
	// on the addresses above (tests pass 127.0.0.1:0 listeners). Run closes them.
	PeerListener   net.Listener
	ClientListener net.Listener
	// HTTPListenAddr, when set, is where /healthz, /readyz and /metrics are
	// served (see Server.Handler), unless HTTPListener is set. Empty: no HTTP
	// endpoint (Handler still works for embedding).
	HTTPListenAddr string
	HTTPListener   net.Listener
	// PeerTLS, when set, secures the peer port with mutual TLS: every member
	// presents CertFile and verifies the others against TrustedCAFile, in
	// both directions. All three files are required. Empty: plaintext.
	// Certificates and trusted CA bundles (of both ports) are read again
	// when their files change, for rotation without a restart (see
	// tlsconfig.Source). Its AllowedOrganization is ignored: see
	// PeerAllowedOrganization.
	PeerTLS tlsconfig.Files
	// PeerAllowedOrganization, when set, must be in the Subject.Organization
	// of the other member's verified certificate, accepting and dialing peer
	// connections, so that a certificate of the same CA without it (an
	// application's) can neither send nor receive Raft traffic. Needs
	// PeerTLS. Empty: any certificate the CA verifies.
	PeerAllowedOrganization string
	// ClientTLS, when set, secures the client port with CertFile. With
	// TrustedCAFile (and not NoClientCertAuth) the port verifies client
	// certificates and authorizes calls by them: every call needs one, and
	// the Admin API beyond Status needs ClientAdminOrganization in it (see
	// the package doc). Calls to other members' client ports present
	// CertFile and verify them against TrustedCAFile (the system roots
	// without it). Empty: plaintext. The HTTP endpoint stays plain HTTP
	// either way. Its ClientCertOptional and AllowedOrganization are set
	// by the server.
	ClientTLS tlsconfig.Files
	// ClientAdminOrganization is the certificate organization that grants
	// the Admin API beyond Status on the client port when it verifies
	// client certificates. Default tlsconfig.AdminOrganization. Members
	// forward admin calls to the leader with their own client certificate,
	// which therefore needs it too.
	ClientAdminOrganization string
	// TLSCheckInterval is the least time between two looks at the TLS
	// files' mtimes. Default tlsconfig.DefaultCheckInterval.
	TLSCheckInterval time.Duration

	// EnablePprof adds Go's profiling endpoints under /debug/pprof/ to the
	// HTTP endpoints. They expose internals: enable them only where the HTTP
	// port is private.
	EnablePprof bool

	// Bootstrap forms a new one-member cluster when DataDir is empty, or
	// holds a member that never joined a cluster (it started without
	// Bootstrap and was never added); it is ignored otherwise.
	Bootstrap bool
	// RestoreFrom, when set, founds a new cluster from this snapshot file
	// (raftnode/snapfile, as raftctl snapshot save writes it) when DataDir
	// is empty (or holds a member that never joined a cluster, as for
	// Bootstrap): the file is verified whole, then this member becomes the one
	// voter of a new cluster (new cluster id, new member id) whose state is
	// the snapshot's, at the snapshot's index; members join it the usual
	// way. A DataDir holding a member refuses it (ErrDataDirNotEmpty),
	// unless that member was founded from the same file (a restart), or
	// from a file no longer at this path (a pod re-created without it).
	// Bootstrap is ignored with it.
	RestoreFrom string

	// TickInterval is the duration of one Raft tick. Default DefaultTickInterval.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are Raft's election timeout and heartbeat
	// interval in ticks. Defaults DefaultElectionTicks, DefaultHeartbeatTicks.
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries is the number of applied entries after which a snapshot
	// is written and the log compacted. Default DefaultSnapshotEntries.
	SnapshotEntries uint64
	// SnapshotBytes is the size of the entries' data applied since the last
	// snapshot after which one is written, however few entries that is:
	// with large values the log would otherwise hold gigabytes in memory
	// before SnapshotEntries is reached. Default DefaultSnapshotBytes.
	SnapshotBytes uint64
	// MaxRequestBytes bounds a client request on the wire. Default
	// DefaultMaxRequestBytes. Values are bounded separately by MaxValueBytes.
	MaxRequestBytes int
	// MaxValueBytes bounds stored values (kv.DefaultMaxValueBytes when zero).
	MaxValueBytes int
	// RequestTimeout bounds how long a request waits for its entry to be
	// applied or its read point to be reached. Default DefaultRequestTimeout.
	RequestTimeout time.Duration

	// NoSync skips fsyncs in the wal. UNSAFE: only for tests.
	NoSync bool
	// Logger receives the member's logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("server config: DataDir is required")
	}
	if c.PeerListener == nil && c.PeerListenAddr == "" {
		return c, errors.New("server config: PeerListenAddr or PeerListener is required")
	}
	if c.ClientListener == nil && c.ClientListenAddr == "" {
		return c, errors.New("server config: ClientListenAddr or ClientListener is required")
	}
	if err := c.checkTLS(); err != nil {
		return c, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ClientAdminOrganization == "" {
		c.ClientAdminOrganization = tlsconfig.AdminOrganization
	}
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		return c, errors.New("server config: ElectionTicks must be greater than HeartbeatTicks")
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = DefaultSnapshotBytes
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c, nil
}
