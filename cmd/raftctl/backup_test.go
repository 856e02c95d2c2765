package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/raftkube/raftkube/internal/backupresult"
	"github.com/raftkube/raftkube/internal/backupstore"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
	"github.com/raftkube/raftkube/raftnode/snapfile"
	"github.com/raftkube/raftkube/test/s3server"
)

const backupBucket = "backups"

// startS3 runs a real S3 server with TLS and a bucket, puts its credentials
// into the environment as the backup pods get them, and returns the
// storage flags that reach it (its CA trusted from a file).
func startS3(t *testing.T) (*s3server.Server, []string) {
	t.Helper()
	srv := s3server.Start(t, s3server.Options{TLS: true})
	srv.CreateBucket(t, backupBucket)
	ca := filepath.Join(t.TempDir(), "s3-ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envAccessKey, srv.AccessKey)
	t.Setenv(envSecretKey, srv.SecretKey)
	return srv, []string{"--s3-endpoint", srv.URL(), "--s3-bucket", backupBucket, "--s3-region", srv.Region, "--s3-ca-file", ca}
}

// readResult decodes the file --result-file wrote.
func readResult(t *testing.T, path string) backupresult.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the result file: %v", err)
	}
	if len(b) > backupresult.MaxResultBytes {
		t.Errorf("the result file has %d bytes, over %d", len(b), backupresult.MaxResultBytes)
	}
	var r backupresult.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode the result %s: %v", b, err)
	}
	return r
}

func args(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("args: %T", p))
		}
	}
	return out
}

// checkSaved checks a successful save's result against the snapshot file
// that storage holds (read at local) and status's view of it.
func checkSaved(t *testing.T, r backupresult.Result, key, location, local string) {
	t.Helper()
	if r.Error != nil || r.Key != key || r.Location != location || r.Index == 0 || r.Term == 0 ||
		r.ClusterID == "" || r.Member == "" || len(r.SHA256) != 64 || r.Seconds <= 0 {
		t.Fatalf("result %+v; want a success for %s at %s", r, key, location)
	}
	st := decode[snapshotStatus](t, mustRun(t, nil, "snapshot", "status", local, "-o", "json"))
	if st.SHA256 != r.SHA256 || st.Size != r.Size || st.Index != r.Index || st.ClusterID != r.ClusterID {
		t.Fatalf("the stored file %+v differs from the result %+v", st, r)
	}
}

func TestBackupSaveToDir(t *testing.T) {
	eps := startMember(t)
	for _, k := range []string{"a", "b", "c"} {
		mustRun(t, eps, "put", k, "value-"+k)
	}
	root := t.TempDir()
	result := filepath.Join(t.TempDir(), "termination-log")
	storage := []string{"--dir", root, "--volume-name", "backups-claim"}
	out := mustRun(t, eps, args("backup", "save", storage, "--key", "c1/0001.snap", "--result-file", result, "-o", "json")...)
	r := readResult(t, result)
	checkSaved(t, r, "c1/0001.snap", "volume://backups-claim/c1/0001.snap", filepath.Join(root, "c1", "0001.snap"))
	if printed := decode[backupresult.Result](t, out); printed.SHA256 != r.SHA256 || printed.Location != r.Location {
		t.Errorf("printed %+v, the result file %+v", printed, r)
	}
	// Nothing but the backup: the spool file was the one renamed.
	if got := dirFiles(t, root); !slices.Equal(got, []string{"c1/0001.snap"}) {
		t.Errorf("files under the volume: %q", got)
	}

	table := mustRun(t, eps, args("backup", "save", storage, "--key", "c1/0002.snap")...)
	if !strings.Contains(table, "volume://backups-claim/c1/0002.snap") || !strings.Contains(table, "SHA256") {
		t.Errorf("save table:\n%s", table)
	}
	list := decode[[]listedBackup](t, mustRun(t, nil, args("backup", "list", storage, "--prefix", "c1/", "-o", "json")...))
	if len(list) != 2 || list[0].Key != "c1/0001.snap" || list[1].Key != "c1/0002.snap" || list[0].Size != r.Size || list[0].Modified.IsZero() {
		t.Errorf("list = %+v", list)
	}
	if table := mustRun(t, nil, args("backup", "list", storage)...); !strings.Contains(table, "MODIFIED") || strings.Count(table, ".snap") != 2 {
		t.Errorf("list table:\n%s", table)
	}
}

