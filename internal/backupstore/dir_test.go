package backupstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// keys lists the keys of objs.
func keys(objs []Object) []string {
	ks := make([]string, len(objs))
	for i, o := range objs {
		ks[i] = o.Key
	}
	return ks
}

func put(t *testing.T, s Store, key, data string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, s Store, key string) string {
	t.Helper()
	r, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

// files lists every file under root, temp files included.
func files(t *testing.T, root string) []string {
	t.Helper()
	var fs []string
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			fs = append(fs, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDirRoundTrip(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root, "backups-claim")
	if got, want := d.Location("c/1.snap"), "volume://backups-claim/c/1.snap"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := NewDir("/mnt/b/", "").Location("k"), "volume:///mnt/b/k"; got != want {
		t.Errorf("Location without a name = %q, want %q", got, want)
	}
	for _, k := range []string{"c/b/2.snap", "c/a.snap", "c/b/1.snap", "cd/x.snap", "top.snap"} {
		put(t, d, k, "data of "+k)
	}
	put(t, d, "c/a.snap", "replaced")
	if got := get(t, d, "c/a.snap"); got != "replaced" {
		t.Errorf("get after a second put = %q", got)
	}
	if got := get(t, d, "c/b/1.snap"); got != "data of c/b/1.snap" {
		t.Errorf("get = %q", got)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"c/a.snap", "c/b/1.snap", "c/b/2.snap", "cd/x.snap", "top.snap"}},
		{"c/", []string{"c/a.snap", "c/b/1.snap", "c/b/2.snap"}},
		{"c", []string{"c/a.snap", "c/b/1.snap", "c/b/2.snap", "cd/x.snap"}},
		{"c/b/1", []string{"c/b/1.snap"}},
		{"nothing/", nil},
	} {
		objs, err := d.List(t.Context(), tc.prefix)
		if err != nil {
			t.Fatalf("list %q: %v", tc.prefix, err)
		}
		if got := keys(objs); !slices.Equal(got, tc.want) {
			t.Errorf("list %q = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	objs, _ := d.List(t.Context(), "c/a")
	if len(objs) != 1 || objs[0].Size != int64(len("replaced")) || objs[0].Modified.IsZero() {
		t.Errorf("list c/a = %+v", objs)
	}

	if err := d.Delete(t.Context(), "c/b/1.snap"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(t.Context(), "c/b/1.snap"); err != nil {
		t.Errorf("delete of an absent key: %v, want nil", err)
	}
	if _, err := d.Get(t.Context(), "c/b/1.snap"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("get after delete: %v, want ErrObjectNotFound", err)
	}
	if objs, _ := d.List(t.Context(), "c/b/"); !slices.Equal(keys(objs), []string{"c/b/2.snap"}) {
		t.Errorf("list after delete = %q", keys(objs))
	}
}

// A root that is a symbolic link, as a volume mounted through one, lists
// the keys where it leads.
func TestDirSymlinkedRoot(t *testing.T) {
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "backups")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	d := NewDir(link, "v")
	put(t, d, "a.snap", "a")
	put(t, d, "c/b.snap", "b")
	for _, prefix := range []string{"", "c/"} {
		objs, err := d.List(t.Context(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"a.snap", "c/b.snap"}
		if prefix != "" {
			want = want[1:]
		}
		if got := keys(objs); !slices.Equal(got, want) {
			t.Errorf("list %q = %q, want %q", prefix, got, want)
		}
	}
}

// failingReader returns n bytes, then fails.
type failingReader struct{ n int }

var errReader = errors.New("reader broke")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errReader
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// A Put that fails leaves nothing behind: no object under its key, no temp
// file, and the object it would have replaced unchanged.
func TestDirPutIsAtomic(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root, "v")
	put(t, d, "a/old.snap", "old")
	err := d.Put(t.Context(), "a/old.snap", &failingReader{n: 3 << 20}, 4<<20)
	if !errors.Is(err, errReader) {
		t.Fatalf("put from a broken reader: %v, want its error", err)
	}
	if err := d.Put(t.Context(), "a/new.snap", strings.NewReader("short"), 10); err == nil {
		t.Fatal("put of fewer bytes than its size succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Put(ctx, "a/cancelled.snap", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	if got, want := files(t, root), []string{"a/old.snap"}; !slices.Equal(got, want) {
		t.Errorf("files after failed puts: %q, want %q", got, want)
	}
	if got := get(t, d, "a/old.snap"); got != "old" {
		t.Errorf("replaced object after a failed put: %q", got)
	}

	// A file being written is not listed, and Abort removes it.
	p, err := d.Create(t.Context(), "a/pending.snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.File.WriteString("partial"); err != nil {
		t.Fatal(err)
	}
	if objs, _ := d.List(t.Context(), ""); !slices.Equal(keys(objs), []string{"a/old.snap"}) {
		t.Errorf("list while a file is pending: %q", keys(objs))
	}
	p.Abort()
	if got := files(t, root); !slices.Equal(got, []string{"a/old.snap"}) {
		t.Errorf("files after abort: %q", got)
	}

	p, err = d.Create(t.Context(), "a/b/c/committed.snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.File.WriteString("whole"); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	p.Abort() // after Commit: nothing to do
	if got := get(t, d, "a/b/c/committed.snap"); got != "whole" {
		t.Errorf("committed file = %q", got)
	}
}

func TestDirInvalidKeys(t *testing.T) {
	d := NewDir(t.TempDir(), "v")
	long := strings.Repeat("k", MaxKeyBytes+1)
	for _, key := range []string{"", "/abs.snap", "a//b", "a/", "../up.snap", "a/../../b", "./a", "a/./b", `a\b`, "a\x00b", long, ".tmp-x/a", "a/.tmp-b"} {
		if err := d.Put(t.Context(), key, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", key, err)
		}
		if _, err := d.Get(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("get %q: %v, want ErrInvalidKey", key, err)
		}
		if err := d.Delete(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("delete %q: %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/a", "../", "a//", "a/../b"} {
		if _, err := d.List(t.Context(), prefix); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("list %q: %v, want ErrInvalidKey", prefix, err)
		}
	}
	if got := files(t, d.root); len(got) != 0 {
		t.Errorf("files after invalid keys: %q", got)
	}
	for _, key := range []string{"a", "a/b.c/d-e_f.snap", "..a/b..", ".hidden/x"} {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
}

// A root that does not exist is a volume that is not there: nothing is
// created in its place.
func TestDirMissingRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "gone")
	d := NewDir(root, "claim")
	ctx := t.Context()
	checks := map[string]error{
		"put":    d.Put(ctx, "a/b.snap", bytes.NewReader([]byte("x")), 1),
		"delete": d.Delete(ctx, "a/b.snap"),
	}
	_, checks["get"] = d.Get(ctx, "a/b.snap")
	_, checks["list"] = d.List(ctx, "")
	_, checks["create"] = d.Create(ctx, "a/b.snap")
	for op, err := range checks {
		if !errors.Is(err, ErrStorageNotFound) {
			t.Errorf("%s on a missing root: %v, want ErrStorageNotFound", op, err)
		}
		if Reason(err) != ReasonStorageNotFound {
			t.Errorf("%s on a missing root: reason %q", op, Reason(err))
		}
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing root was created: %v", err)
	}
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(file, "").List(ctx, ""); !errors.Is(err, ErrStorageNotFound) {
		t.Errorf("list of a root that is a file: %v, want ErrStorageNotFound", err)
	}
}
