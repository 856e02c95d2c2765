package provider

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMountPointsCreatedAndRemoved(t *testing.T) {
	root := t.TempDir() // exists: never removed
	target := filepath.Join(root, "var", "run", "secrets")
	other := filepath.Join(root, "var", "lib", "data")
	var m mountPoints

	first, err := m.acquire([]string{target})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "var"), filepath.Join(root, "var", "run"), target}
	if !slices.Equal(first, want) {
		t.Fatalf("first process holds %v, want %v", first, want)
	}
	second, err := m.acquire([]string{target, other}) // shares var and var/run
	if err != nil {
		t.Fatal(err)
	}
	// var is held once per target that needs it.
	want = append(want, filepath.Join(root, "var"), filepath.Join(root, "var", "lib"), other)
	if !slices.Equal(second, want) {
		t.Fatalf("second process holds %v, want %v", second, want)
	}

	m.release(first)
	for _, dir := range []string{target, other} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s removed while the second process needs it: %v", dir, err)
		}
	}
	// Something else put a file in var/lib: that directory stays, the rest goes.
	if err := os.WriteFile(filepath.Join(root, "var", "lib", "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m.release(second)
	for _, gone := range []string{target, filepath.Join(root, "var", "run"), other} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left behind (stat: %v)", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var", "lib", "keep")); err != nil {
		t.Errorf("a directory with someone else's file was removed: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("a directory that existed before was removed: %v", err)
	}
	if len(m.refs) != 0 {
		t.Errorf("references left: %v", m.refs)
	}
}

func TestMountPointsExistingTargetIsNotHeld(t *testing.T) {
	var m mountPoints
	held, err := m.acquire([]string{t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 0 {
		t.Errorf("an existing directory is held for removal: %v", held)
	}
}

func TestMountPointsUnderAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var m mountPoints
	if _, err := m.acquire([]string{filepath.Join(file, "sub")}); err == nil {
		t.Fatal("a mount point under a regular file was created")
	}
	if len(m.refs) != 0 {
		t.Errorf("references left after a failed acquire: %v", m.refs)
	}
}

func TestMountPointsReleaseAll(t *testing.T) {
	root := t.TempDir()
	var m mountPoints
	for range 2 {
		if _, err := m.acquire([]string{filepath.Join(root, "a", "b")}); err != nil {
			t.Fatal(err)
		}
	}
	m.releaseAll()
	if _, err := os.Stat(filepath.Join(root, "a")); !os.IsNotExist(err) {
		t.Errorf("mount points left after releaseAll (stat: %v)", err)
	}
}
