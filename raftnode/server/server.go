package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/raft"
	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/transport"
	"github.com/raftkube/raftkube/raftnode/wal"
)

// Server is one member. New prepares it from its data dir; Run serves until its
// context is done.
type Server struct {
	// The member's state machine; see memberCore. Its fields are the
	// loop's, but for the atomics it publishes.
	*memberCore

	cfg Config

	// identMu serializes member.json writes; ident is its content.
	identMu sync.Mutex
	ident   identity
	// clusterID is 0 until known (see "adopt on first contact").
	clusterID atomic.Uint64

	wal    *wal.Log
	snaps  kv.SnapshotDir
	kvOpts []kv.Option

	// received is the last snapshot decoded by Process, for the loop to take.
	receivedMu sync.Mutex
	received   *restored
	// syncReq wakes the syncer and syncedc brings its results (persist.go).
	syncReq chan struct{}
	syncedc chan syncResult
	// snapDone brings back the snapshot jobs whose files snapWriters wrote.
	snapDone    chan *snapshotJob
	snapWriters sync.WaitGroup
	// Owned by the event loop goroutine: peers are the transport peers the
	// table put there, with their addresses; probingRemoval is set while a
	// removal probe runs (see removal.go), tracked by probes.
	peers          map[uint64]string
	probingRemoval bool
	probes         sync.WaitGroup
	// streamReaders are the KV.Stream readers (see streamSession).
	streamReaders sync.WaitGroup

	// viewMu guards view, a copy of the table for RPC goroutines, and
	// viewConfig, the ids of the configuration in force.
	viewMu     sync.RWMutex
	view       *membership
	viewConfig map[uint64]bool

	// changes wakes goroutines waiting for the loop's state to change.
	changes *changes

	in  *transport.Transport                // receives; cluster id 0, see doc
	out atomic.Pointer[transport.Transport] // sends; nil until the cluster is known

	recvc   chan pb.Message
	propc   chan proposal
	readc   chan readSink
	actc    chan func()
	reportc chan struct{}
	// reportMu guards reports, queued by transport goroutines (and by Send,
	// which the loop itself calls) for the loop.
	reportMu sync.Mutex
	reports  []report

	// creds secure the peer and client ports, serving and dialing.
	creds                creds
	peerLis, clientLis   net.Listener
	peerGRPC, clientGRPC *grpc.Server
	peerAddr, clientAddr string
	// httpLis is nil when no HTTP endpoint is configured.
	httpLis net.Listener
	done    chan struct{} // closed when the loop has stopped
	runOnce sync.Once
}

// proposal is a normal entry waiting to be proposed.
type proposal struct {
	reqID uint64
	data  []byte
}

// report is a delivery report from the transport.
type report struct {
	id       uint64
	snapshot bool
	status   raft.SnapshotStatus
	// removedBy is set when member id refused this member as removed.
	removedBy bool
}

// New opens (or creates) the member in cfg.DataDir and listens, but serves
// nothing until Run.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cr, err := cfg.loadCreds()
	if err != nil {
		return nil, err
	}
	s := &Server{
		memberCore: &memberCore{
			log: cfg.Logger,
			params: coreParams{
				electionTicks: cfg.ElectionTicks, heartbeatTicks: cfg.HeartbeatTicks,
				snapshotEntries: cfg.SnapshotEntries, snapshotBytes: cfg.SnapshotBytes,
			},
			// Request ids and read contexts start at the clock, so that an
			// answer meant for the process before a restart matches nothing.
			w:         newWaiters(uint64(time.Now().UnixNano())),
			proposals: newProposalTracker(),
			reads:     newReadTracker[readSink](cfg.ElectionTicks, uint64(time.Now().UnixNano())),
		},
		cfg: cfg, creds: cr,
		snaps:    kv.SnapshotDir{Dir: filepath.Join(cfg.DataDir, "snap")},
		peers:    map[uint64]string{},
		recvc:    make(chan pb.Message, 1024),
		propc:    make(chan proposal, 1024),
		readc:    make(chan readSink, 1024),
		actc:     make(chan func()),
		reportc:  make(chan struct{}, 1),
		snapDone: make(chan *snapshotJob),
		syncReq:  make(chan struct{}, 1),
		syncedc:  make(chan syncResult),
		done:     make(chan struct{}),
		changes:  newChanges(),
	}
	s.shell = s // the core asks the Server for what it cannot do itself
	if cfg.MaxValueBytes > 0 {
		s.kvOpts = []kv.Option{kv.MaxValueBytes(cfg.MaxValueBytes)}
	}
	s.snaps.Options = s.kvOpts
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		s.peerLis.Close()
		s.clientLis.Close()
		if s.httpLis != nil {
			s.httpLis.Close()
		}
		if s.wal != nil {
			s.wal.Close()
		}
		return nil, err
	}
	s.metrics = newMetrics(s.memberCore, s.cfg.Name)
	s.metrics.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.setupGRPC()
	return s, nil
}

