package provider

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrNoAddress is returned when every address of the pod range is in use.
var ErrNoAddress = errors.New("no free pod address")

// LoopbackIPAM hands out one loopback address per pod. Every 127.0.0.0/8
// address is bindable on Linux's loopback interface without configuration, so
// each pod can listen on the same ports as every other pod, as real pods do.
//
// Addresses are handed out round-robin (like CNI host-local) so a released
// address is not reused at once while peers may still hold connections to it.
// Addresses whose last octet is 0 or 255 are skipped to avoid confusing
// readers with network/broadcast-looking addresses.
type LoopbackIPAM struct {
	prefix netip.Prefix

	mu sync.Mutex
	// next is where the next search starts.
	next netip.Addr
	// used holds every allocated address and its owner key.
	used map[netip.Addr]string
}

// NewLoopbackIPAM returns an allocator over cidr, which must lie within 127.0.0.0/8.
func NewLoopbackIPAM(cidr string) (*LoopbackIPAM, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("parse pod range: %w", err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(p.Addr()) || p.Bits() < 8 {
		return nil, fmt.Errorf("pod range %s: must lie within 127.0.0.0/8", p)
	}
	return &LoopbackIPAM{prefix: p, next: p.Addr(), used: map[netip.Addr]string{}}, nil
}

// Allocate returns an address for owner. Allocating again for the same
// owner returns the address it already has.
func (a *LoopbackIPAM) Allocate(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ip, o := range a.used {
		if o == owner {
			return ip, nil
		}
	}
	ip := a.next
	for range 1 << (32 - a.prefix.Bits()) {
		ip = ip.Next()
		if !a.prefix.Contains(ip) {
			ip = a.prefix.Addr()
			continue
		}
		if last := ip.As4()[3]; last == 0 || last == 255 {
			continue
		}
		if _, taken := a.used[ip]; taken {
			continue
		}
		a.used[ip] = owner
		a.next = ip
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("%w in %s", ErrNoAddress, a.prefix)
}

// Release frees owner's address, if it has one.
func (a *LoopbackIPAM) Release(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ip, o := range a.used {
		if o == owner {
			delete(a.used, ip)
		}
	}
}

// InUse reports how many addresses are allocated.
func (a *LoopbackIPAM) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}
