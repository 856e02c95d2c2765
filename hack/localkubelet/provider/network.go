package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// PodNetwork makes a pod's outgoing connections leave from its pod IP, as
// they would from the pod's network namespace in a real cluster. Every pod
// shares the host's loopback interface here, so without it a pod's
// connections would come from 127.0.0.1 and a peer (or a test cutting the
// network between two pods) could not tell the pods apart.
type PodNetwork interface {
	// Attach arranges for traffic from processes running with the returned
	// group id to leave from ip.
	Attach(ctx context.Context, ip netip.Addr) (gid uint32, err error)
	// Detach undoes Attach once the pod is gone.
	Detach(ctx context.Context, ip netip.Addr) error
}

// podGIDBase is where the pods' group ids start: above the ids a Debian
// system hands out, and each pod address has its own (see PodGID).
const podGIDBase = 1 << 20

// PodGID is the group id the processes of the pod with address ip run with.
// It follows from the address, so tools (and a kubelet restarted on the same
// state) find it without asking.
func PodGID(ip netip.Addr) uint32 {
	a := ip.As4()
	return podGIDBase + uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// SourceNAT is a PodNetwork built on iptables: each pod's processes run with
// a group id of their own (PodGID), and one rule per pod in a chain of the
// kubelet's own, jumped to from nat POSTROUTING, source-NATs the packets of
// sockets owned by that group to the pod IP. The kubelet stays root, so file
// access is unchanged; the group only labels the sockets.
type SourceNAT struct {
	// Chain is the nat chain holding the per-pod rules.
	Chain string
	// run runs iptables with args; tests substitute it.
	run func(ctx context.Context, args ...string) error

	mu sync.Mutex
	// attached are the addresses with a rule.
	attached map[netip.Addr]bool
}

// NewSourceNAT returns the source-NAT network of the kubelet whose state is
// in stateDir: its chain's name is derived from the directory, so kubelets on
// other state dirs (parallel tests) keep separate chains and a kubelet
// restarted on the same state replaces what its predecessor left. It fails
// when iptables is not installed.
func NewSourceNAT(stateDir string) (*SourceNAT, error) {
	bin, err := exec.LookPath("iptables")
	if err != nil {
		return nil, fmt.Errorf("pod source addresses need iptables (apt-get install iptables): %w", err)
	}
	sum := sha256.Sum256([]byte(stateDir))
	return &SourceNAT{
		Chain:    "LKL-SNAT-" + hex.EncodeToString(sum[:4]),
		run:      iptablesRunner(bin),
		attached: map[netip.Addr]bool{},
	}, nil
}

func iptablesRunner(bin string) func(ctx context.Context, args ...string) error {
	return func(ctx context.Context, args ...string) error {
		// -w waits for the xtables lock other iptables users hold.
		out, err := exec.CommandContext(ctx, bin, append([]string{"-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

// Setup creates the chain (emptying one left by a predecessor) and the jump
// to it from POSTROUTING.
func (s *SourceNAT) Setup(ctx context.Context) error {
	if err := s.run(ctx, "-t", "nat", "-N", s.Chain); err != nil {
		// It exists: a kubelet on this state dir died without tearing down.
		if err := s.run(ctx, "-t", "nat", "-F", s.Chain); err != nil {
			return err
		}
	}
	if s.run(ctx, "-t", "nat", "-C", "POSTROUTING", "-j", s.Chain) != nil {
		if err := s.run(ctx, "-t", "nat", "-A", "POSTROUTING", "-j", s.Chain); err != nil {
			return err
		}
	}
	return nil
}

// Teardown removes the jump and the chain with its rules.
func (s *SourceNAT) Teardown(ctx context.Context) error {
	var errs []error
	for s.run(ctx, "-t", "nat", "-C", "POSTROUTING", "-j", s.Chain) == nil {
		if err := s.run(ctx, "-t", "nat", "-D", "POSTROUTING", "-j", s.Chain); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if err := s.run(ctx, "-t", "nat", "-F", s.Chain); err != nil {
		errs = append(errs, err)
	} else if err := s.run(ctx, "-t", "nat", "-X", s.Chain); err != nil {
		errs = append(errs, err)
	}
	s.mu.Lock()
	clear(s.attached)
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *SourceNAT) rule(ip netip.Addr) []string {
	return []string{s.Chain, "-m", "owner", "--gid-owner", fmt.Sprint(PodGID(ip)), "-j", "SNAT", "--to-source", ip.String()}
}

// Attach implements PodNetwork.
func (s *SourceNAT) Attach(ctx context.Context, ip netip.Addr) (uint32, error) {
	if !ip.Is4() {
		return 0, fmt.Errorf("pod address %s: not IPv4", ip)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.attached[ip] {
		if err := s.run(ctx, append([]string{"-t", "nat", "-A"}, s.rule(ip)...)...); err != nil {
			return 0, fmt.Errorf("source address of pod %s: %w", ip, err)
		}
		s.attached[ip] = true
	}
	return PodGID(ip), nil
}

// Detach implements PodNetwork.
func (s *SourceNAT) Detach(ctx context.Context, ip netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.attached[ip] {
		return nil
	}
	delete(s.attached, ip)
	if err := s.run(ctx, append([]string{"-t", "nat", "-D"}, s.rule(ip)...)...); err != nil {
		return fmt.Errorf("remove source address of pod %s: %w", ip, err)
	}
	return nil
}