func (s *Server) listen() error {
	var err error
	s.peerLis = s.cfg.PeerListener
	if s.peerLis == nil {
		if s.peerLis, err = net.Listen("tcp", s.cfg.PeerListenAddr); err != nil {
			return fmt.Errorf("listen for peers: %w", err)
		}
	}
	s.clientLis = s.cfg.ClientListener
	if s.clientLis == nil {
		if s.clientLis, err = net.Listen("tcp", s.cfg.ClientListenAddr); err != nil {
			s.peerLis.Close()
			return fmt.Errorf("listen for clients: %w", err)
		}
	}
	s.httpLis = s.cfg.HTTPListener
	if s.httpLis == nil && s.cfg.HTTPListenAddr != "" {
		if s.httpLis, err = net.Listen("tcp", s.cfg.HTTPListenAddr); err != nil {
			s.peerLis.Close()
			s.clientLis.Close()
			return fmt.Errorf("listen for HTTP: %w", err)
		}
	}
	s.peerAddr = s.cfg.PeerAdvertiseAddr
	if s.peerAddr == "" {
		s.peerAddr = s.peerLis.Addr().String()
	}
	s.clientAddr = s.cfg.ClientAdvertiseAddr
	if s.clientAddr == "" {
		s.clientAddr = s.clientLis.Addr().String()
	}
	return nil
}

// self is this member's metadata as configured.
func (s *Server) self() memberInfo {
	return memberInfo{ID: s.id, Name: s.cfg.Name, PeerAddress: s.peerAddr, ClientAddress: s.clientAddr}
}

// open loads or creates the data dir, the store, the wal and the RawNode.
func (s *Server) open() error {
	dir := s.cfg.DataDir
	ident, ok, err := loadIdentity(dir)
	if err != nil {
		return err
	}
	// A member that waited to be added and never heard from a cluster (its
	// cluster id is still 0: the first message it accepts sets it) holds
	// nothing but its identity. Told to found a cluster, it does, as on an
	// empty data dir: the claims of a cluster deleted before it formed,
	// adopted by a new cluster, are such.
	if ok && ident.waiting() && (s.cfg.Bootstrap || s.cfg.RestoreFrom != "") {
		s.log.Info("data dir holds a member that never joined a cluster: founding the cluster over it",
			"dir", dir, "member", fmt.Sprintf("%x", ident.MemberID))
		ok = false
	}
	switch {
	case !ok && s.cfg.RestoreFrom != "":
		if ident, err = s.restoreDataDir(); err != nil {
			return err
		}
	case !ok:
		if ident, err = s.initDataDir(); err != nil {
			return err
		}
	case s.cfg.RestoreFrom != "":
		if err := s.checkRestoredFrom(ident); err != nil {
			return err
		}
	case s.cfg.Bootstrap:
		s.log.Info("data dir is not empty: ignoring bootstrap", "dir", dir)
	}
	s.ident, s.id = ident, ident.MemberID
	s.clusterID.Store(ident.ClusterID)
	s.removed.Store(ident.Removed)

	store, info, err := s.snaps.LoadNewest()
	if err != nil {
		return fmt.Errorf("load kv snapshot: %w", err)
	}
	for _, sk := range info.Skipped {
		s.log.Warn("skipped corrupt kv snapshot", "path", sk.Path, "err", sk.Err)
	}
	table, err := loadMembership(dir, store.AppliedIndex())
	if err != nil {
		return err
	}
	if s.wal, err = wal.Open(wal.Options{Dir: filepath.Join(dir, "wal"), Logger: s.log, NoSync: s.cfg.NoSync}); err != nil {
		return err
	}
	if err := s.recover(s.wal, store, table); err != nil {
		return err
	}
	s.in, err = transport.New(transport.Config{ID: s.id, Handler: s, Logger: s.log,
		// Where a peer connects from is where the sending side can reach
		// it when its name does not resolve to it (a restarted pod).
		SeenAt: func(id uint64, ip string) {
			if out := s.out.Load(); out != nil {
				out.SeenAt(id, ip)
			}
		}})
	if err != nil {
		return err
	}
	if cid := s.clusterID.Load(); cid != 0 {
		if err := s.startOutbound(cid); err != nil {
			return err
		}
	}
	s.log.Info("member opened", "id", fmt.Sprintf("%x", s.id), "cluster", fmt.Sprintf("%x", s.clusterID.Load()),
		"applied", store.AppliedIndex(), "wal_snapshot", s.snapIndex, "voters", s.confState.Voters, "learners", s.confState.Learners)
	return nil
}

