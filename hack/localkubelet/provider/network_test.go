package provider

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeIptables records commands and fails those whose text starts with a
// prefix in fail.
type fakeIptables struct {
	cmds []string
	fail []string
}

func (f *fakeIptables) run(_ context.Context, args ...string) error {
	cmd := strings.Join(args, " ")
	f.cmds = append(f.cmds, cmd)
	for _, p := range f.fail {
		if strings.HasPrefix(cmd, p) {
			return errors.New("iptables: exit status 1")
		}
	}
	return nil
}

func TestSourceNAT(t *testing.T) {
	ctx := context.Background()
	f := &fakeIptables{fail: []string{"-t nat -N", "-t nat -C"}}
	s := &SourceNAT{Chain: "LKL-SNAT-test", run: f.run, attached: map[netip.Addr]bool{}}
	if err := s.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.10.1.2")
	for range 2 { // attaching twice adds one rule
		gid, err := s.Attach(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint32(1<<20 + 10<<16 + 1<<8 + 2); gid != want {
			t.Errorf("gid %d, want %d", gid, want)
		}
	}
	if err := s.Detach(ctx, ip); err != nil {
		t.Fatal(err)
	}
	if err := s.Detach(ctx, ip); err != nil { // detaching again does nothing
		t.Fatal(err)
	}
	want := []string{
		"-t nat -N LKL-SNAT-test", // exists already (left by a dead kubelet):
		"-t nat -F LKL-SNAT-test", // emptied
		"-t nat -C POSTROUTING -j LKL-SNAT-test",
		"-t nat -A POSTROUTING -j LKL-SNAT-test",
		"-t nat -A LKL-SNAT-test -m owner --gid-owner 1704194 -j SNAT --to-source 127.10.1.2",
		"-t nat -D LKL-SNAT-test -m owner --gid-owner 1704194 -j SNAT --to-source 127.10.1.2",
	}
	if !slices.Equal(f.cmds, want) {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(f.cmds, "\n"), strings.Join(want, "\n"))
	}

	f.cmds, f.fail = nil, []string{"-t nat -C"} // the jump is gone after one delete
	if err := s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []string{"-t nat -C POSTROUTING -j LKL-SNAT-test", "-t nat -F LKL-SNAT-test", "-t nat -X LKL-SNAT-test"}; !slices.Equal(f.cmds, want) {
		t.Errorf("teardown commands %q, want %q", f.cmds, want)
	}
}

func TestSourceNATAttachFailure(t *testing.T) {
	f := &fakeIptables{fail: []string{"-t nat -A"}}
	s := &SourceNAT{Chain: "LKL-SNAT-test", run: f.run, attached: map[netip.Addr]bool{}}
	if _, err := s.Attach(context.Background(), netip.MustParseAddr("127.10.0.9")); err == nil || !strings.Contains(err.Error(), "127.10.0.9") {
		t.Fatalf("Attach error %v, want one naming the pod address", err)
	}
	if _, err := s.Attach(context.Background(), netip.MustParseAddr("::1")); err == nil {
		t.Fatal("Attach of an IPv6 address succeeded")
	}
}

func TestPodGIDsAreDistinct(t *testing.T) {
	seen := map[uint32]netip.Addr{}
	for _, s := range []string{"127.10.0.1", "127.10.1.0", "127.11.0.1", "127.0.1.1", "127.255.255.254"} {
		ip := netip.MustParseAddr(s)
		g := PodGID(ip)
		if other, dup := seen[g]; dup {
			t.Errorf("%s and %s share gid %d", ip, other, g)
		}
		seen[g] = ip
	}
}
