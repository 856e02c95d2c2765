package wal

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

var crashIterations = flag.Int("wal.crash-iterations", 20, "number of kill -9 rounds in TestCrashMidAppend")

// The environment of a crash-test child writer.
const (
	childDirEnv   = "WAL_CRASH_CHILD_DIR"
	childTermEnv  = "WAL_CRASH_CHILD_TERM"
	childStartEnv = "WAL_CRASH_CHILD_START"
	childSeedEnv  = "WAL_CRASH_CHILD_SEED"
	// childAsyncEnv makes the child Write and acknowledge from a goroutine
	// calling Sync, instead of calling Save.
	childAsyncEnv = "WAL_CRASH_CHILD_ASYNC"
	crashSegSize  = 4096
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := runCrashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func envUint(name string) uint64 {
	v, _ := strconv.ParseUint(os.Getenv(name), 10, 64)
	return v
}

// runCrashChild appends batches of entries of the given term from the given
// start index until it is killed, printing the last index after every Save
// returns (after its fsync). Every 30 batches it saves a snapshot 10 entries
// back and compacts.
func runCrashChild(dir string) error {
	term, start := envUint(childTermEnv), envUint(childStartEnv)
	rng := rand.New(rand.NewPCG(envUint(childSeedEnv), term))
	l, err := Open(Options{Dir: dir, SegmentSize: crashSegSize})
	if err != nil {
		return err
	}
	var acks *asyncAcks
	if os.Getenv(childAsyncEnv) != "" {
		acks = startAsyncAcks(l)
	}
	for i, batch := start, 0; ; batch++ {
		n := 1 + rng.Uint64N(8)
		hs, ents := pb.HardState{Term: term, Vote: 1, Commit: i - 1}, mkEnts(i, i+n, term)
		i += n
		if acks != nil {
			if err := acks.write(hs, ents, i-1); err != nil {
				return err
			}
		} else {
			if err := l.Save(hs, ents); err != nil {
				return err
			}
			if _, err := fmt.Fprintf(os.Stdout, "%d\n", i-1); err != nil {
				return err
			}
		}
		if batch%30 == 29 {
			if err := childSnapshot(l, i-10); err != nil {
				return err
			}
		}
	}
}

// asyncAcks acknowledges writes from a goroutine calling Sync: it prints the
// last index of the newest write each Sync covered.
type asyncAcks struct {
	l       *Log
	mu      sync.Mutex
	pending []writtenAt // in write order
	errc    chan error
}

type writtenAt struct{ seq, last uint64 }

func startAsyncAcks(l *Log) *asyncAcks {
	a := &asyncAcks{l: l, errc: make(chan error, 1)}
	go func() {
		for {
			seq, err := l.Sync()
			if err != nil {
				a.errc <- err
				return
			}
			a.mu.Lock()
			var last uint64
			for len(a.pending) > 0 && a.pending[0].seq <= seq {
				last, a.pending = a.pending[0].last, a.pending[1:]
			}
			a.mu.Unlock()
			if last == 0 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			if _, err := fmt.Fprintf(os.Stdout, "%d\n", last); err != nil {
				a.errc <- err
				return
			}
		}
	}()
	return a
}

func (a *asyncAcks) write(hs pb.HardState, ents []pb.Entry, last uint64) error {
	select {
	case err := <-a.errc:
		return err
	default:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	seq, _, err := a.l.Write(hs, ents)
	if err != nil {
		return err
	}
	a.pending = append(a.pending, writtenAt{seq: seq, last: last})
	return nil
}

func childSnapshot(l *Log, index uint64) error {
	snap, _ := l.Snapshot()
	if first, _ := l.FirstIndex(); index <= snap.Metadata.Index || index < first {
		return nil
	}
	term, err := l.Term(index)
	if err != nil {
		return err
	}
	meta := pb.SnapshotMetadata{Index: index, Term: term, ConfState: pb.ConfState{Voters: []uint64{1}}}
	if err := l.SaveSnapshot(pb.Snapshot{Metadata: meta}); err != nil {
		return err
	}
	return l.Compact(index + 1)
}

// TestCrashMidAppend kills a writer process at random moments and checks that
// every entry it acknowledged survives with its term and data.
func TestCrashMidAppend(t *testing.T) {
	t.Run("save", func(t *testing.T) { testCrashMidAppend(t, false) })
	t.Run("write-sync", func(t *testing.T) { testCrashMidAppend(t, true) })
}

func testCrashMidAppend(t *testing.T, async bool) {
	dir := filepath.Join(t.TempDir(), "wal")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	acked := map[uint64]uint64{} // index -> term of the last acknowledged write
	begin, total := time.Now(), 0
	for iter := 1; iter <= *crashIterations; iter++ {
		start := verifyCrashLog(t, dir, acked, iter)
		for i := range acked {
			if i >= start {
				delete(acked, i) // about to be overwritten by a newer term
			}
		}
		last := runChild(t, dir, uint64(iter), start, seed, async, time.Duration(5+rng.IntN(60))*time.Millisecond)
		for i := start; i <= last && last != 0; i++ {
			acked[i] = uint64(iter)
		}
		total += int(last + 1 - min(start, last+1))
	}
	verifyCrashLog(t, dir, acked, *crashIterations+1)
	t.Logf("%d kill -9 iterations in %v (seed %d): %d entries acknowledged, %d still held",
		*crashIterations, time.Since(begin).Round(time.Millisecond), seed, total, len(acked))
}

// verifyCrashLog reopens the log, checks acked against it and that every entry
// holds the data written for its index and term, and returns the index the next
// writer starts at (rewriting the last entry, to exercise conflict truncation).
func verifyCrashLog(t *testing.T, dir string, acked map[uint64]uint64, iter int) uint64 {
	t.Helper()
	l, err := Open(Options{Dir: dir, SegmentSize: crashSegSize})
	if err != nil {
		t.Fatalf("iteration %d: reopen: %v", iter, err)
	}
	defer mustClose(t, l)
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	for _, e := range allEntries(t, l) {
		if !bytes.Equal(e.Data, entryData(e.Index, e.Term)) {
			t.Fatalf("iteration %d: entry %d/%d holds %q", iter, e.Index, e.Term, e.Data)
		}
	}
	for i, term := range acked {
		if i < first {
			continue // compacted into a snapshot
		}
		got, err := l.Term(i)
		if err != nil || got != term {
			t.Fatalf("iteration %d: acknowledged entry %d of term %d: term %d, %v (log %d..%d)",
				iter, i, term, got, err, first, last)
		}
	}
	if last >= 2 && last-1 >= first {
		return last - 1
	}
	return last + 1
}

// runChild runs a writer, kills it after d and returns the last index it
// acknowledged (0 if none).
func runChild(t *testing.T, dir string, term, start, seed uint64, async bool, d time.Duration) uint64 {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "child-stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childDirEnv+"="+dir,
		childTermEnv+"="+strconv.FormatUint(term, 10),
		childStartEnv+"="+strconv.FormatUint(start, 10),
		childSeedEnv+"="+strconv.FormatUint(seed, 10))
	if async {
		cmd.Env = append(cmd.Env, childAsyncEnv+"=1")
	}
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child exited by itself (%v): %s", cmd.ProcessState, stderr.String())
	}
	return lastAck(t, out.Name())
}

// lastAck returns the last complete line the child printed.
func lastAck(t *testing.T, path string) uint64 {
	b := readFile(t, path)
	b = b[:bytes.LastIndexByte(b, '\n')+1] // a line cut by the kill does not count
	var last uint64
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		v, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		last = v
	}
	return last
}
