package provider

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// mountPoints creates the host directories that containers' mounts need and
// removes them once no running container needs them. A mount namespace shares
// the host's filesystem, so a mount point such as
// /var/run/secrets/kubernetes.io/serviceaccount must exist on the host; left
// there, it would outlive the kubelet. Only directories it created are ever
// removed, and only when empty.
type mountPoints struct {
	mu sync.Mutex
	// refs counts, per directory this kubelet created, the running processes
	// whose mounts need it.
	refs map[string]int
}

// acquire makes every target a directory (creating the missing ones) and
// returns the created directories this process now holds, for release.
func (m *mountPoints) acquire(targets []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refs == nil {
		m.refs = map[string]int{}
	}
	var held []string
	for _, target := range targets {
		created, err := m.missing(target)
		if err != nil {
			m.releaseLocked(held)
			return nil, err
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			m.releaseLocked(held)
			return nil, fmt.Errorf("create mount point %s: %w", target, err)
		}
		for _, dir := range created {
			m.refs[dir]++
		}
		held = append(held, created...)
	}
	return held, nil
}

// missing lists target and its ancestors that do not exist yet or that this
// kubelet created, from the top down.
func (m *mountPoints) missing(target string) ([]string, error) {
	var dirs []string
	for dir := filepath.Clean(target); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if m.refs[dir] > 0 {
			dirs = append(dirs, dir)
			continue
		}
		_, err := os.Lstat(dir)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("mount point %s: %w", target, err)
		}
		dirs = append(dirs, dir)
	}
	slices.Reverse(dirs)
	return dirs, nil
}

// release drops a process's hold on dirs and removes those no process needs.
func (m *mountPoints) release(dirs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.releaseLocked(dirs)
}

func (m *mountPoints) releaseLocked(dirs []string) {
	var unused []string
	for _, dir := range dirs {
		m.refs[dir]--
		if m.refs[dir] <= 0 {
			delete(m.refs, dir)
			unused = append(unused, dir)
		}
	}
	// Deepest first, so parents are empty when their turn comes.
	slices.SortFunc(unused, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, dir := range slices.Compact(unused) {
		_ = os.Remove(dir) // fails, and stays, if something else put files there
	}
}

// releaseAll removes every directory still held: the kubelet is stopping, and
// its processes die with it (Pdeathsig) without being waited for.
func (m *mountPoints) releaseAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var held []string
	for dir, n := range m.refs {
		for range n {
			held = append(held, dir)
		}
	}
	m.releaseLocked(held)
}
