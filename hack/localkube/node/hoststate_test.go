package node

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeSysctls makes a /proc/sys stand-in holding values.
func fakeSysctls(t *testing.T, values map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range values {
		path := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSnapshotAndRestoreSysctls(t *testing.T) {
	root := fakeSysctls(t, map[string]string{
		"vm/overcommit_memory":               "0",
		"kernel/panic":                       "1",
		"kernel/panic_on_oops":               "0",
		"net/ipv4/ip_forward":                "0",
		"net/bridge/bridge-nf-call-iptables": "0",
	})
	cg := t.TempDir()
	dirs := []string{filepath.Join(t.TempDir(), "was-there"), filepath.Join(t.TempDir(), "var-lib-cni")}
	if err := os.Mkdir(dirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	hp := hostPaths{SysctlRoot: root, CgroupRoot: cg, Dirs: dirs}
	snap, err := snapshotHost(hp)
	if err != nil {
		t.Fatal(err)
	}
	if v := snap.Sysctls["kernel/panic"]; v == nil || *v != "1" {
		t.Errorf("kernel/panic recorded as %v, want 1", v)
	}
	if v, ok := snap.Sysctls["net/netfilter/nf_conntrack_max"]; !ok || v != nil {
		t.Errorf("a missing sysctl is recorded as %v (present %v), want null", v, ok)
	}
	if !snap.Dirs[dirs[0]] || snap.Dirs[dirs[1]] {
		t.Errorf("dirs recorded as %v", snap.Dirs)
	}

	// What the kubelet, the bridge plugin and the node do.
	for k, v := range map[string]string{
		"vm/overcommit_memory":               "1",
		"kernel/panic":                       "10",
		"kernel/panic_on_oops":               "1",
		"net/ipv4/ip_forward":                "1",
		"net/bridge/bridge-nf-call-iptables": "1",
	} {
		if err := writeSysctl(root, k, v); err != nil {
			t.Fatal(err)
		}
	}
	// A sysctl that appears later (a module loaded meanwhile) is left alone.
	if err := os.MkdirAll(filepath.Join(root, "net/netfilter"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeSysctl(root, "net/netfilter/nf_conntrack_max", "131072"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(d, "device-plugins"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	restored, err := restoreSysctls(root, snap.Sysctls)
	if err != nil {
		t.Fatal(err)
	}
	wantRestored := []string{
		"kernel/panic 10->1", "kernel/panic_on_oops 1->0", "net/bridge/bridge-nf-call-iptables 1->0",
		"net/ipv4/ip_forward 1->0", "vm/overcommit_memory 1->0",
	}
	if !reflect.DeepEqual(restored, wantRestored) {
		t.Errorf("restored %q, want %q", restored, wantRestored)
	}
	for k, want := range map[string]string{
		"vm/overcommit_memory": "0", "kernel/panic": "1", "kernel/panic_on_oops": "0",
		"net/ipv4/ip_forward": "0", "net/bridge/bridge-nf-call-iptables": "0",
		"net/netfilter/nf_conntrack_max": "131072",
	} {
		if got, _ := readSysctl(root, k); got != want {
			t.Errorf("%s = %q after restore, want %q", k, got, want)
		}
	}
	if again, err := restoreSysctls(root, snap.Sysctls); err != nil || len(again) != 0 {
		t.Errorf("a second restore changed %q (%v), want nothing", again, err)
	}

	if err := removeCreatedDirs(snap.Dirs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dirs[0]); err != nil {
		t.Errorf("a directory that existed before was removed: %v", err)
	}
	if _, err := os.Stat(dirs[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a directory the node created is still there: %v", err)
	}
}

func TestSnapshotRefusesOtherKubeletsPods(t *testing.T) {
	cg := t.TempDir()
	pods := filepath.Join(cg, "pids", kubepodsCgroup, "besteffort", "pod1")
	if err := os.MkdirAll(pods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pods, "cgroup.procs"), []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := snapshotHost(hostPaths{SysctlRoot: t.TempDir(), CgroupRoot: cg})
	if err == nil || !strings.Contains(err.Error(), "another kubelet") {
		t.Fatalf("snapshotHost = %v, want a refusal naming another kubelet", err)
	}
}

func TestRemoveCgroupTree(t *testing.T) {
	cg := t.TempDir()
	created := filepath.Join(cg, "memory", kubepodsCgroup)
	if err := os.MkdirAll(filepath.Join(created, "burstable", "podX", "ctr"), 0o755); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(cg, "cpu", kubepodsCgroup)
	if err := os.MkdirAll(kept, 0o755); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshotHost(hostPaths{SysctlRoot: t.TempDir(), CgroupRoot: cg})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Cgroups[kept] || !snap.Cgroups[created] {
		t.Fatalf("cgroups recorded as %v", snap.Cgroups)
	}
	if err := removeCgroupTree(created); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(created); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup tree still there: %v", err)
	}
	if err := removeCgroupTree(created); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
}

// fakeIptables is an iptablesRunner over in-memory tables.
type fakeIptables struct {
	chainsBy map[string][]string // "bin table" -> chains
	rulesBy  map[string][][]string
	ran      []string
}

func (f *fakeIptables) chains(bin, table string) ([]string, error) {
	return f.chainsOf(bin + " " + table), nil
}

func (f *fakeIptables) chainsOf(key string) []string { return slices.Clone(f.chainsBy[key]) }

func (f *fakeIptables) rules(bin, table string) ([][]string, error) {
	return slices.Clone(f.rulesBy[bin+" "+table]), nil
}

func (f *fakeIptables) run(bin string, args ...string) error {
	f.ran = append(f.ran, bin+" "+strings.Join(args, " "))
	key := bin + " " + args[1]
	switch args[2] {
	case "-X":
		f.chainsBy[key] = slices.DeleteFunc(f.chainsBy[key], func(c string) bool { return c == args[3] })
	case "-F":
		f.rulesBy[key] = slices.DeleteFunc(f.rulesBy[key], func(r []string) bool { return r[1] == args[3] })
	case "-D":
		f.rulesBy[key] = slices.DeleteFunc(f.rulesBy[key], func(r []string) bool { return reflect.DeepEqual(r[1:], args[3:]) })
	}
	return nil
}

func TestSweepChains(t *testing.T) {
	f := &fakeIptables{
		chainsBy: map[string][]string{
			"iptables nat":    {"PREROUTING", "OUTPUT", "POSTROUTING", "KUBE-OLD"},
			"iptables filter": {"INPUT", "FORWARD", "OUTPUT"},
		},
		rulesBy: map[string][][]string{},
	}
	before := map[string][]string{}
	for k := range f.chainsBy {
		before[k] = f.chainsOf(k)
	}
	f.chainsBy["iptables nat"] = append(f.chainsBy["iptables nat"], "KUBE-SERVICES", "LOCALKUBE-NODE-API", "DOCKER")
	f.chainsBy["iptables filter"] = append(f.chainsBy["iptables filter"], "KUBE-FORWARD", "LOCALKUBE-NODE-FWD")
	f.rulesBy["iptables nat"] = [][]string{
		{"-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-A", "PREROUTING", "-j", "LOCALKUBE-NODE-API"},
		{"-A", "PREROUTING", "-j", "KUBE-OLD"},
		{"-A", "KUBE-SERVICES", "-j", "KUBE-OLD"},
	}
	f.rulesBy["iptables filter"] = [][]string{
		{"-A", "FORWARD", "-j", "LOCALKUBE-NODE-FWD"},
		{"-A", "FORWARD", "-g", "KUBE-FORWARD"},
	}
	removed, err := sweepChains(f, before)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{
		"iptables filter KUBE-FORWARD", "iptables filter LOCALKUBE-NODE-FWD",
		"iptables nat KUBE-SERVICES", "iptables nat LOCALKUBE-NODE-API",
	}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	if got := f.chainsBy["iptables nat"]; !reflect.DeepEqual(got, []string{"PREROUTING", "OUTPUT", "POSTROUTING", "KUBE-OLD", "DOCKER"}) {
		t.Errorf("nat chains left: %q (a chain that existed before, or is not ours, must stay)", got)
	}
	if got := f.rulesBy["iptables nat"]; !reflect.DeepEqual(got, [][]string{{"-A", "PREROUTING", "-j", "KUBE-OLD"}}) {
		t.Errorf("nat rules left: %q", got)
	}
	if got := f.rulesBy["iptables filter"]; len(got) != 0 {
		t.Errorf("filter rules left: %q", got)
	}
	// The jump rules go before their chains can be deleted.
	first := func(prefix string) int {
		return slices.IndexFunc(f.ran, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	if first("iptables -t nat -D") > first("iptables -t nat -X") {
		t.Errorf("chains deleted before the rules jumping to them: %q", f.ran)
	}
	// ip6tables was not recorded: nothing said what was there, so nothing is touched.
	for _, r := range f.ran {
		if strings.HasPrefix(r, "ip6tables") {
			t.Errorf("touched an unrecorded table: %s", r)
		}
	}
}

func TestParseIptables(t *testing.T) {
	out := `-P PREROUTING ACCEPT
-N KUBE-SERVICES
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "say \"hi\"" -j RETURN
`
	if got, want := parseChains(out), []string{"PREROUTING", "KUBE-SERVICES"}; !reflect.DeepEqual(got, want) {
		t.Errorf("parseChains = %q, want %q", got, want)
	}
	rules, err := parseRules(out)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-A", "KUBE-SERVICES", "-m", "comment", "--comment", `say "hi"`, "-j", "RETURN"},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("parseRules = %q, want %q", rules, want)
	}
	if _, err := splitQuoted(`-A X --comment "open`); err == nil {
		t.Error("an unbalanced quote parsed")
	}
}

func TestLock(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "node.lock")
	ctx := t.Context()
	if err := acquireLock(ctx, lock, 0); err != nil {
		t.Fatal(err)
	}
	// Held by this (live) process, still starting.
	if err := acquireLock(ctx, lock, 0); !errors.Is(err, ErrNodeRunning) || !strings.Contains(err.Error(), "being started") {
		t.Fatalf("second acquire = %v, want a refusal", err)
	}
	// Waiting: taken once released.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = releaseLock(lock)
	}()
	if err := acquireLock(ctx, lock, 10*time.Second); err != nil {
		t.Fatalf("acquire after a release = %v", err)
	}
	state := t.TempDir()
	if err := recordLockOwner(lock, state); err != nil {
		t.Fatal(err)
	}
	// A state dir without state.json: its node died before recording anything.
	if err := acquireLock(ctx, lock, 0); err != nil {
		t.Fatalf("a stale lock was not taken over: %v", err)
	}
	if err := recordLockOwner(lock, state); err != nil {
		t.Fatal(err)
	}
	if err := writeState(filepath.Join(state, stateFileName), State{}); err != nil {
		t.Fatal(err)
	}
	if err := acquireLock(ctx, lock, 0); !errors.Is(err, ErrNodeRunning) || !strings.Contains(err.Error(), "localkube down") {
		t.Fatalf("acquire with a live node = %v, want a refusal", err)
	}
	if err := releaseLock(lock); err != nil {
		t.Fatal(err)
	}
	if err := releaseLock(lock); err != nil {
		t.Errorf("releasing twice: %v", err)
	}
}

func TestMountPathUnescape(t *testing.T) {
	if got := unescapeMountPath(`/a\040b/c\011d`); got != "/a b/c\td" {
		t.Errorf("unescape = %q", got)
	}
}
