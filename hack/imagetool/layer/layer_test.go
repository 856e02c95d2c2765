package layer

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// tree writes files (path → content) under a new folder, with the given
// mode for each, and returns the folder.
func tree(t *testing.T, files map[string]string, modes map[string]os.FileMode) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		mode := modes[p]
		if mode == 0 {
			mode = 0o600
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestBuildIsDeterministic(t *testing.T) {
	files := map[string]string{"usr/local/bin/b": "bbb", "usr/local/bin/a": "aaa", "data/x": "x"}
	modes := map[string]os.FileMode{"usr/local/bin/a": 0o700, "usr/local/bin/b": 0o750}
	extra := []File{{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/x\n")}}

	// The same content in two folders, written in another order and with
	// other mtimes and modes: only the paths and bytes may count.
	l1, err := Build(tree(t, files, modes), extra, epoch)
	if err != nil {
		t.Fatal(err)
	}
	root2 := tree(t, files, map[string]os.FileMode{"usr/local/bin/a": 0o755, "usr/local/bin/b": 0o711})
	if err := os.Chtimes(filepath.Join(root2, "data/x"), time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	l2, err := Build(root2, extra, epoch)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Digest", "DiffID"} {
		h1, h2 := must(l1.Digest()), must(l2.Digest())
		if f == "DiffID" {
			h1, h2 = must(l1.DiffID()), must(l2.DiffID())
		}
		if h1 != h2 {
			t.Errorf("%s differs: %s and %s", f, h1, h2)
		}
	}

	// Another time is another layer: the mtimes are part of the content.
	l3, err := Build(root2, extra, epoch.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if must(l3.Digest()) == must(l1.Digest()) {
		t.Error("a different modification time gave the same digest")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestBuildEntries(t *testing.T) {
	root := tree(t, map[string]string{"usr/local/bin/tool": "#!", "usr/share/doc": "d"},
		map[string]os.FileMode{"usr/local/bin/tool": 0o700})
	l, err := Build(root, []File{{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\n")}}, epoch.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type ent struct {
		name string
		mode int64
		typ  byte
	}
	var got []ent
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v (whole seconds)", hdr.Name, hdr.ModTime, epoch)
		}
		got = append(got, ent{hdr.Name, hdr.Mode, hdr.Typeflag})
	}
	want := []ent{
		{"etc/", 0o755, tar.TypeDir},
		{"etc/group", 0o644, tar.TypeReg},
		{"usr/", 0o755, tar.TypeDir},
		{"usr/local/", 0o755, tar.TypeDir},
		{"usr/local/bin/", 0o755, tar.TypeDir},
		{"usr/local/bin/tool", 0o755, tar.TypeReg},
		{"usr/share/", 0o755, tar.TypeDir},
		{"usr/share/doc", 0o644, tar.TypeReg},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries\n got %v\nwant %v", got, want)
	}
}

func TestBuildRejects(t *testing.T) {
	root := tree(t, map[string]string{"etc/passwd": "x"}, nil)
	if _, err := Build(root, []File{{Path: "etc/passwd", Mode: 0o644}}, epoch); err == nil {
		t.Error("a file both in the tree and extra: no error")
	}
	if err := os.Symlink("passwd", filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(root, nil, epoch); err == nil {
		t.Error("a symlink in the tree: no error")
	}
	if _, err := Build("", nil, epoch); err == nil {
		t.Error("no files: no error")
	}
	if _, err := Build("", []File{{Path: "/"}}, epoch); err == nil {
		t.Error("an extra file at /: no error")
	}
}