// cleanDataDir removes what an interrupted start left in a data dir that
// holds no member yet, and creates the dir if needed.
func cleanDataDir(dir string) error {
	for _, sub := range []string{"wal", "snap", "members"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("clean data dir: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return nil
}

// initDataDir sets up an empty data dir: a bootstrapped cluster of one, or a
// member waiting to be added.
func (s *Server) initDataDir() (identity, error) {
	dir := s.cfg.DataDir
	if err := cleanDataDir(dir); err != nil {
		return identity{}, err
	}
	id, err := randomID()
	if err != nil {
		return identity{}, err
	}
	ident := identity{MemberID: id, Name: s.cfg.Name}
	s.id = id
	if s.cfg.Bootstrap {
		if ident.ClusterID, err = randomID(); err != nil {
			return identity{}, err
		}
		if err := s.writeBootstrap(); err != nil {
			return identity{}, fmt.Errorf("bootstrap: %w", err)
		}
		s.log.Info("bootstrapped a new cluster", "member", fmt.Sprintf("%x", id), "cluster", fmt.Sprintf("%x", ident.ClusterID))
	} else {
		s.log.Info("new member waiting to be added", "member", fmt.Sprintf("%x", id))
	}
	return ident, saveIdentity(dir, ident)
}

// writeBootstrap writes the snapshot at index 1 term 1 with this member alone.
func (s *Server) writeBootstrap() error {
	store := kv.New(s.kvOpts...)
	if err := store.ApplyNoop(1); err != nil {
		return err
	}
	return s.writeFounding(store)
}

// writeFounding writes the first state of a new cluster whose one voter is
// this member: store's state as the snapshot at its applied index, in term 1,
// committed; the log starts after it.
func (s *Server) writeFounding(store *kv.Store) error {
	index := store.AppliedIndex()
	table := newMembership()
	table.Members[s.id] = s.self()
	if err := saveMembership(s.cfg.DataDir, index, table); err != nil {
		return err
	}
	if _, err := s.snaps.Save(store); err != nil {
		return err
	}
	l, err := wal.Open(wal.Options{Dir: filepath.Join(s.cfg.DataDir, "wal"), Logger: s.log, NoSync: s.cfg.NoSync})
	if err != nil {
		return err
	}
	defer l.Close()
	meta := pb.SnapshotMetadata{Index: index, Term: 1, ConfState: pb.ConfState{Voters: []uint64{s.id}}}
	if err := l.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
		return err
	}
	return l.Save(pb.HardState{Term: 1, Commit: index}, nil)
}

// setIdentity updates and persists member.json.
func (s *Server) setIdentity(update func(*identity)) error {
	s.identMu.Lock()
	defer s.identMu.Unlock()
	next := s.ident
	update(&next)
	if next == s.ident {
		return nil
	}
	if err := saveIdentity(s.cfg.DataDir, next); err != nil {
		return err
	}
	s.ident = next
	return nil
}

// startOutbound makes the sending transport for cluster cid.
func (s *Server) startOutbound(cid uint64) error {
	t, err := transport.New(transport.Config{
		ID: s.id, ClusterID: cid, Handler: s, Logger: s.log,
		DialOptions: s.peerDialOptions(),
	})
	if err != nil {
		return err
	}
	s.out.Store(t)
	return nil
}

// publishView copies the table and the configuration's ids for RPC and
// transport goroutines.
func (s *Server) publishView() {
	v, cfg := s.table.clone(), s.configIDs()
	s.viewMu.Lock()
	s.view, s.viewConfig = v, cfg
	s.viewMu.Unlock()
}

// removedOutsideConfig reports whether id was removed and is in no
// configuration in force: its messages are stale (a member removed by a
// joint change still takes part until the joint configuration is left).
func (s *Server) removedOutsideConfig(id uint64) bool {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	return s.view.isRemoved(id) && !s.viewConfig[id]
}

func (s *Server) memberView(id uint64) (memberInfo, bool) {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	m, ok := s.view.Members[id]
	return m, ok
}

// ID returns this member's id.
func (s *Server) ID() uint64 { return s.id }

// ClusterID returns the cluster's id, or 0 while the member waits to be added.
func (s *Server) ClusterID() uint64 { return s.clusterID.Load() }

// PeerAddr returns the address other members reach this member at.
func (s *Server) PeerAddr() string { return s.peerAddr }

// ClientAddr returns the address clients reach this member at.
func (s *Server) ClientAddr() string { return s.clientAddr }

// HTTPAddr returns the address of the HTTP endpoints, or "" when there are none.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// Removed reports whether this member learned it was removed.
func (s *Server) Removed() bool { return s.removed.Load() }

// Status describes the member, as the Status RPC does.
func (s *Server) Status(ctx context.Context) (*serverpb.StatusResponse, error) {
	var resp *serverpb.StatusResponse
	if err := s.inLoop(ctx, func() { resp = s.buildStatus() }); err != nil {
		return nil, err
	}
	// Off the loop: it may read files.
	resp.Tls = s.tlsStatus()
	return resp, nil
}

// Run serves the peer and client APIs and runs the event loop until ctx is
// done or the loop fails, then shuts down: it stops accepting, finishes the
// loop, and closes the transports and the wal. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	err := errors.New("server: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Server) run(ctx context.Context) error {
	var serving sync.WaitGroup
	serving.Add(2)
	go func() { defer serving.Done(); _ = s.peerGRPC.Serve(s.peerLis) }()
	go func() { defer serving.Done(); _ = s.clientGRPC.Serve(s.clientLis) }()
	var httpSrv *http.Server
	if s.httpLis != nil {
		httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		serving.Add(1)
		go func() { defer serving.Done(); _ = httpSrv.Serve(s.httpLis) }()
	}

	// The loop outlives ctx by the leadership hand-off.
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	loopErr := make(chan error, 1)
	go func() { loopErr <- s.loop(loopCtx) }()
	var syncing sync.WaitGroup
	syncing.Go(func() { s.syncer(loopCtx) })
	var err error
	select {
	case <-ctx.Done():
		s.handOffLeadership(s.handoffTimeout())
		stopLoop()
		err = <-loopErr
	case err = <-loopErr:
		stopLoop()
	}
	close(s.done) // releases every request still waiting on the loop
	syncing.Wait()
	s.probes.Wait()
	s.snapWriters.Wait()
	if err != nil {
		s.log.Error("event loop failed", "err", err)
	}
	stopped := make(chan struct{})
	go func() { s.clientGRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.cfg.RequestTimeout):
		s.clientGRPC.Stop()
		<-stopped
	}
	s.streamReaders.Wait()
	s.peerGRPC.Stop()
	if httpSrv != nil {
		// Probes answer at once (the loop is gone): no need to wait for them.
		_ = httpSrv.Close()
	}
	serving.Wait()
	if out := s.out.Load(); out != nil {
		_ = out.Close()
	}
	_ = s.in.Close()
	if cerr := s.wal.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// handoffTimeout bounds the leadership hand-off at shutdown: a transfer takes
// about a round trip and an election, well under an election timeout; a
// transferee that went down meanwhile must not hold up the shutdown long.
func (s *Server) handoffTimeout() time.Duration {
	return min(2*time.Duration(s.cfg.ElectionTicks)*s.cfg.TickInterval, s.cfg.RequestTimeout)
}

// inLoop runs f on the event loop and waits for it.
func (s *Server) inLoop(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case s.actc <- func() { f(); close(ran) }:
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.done:
		return errStopped
	}
	select {
	case <-ran:
		return nil
	case <-s.done:
		return errStopped
	}
}
