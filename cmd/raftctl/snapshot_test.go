package main

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/server"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// startMember runs a real one-member cluster in-process (SaveSnapshot needs
// a real store) and returns its client endpoint once it leads.
func startMember(t *testing.T) []string {
	t.Helper()
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), Name: "m", Bootstrap: true,
		PeerListenAddr: "127.0.0.1:0", ClientListenAddr: "127.0.0.1:0",
		TickInterval: 10 * time.Millisecond, NoSync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("member: %v", err)
		}
	})
	deadline, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	for {
		st, err := srv.Status(deadline)
		if err == nil && st.GetHeader().GetLeaderId() == srv.ID() {
			return []string{srv.ClientAddr()}
		}
		if deadline.Err() != nil {
			t.Fatalf("no leader: %v", errors.Join(err, deadline.Err()))
		}
		// Polls a real member's election; no state machine under test here.
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSnapshotSaveStatus(t *testing.T) {
	eps := startMember(t)
	for _, k := range []string{"a", "b", "c"} {
		mustRun(t, eps, "put", k, "value-"+k)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	saved := decode[savedSnapshot](t, mustRun(t, eps, "snapshot", "save", file, "-o", "json"))
	if saved.Index < 4 || saved.Term == 0 || saved.ClusterID == "" || saved.Size == 0 || len(saved.SHA256) != 64 {
		t.Fatalf("save printed %+v", saved)
	}
	st, err := os.Stat(file)
	if err != nil || st.Size() != saved.Size {
		t.Fatalf("file: %v, %v; printed size %d", st, err, saved.Size)
	}
	if left, _ := filepath.Glob(file + ".tmp-*"); len(left) > 0 {
		t.Fatalf("temp files left: %v", left)
	}
	got := decode[snapshotStatus](t, mustRun(t, nil, "snapshot", "status", file, "-o", "json"))
	if got.Index != saved.Index || got.Term != saved.Term || got.ClusterID != saved.ClusterID ||
		got.SHA256 != saved.SHA256 || got.Size != saved.Size || len(got.Voters) != 1 || len(got.Members) != 1 {
		t.Fatalf("status %+v of saved %+v", got, saved)
	}
	table := mustRun(t, nil, "snapshot", "status", file)
	if !strings.Contains(table, saved.SHA256) {
		t.Fatalf("status table lacks the checksum:\n%s", table)
	}

	// The old form and its new name still compact a member's log.
	mustRun(t, eps, "snapshot", "compact", "--endpoint", eps[0])
	mustRun(t, eps, "snapshot")
}

func TestSnapshotStatusRefusesBadFiles(t *testing.T) {
	eps := startMember(t)
	mustRun(t, eps, "put", "k", "v")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	mustRun(t, eps, "snapshot", "save", good)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-40] ^= 1
	version := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(version[8:], 9)
	cases := []struct {
		file string
		want error
	}{
		{write("flipped.snap", flipped), snapfile.ErrChecksumMismatch},
		{write("short.snap", data[:len(data)-10]), snapfile.ErrTruncated},
		{write("other.snap", []byte("apiVersion: v1\nkind: ConfigMap\n")), snapfile.ErrNotSnapshot},
		{write("version.snap", version), snapfile.ErrUnsupportedVersion},
	}
	for _, c := range cases {
		out, errOut, code := raftctl(t, nil, "snapshot", "status", c.file)
		if code == 0 || !strings.Contains(errOut, c.want.Error()) || out != "" {
			t.Errorf("status %s: exit %d, stdout %q, stderr %q; want the error %q", filepath.Base(c.file), code, out, errOut, c.want)
		}
	}
}