// Four saves to a real S3 server over TLS, keeping two: each save prunes the
// oldest beyond them and says so.
func TestBackupSaveToS3AndPrune(t *testing.T) {
	eps := startMember(t)
	srv, storage := startS3(t)
	spool := t.TempDir()
	for n := 1; n <= 4; n++ {
		mustRun(t, eps, "put", fmt.Sprintf("k%d", n), "v")
		key := fmt.Sprintf("c1/%04d.snap", n)
		result := filepath.Join(t.TempDir(), "result.json")
		mustRun(t, eps, args("backup", "save", storage, "--key", key, "--spool-dir", spool,
			"--prune-prefix", "c1/", "--keep", "2", "--max-age", "24h", "--result-file", result)...)
		r := readResult(t, result)
		local := filepath.Join(t.TempDir(), "got.snap")
		mustRun(t, nil, args("backup", "fetch", storage, "--key", key, "--to", local)...)
		checkSaved(t, r, key, "s3://backups/"+key, local)
		var want []string
		if n > 2 {
			want = []string{fmt.Sprintf("c1/%04d.snap", n-2)}
		}
		if !slices.Equal(r.Pruned, want) || r.PrunedCount != len(want) {
			t.Errorf("save %d pruned %q (%d), want %q", n, r.Pruned, r.PrunedCount, want)
		}
		if left, _ := os.ReadDir(spool); len(left) != 0 {
			t.Errorf("spool files left after save %d: %v", n, left)
		}
	}
	list := decode[[]listedBackup](t, mustRun(t, nil, args("backup", "list", storage, "-o", "json")...))
	if len(list) != 2 || list[0].Key != "c1/0003.snap" || list[1].Key != "c1/0004.snap" {
		t.Errorf("left after four saves keeping 2: %+v", list)
	}
	// The objects are plain snapshot files, as any S3 client sees them.
	obj, err := srv.Client(t).GetObject(t.Context(), backupBucket, "c1/0004.snap", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if info, err := snapfile.Verify(obj); err != nil || info.Metadata.Index < 5 {
		t.Errorf("the object read with minio-go: %+v, %v", info, err)
	}
}

func TestBackupFetch(t *testing.T) {
	eps := startMember(t)
	mustRun(t, eps, "put", "k", "v")
	root := t.TempDir()
	storage := []string{"--dir", root}
	mustRun(t, eps, args("backup", "save", storage, "--key", "c/good.snap")...)
	good, err := os.ReadFile(filepath.Join(root, "c", "good.snap"))
	if err != nil {
		t.Fatal(err)
	}
	restoreDir := t.TempDir()
	to := filepath.Join(restoreDir, "restore.snap")
	fetch := func(key string, extra ...string) (fetched, string, int) {
		out, errOut, code := raftctl(t, nil, args("backup", "fetch", storage, "--key", key, "--to", to, "-o", "json", extra)...)
		var f fetched
		if code == 0 {
			f = decode[fetched](t, out)
		}
		return f, errOut, code
	}

	f, errOut, code := fetch("c/good.snap")
	if code != 0 || f.Action != "fetched" || f.Location != "volume://"+root+"/c/good.snap" || f.Size != int64(len(good)) {
		t.Fatalf("fetch: exit %d, %+v, %s", code, f, errOut)
	}
	if got, err := os.ReadFile(to); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("fetched %d bytes (%v), want the %d stored", len(got), err, len(good))
	}
	// A restarted init container finds the file whole and keeps it.
	if f, errOut, code = fetch("c/good.snap"); code != 0 || f.Action != "present" || f.SHA256 != fmt.Sprintf("%x", good[len(good)-32:]) {
		t.Errorf("second fetch: exit %d, %+v, %s", code, f, errOut)
	}

	// A damaged object is refused, by snapfile's error, and writes nothing;
	// a damaged FILE is fetched again.
	if err := os.Remove(to); err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-40] ^= 1
	for name, b := range map[string][]byte{"c/flipped.snap": flipped, "c/short.snap": good[:len(good)-10], "c/other.snap": []byte("hello")} {
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range map[string]error{
		"c/flipped.snap": snapfile.ErrChecksumMismatch,
		"c/short.snap":   snapfile.ErrTruncated,
		"c/other.snap":   snapfile.ErrNotSnapshot,
	} {
		if _, errOut, code := fetch(key); code != 1 || !strings.Contains(errOut, want.Error()) {
			t.Errorf("fetch %s: exit %d, %q; want %q", key, code, errOut, want)
		}
		if got := dirFiles(t, restoreDir); len(got) != 0 {
			t.Errorf("fetch %s left %q", key, got)
		}
	}
	if err := os.WriteFile(to, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, errOut, code = fetch("c/good.snap"); code != 0 || f.Action != "fetched" {
		t.Errorf("fetch over a damaged file: exit %d, %+v, %s", code, f, errOut)
	}
	if got, _ := os.ReadFile(to); !bytes.Equal(got, good) {
		t.Error("the damaged file was not replaced")
	}
	if err := os.Remove(to); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code = fetch("c/missing.snap", "--name", "m-0", "--bootstrap-member", "m-0"); code != 1 || !strings.Contains(errOut, backupstore.ErrObjectNotFound.Error()) {
		t.Errorf("fetch of a missing key: exit %d, %q", code, errOut)
	}
}

// Only the bootstrap member of a restored cluster, and only before it
// exists, needs the backup: the others fetch nothing, whatever the key.
func TestBackupFetchSkips(t *testing.T) {
	dataDir := t.TempDir()
	to := filepath.Join(t.TempDir(), "restore.snap")
	// No storage is reachable: skipping must not need it.
	t.Setenv(envAccessKey, "AKIAEXAMPLE")
	t.Setenv(envSecretKey, "secret")
	storage := []string{"--s3-endpoint", "https://" + clienttest.DownAddr(t), "--s3-bucket", backupBucket}
	for _, tc := range []struct {
		name  string
		extra []string
		why   string
	}{
		{"another member", []string{"--name", "rc-1", "--bootstrap-member", "rc-0"}, "not the bootstrap member"},
		{"empty bootstrap member", []string{"--name", "rc-1", "--bootstrap-member", ""}, "not the bootstrap member"},
		{"a member exists", []string{"--name", "rc-0", "--bootstrap-member", "rc-0", "--data-dir", dataDir}, "holds a member already"},
	} {
		if tc.name == "a member exists" {
			if err := os.WriteFile(filepath.Join(dataDir, "member.json"), []byte(`{"member_id":42,"cluster_id":7,"name":"rc-0"}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out, errOut, code := raftctl(t, nil, args("backup", "fetch", storage, "--key", "c/x.snap", "--to", to, tc.extra)...)
		if code != 0 || !strings.Contains(out, tc.why) {
			t.Errorf("%s: exit %d, out %q, stderr %q; want %q", tc.name, code, out, errOut, tc.why)
		}
		if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s exists: %v", tc.name, to, err)
		}
	}
	// The bootstrap member of a new data dir does fetch: here, from nowhere.
	// So does one whose data dir holds a member that never joined a cluster
	// (cluster id 0): raftnode founds the restored cluster over it.
	waiting := t.TempDir()
	if err := os.WriteFile(filepath.Join(waiting, "member.json"), []byte(`{"member_id":42,"cluster_id":0,"name":"rc-0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"new data dir": t.TempDir(), "waiting member": waiting} {
		_, errOut, code := raftctl(t, nil, args("backup", "fetch", storage, "--key", "c/x.snap", "--to", to,
			"--name", "rc-0", "--bootstrap-member", "rc-0", "--data-dir", dir)...)
		if code != 1 || !strings.Contains(errOut, backupstore.ErrUnreachable.Error()) {
			t.Errorf("the bootstrap member's fetch, %s: exit %d, %q; want it to try and fail", name, code, errOut)
		}
	}
}

// Every failure exits 1 and leaves a result file whose reason says whose
// fault it was, and no object or spool file behind.
func TestBackupSaveFailures(t *testing.T) {
	eps := startMember(t)
	mustRun(t, eps, "put", "k", "v")
	srv, storage := startS3(t)
	spool := t.TempDir()
	down := clienttest.DownAddr(t)
	for _, tc := range []struct {
		name   string
		eps    []string
		env    map[string]string
		args   []string
		reason string
	}{
		{name: "wrong secret", eps: eps, env: map[string]string{envSecretKey: "wrong" + srv.SecretKey},
			args: args(storage, "--key", "c/1.snap"), reason: backupstore.ReasonStorageAccessDenied},
		{name: "missing bucket", eps: eps, args: args(storage, "--s3-bucket", "nope", "--key", "c/1.snap"),
			reason: backupstore.ReasonStorageNotFound},
		{name: "unreachable storage", eps: eps, args: args(storage, "--s3-endpoint", "https://"+down, "--key", "c/1.snap"),
			reason: backupstore.ReasonStorageUnreachable},
		{name: "unreachable members", eps: []string{down}, args: args(storage, "--key", "c/1.snap"),
			reason: backupstore.ReasonClusterUnreachable},
		{name: "no credentials", eps: eps, env: map[string]string{envAccessKey: ""}, args: args(storage, "--key", "c/1.snap"),
			reason: backupstore.ReasonInvalidConfig},
		{name: "two storages", eps: eps, args: args(storage, "--dir", t.TempDir(), "--key", "c/1.snap"),
			reason: backupstore.ReasonInvalidConfig},
		{name: "no storage", eps: eps, args: []string{"--key", "c/1.snap"}, reason: backupstore.ReasonInvalidConfig},
		{name: "bad key", eps: eps, args: args(storage, "--key", "../c/1.snap"), reason: backupstore.ReasonInvalidConfig},
		{name: "keep without a prefix", eps: eps, args: args(storage, "--key", "c/1.snap", "--keep", "3"), reason: backupstore.ReasonInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			result := filepath.Join(t.TempDir(), "result.json")
			_, errOut, code := raftctl(t, tc.eps, args("backup", "save", "--spool-dir", spool, "--result-file", result, tc.args)...)
			if code != 1 {
				t.Fatalf("exit %d, stderr %q; want 1", code, errOut)
			}
			r := readResult(t, result)
			if r.Error == nil || r.Error.Reason != tc.reason || r.Error.Message == "" || r.SHA256 != "" {
				t.Errorf("result %+v; want the reason %s", r, tc.reason)
			}
			if r.Error != nil && !strings.Contains(errOut, r.Error.Message) {
				t.Errorf("stderr %q lacks the result's message %q", errOut, r.Error.Message)
			}
		})
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
	for obj := range srv.Client(t).ListObjects(t.Context(), backupBucket, minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("object after failed saves: %s %v", obj.Key, obj.Err)
	}
}

// dirFiles lists every file under root, temporary ones included.
func dirFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
