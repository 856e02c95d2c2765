package member

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/examples/kvstore/internal/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 10 * time.Second

// running is a member whose Run goroutine and peer endpoint are up.
type running struct {
	*Member
	stop func() error // cancels Run and returns what it returned
}

// listeners reserves a loopback listener per id, so that every member's URL
// is known before any member opens.
func listeners(t *testing.T, ids ...uint64) (map[uint64]net.Listener, map[uint64]string) {
	t.Helper()
	lns, urls := map[uint64]net.Listener{}, map[uint64]string{}
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], urls[id] = ln, "http://"+ln.Addr().String()
	}
	return lns, urls
}

// startMember opens member id in dir and runs it, serving its peer endpoint
// on ln.
func startMember(t *testing.T, id uint64, dir string, ln net.Listener, peers map[uint64]string, join bool) *running {
	t.Helper()
	m, err := Open(Config{
		ID: id, DataDir: dir, Peers: peers, Join: join,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, SnapshotEntries: 5,
	})
	if err != nil {
		t.Fatalf("open member %d: %v", id, err)
	}
	mux := http.NewServeMux()
	mux.Handle(transport.Path, m.PeerHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	served := make(chan struct{})
	go func() {
		_ = srv.Serve(ln)
		close(served)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	r := &running{Member: m}
	stopped := false
	var runErr error
	r.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-ran
			_ = srv.Close()
			<-served
		}
		return runErr
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// reopen returns a listener on the address ln had.
func reopen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func eventually(t *testing.T, what string, cond func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, waitTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitLeader(t *testing.T, members ...*running) uint64 {
	t.Helper()
	var lead uint64
	eventually(t, "a leader known to all", func(ctx context.Context) error {
		lead = 0
		for _, m := range members {
			st, err := m.Status(ctx)
			if err != nil {
				return err
			}
			if st.Leader == 0 || (lead != 0 && st.Leader != lead) {
				return fmt.Errorf("member %d knows leader %d", st.ID, st.Leader)
			}
			lead = st.Leader
		}
		return nil
	})
	return lead
}

func mustGet(t *testing.T, m *running, key, want string) {
	t.Helper()
	eventually(t, fmt.Sprintf("read %s on member %d", key, m.id), func(ctx context.Context) error {
		got, found, err := m.Get(ctx, key)
		switch {
		case err != nil:
			return err
		case !found || got != want:
			return fmt.Errorf("%s = %q (found %t), want %q", key, got, found, want)
		}
		return nil
	})
}

func mustPut(t *testing.T, m *running, key, value string) {
	t.Helper()
	eventually(t, fmt.Sprintf("write %s on member %d", key, m.id), func(ctx context.Context) error {
		return m.Put(ctx, key, value)
	})
}

// One member: writes survive a restart, through snapshots (every 5 entries)
// and the log after the last one.
func TestSingleMemberRestart(t *testing.T) {
	dir := t.TempDir()
	lns, urls := listeners(t, 1)
	m := startMember(t, 1, dir, lns[1], urls, false)
	waitLeader(t, m)
	for i := range 12 {
		mustPut(t, m, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SnapshotIndex <= 1 || st.Keys != 12 {
		t.Fatalf("status %+v: want a snapshot past the bootstrap one and 12 keys", st)
	}
	if err := m.stop(); err != nil {
		t.Fatalf("Run returned %v on cancel, want nil", err)
	}

	m = startMember(t, 1, dir, reopen(t, lns[1].Addr().String()), urls, false)
	waitLeader(t, m)
	for i := range 12 {
		mustGet(t, m, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
}

// Without a quorum nothing can be read or written, and the member says so
// at once rather than when the caller gives up.
func TestNoLeaderIsUnavailable(t *testing.T) {
	lns, urls := listeners(t, 1, 2, 3)
	m := startMember(t, 1, t.TempDir(), lns[1], urls, false)
	for _, id := range []uint64{2, 3} {
		_ = lns[id].Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, _, err := m.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get without a leader: %v, want ErrUnavailable", err)
	}
	if err := m.Put(ctx, "k", "v"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put without a leader: %v, want ErrUnavailable", err)
	}
	if err := m.RemoveMember(ctx, 0); !errors.Is(err, ErrRefused) {
		t.Fatalf("RemoveMember(0): %v, want ErrRefused", err)
	}
}

// Three members in one process over real loopback HTTP: a write through a
// follower is read on every member, a fourth member joins and catches up,
// and a removed member's Run returns ErrRemoved.
func TestMembershipInProcess(t *testing.T) {
	lns, urls := listeners(t, 1, 2, 3, 4)
	initial := map[uint64]string{1: urls[1], 2: urls[2], 3: urls[3]}
	members := map[uint64]*running{}
	for _, id := range []uint64{1, 2, 3} {
		members[id] = startMember(t, id, t.TempDir(), lns[id], initial, false)
	}
	lead := waitLeader(t, members[1], members[2], members[3])
	follower := members[lead%3+1]
	for i := range 7 {
		mustPut(t, follower, fmt.Sprintf("k%d", i), "v")
	}
	for _, m := range members {
		mustGet(t, m, "k6", "v")
	}

	eventually(t, "add member 4", func(ctx context.Context) error {
		return follower.AddMember(ctx, 4, urls[4])
	})
	members[4] = startMember(t, 4, t.TempDir(), lns[4], urls, true)
	mustGet(t, members[4], "k0", "v")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := members[4].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Voters, []uint64{1, 2, 3, 4}) || st.Peers[4] != urls[4] {
		t.Fatalf("member 4's status %+v: want voters 1..4 and its own URL among the peers", st)
	}

	// Removing a member that is not one changes nothing: a retried removal
	// succeeds.
	if err := follower.RemoveMember(ctx, 9); err != nil {
		t.Fatalf("removing a non-member: %v, want success", err)
	}
	victim := uint64(1)
	if victim == follower.id {
		victim = 2
	}
	eventually(t, fmt.Sprintf("remove member %d", victim), func(ctx context.Context) error {
		return follower.RemoveMember(ctx, victim)
	})
	eventually(t, "the removed member stops", func(context.Context) error {
		select {
		case <-members[victim].done:
			return nil
		default:
			return errors.New("still running")
		}
	})
	if err := members[victim].stop(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("the removed member's Run returned %v, want ErrRemoved", err)
	}
	mustPut(t, members[4], "after", "removal")
	mustGet(t, follower, "after", "removal")
}

func TestOpenRejectsInvalidConfig(t *testing.T) {
	valid := Config{ID: 1, DataDir: t.TempDir(), Peers: map[uint64]string{1: "http://127.0.0.1:1"},
		TickInterval: time.Millisecond, ElectionTicks: 10, SnapshotEntries: 1}
	for name, change := range map[string]func(*Config){
		"no id":              func(c *Config) { c.ID = 0 },
		"no tick":            func(c *Config) { c.TickInterval = 0 },
		"no snapshot period": func(c *Config) { c.SnapshotEntries = 0 },
		"not among peers":    func(c *Config) { c.ID = 2 },
	} {
		cfg := valid
		change(&cfg)
		if _, err := Open(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Open = %v, want ErrInvalidConfig", name, err)
		}
	}
}
