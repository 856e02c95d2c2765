package tlsconfig_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/raftkube/raftkube/raftnode/tlsconfig"
	"github.com/raftkube/raftkube/raftnode/tlsconfig/tlstest"
)

// party is one side of the rotation: its own copy of the bundle and a leaf
// at fixed paths, as a pod mounts them.
type party struct {
	files tlsconfig.Files
	src   *tlsconfig.Source
}

func newParty(t *testing.T, name string, ca *tlstest.CA, bundle ...*tlstest.CA) *party {
	t.Helper()
	dir := t.TempDir()
	p := &party{files: tlsconfig.Files{
		CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+"-key.pem"),
		TrustedCAFile: filepath.Join(dir, "ca.pem"),
	}}
	ca.IssueTo(name, p.files.CertFile, p.files.KeyFile)
	tlstest.WriteBundle(t, p.files.TrustedCAFile, bundle...)
	var err error
	if p.src, err = tlsconfig.NewSource(p.files, time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}

// reissue replaces the party's leaf with one of ca.
func (p *party) reissue(t *testing.T, name string, ca *tlstest.CA) {
	t.Helper()
	fi, err := os.Stat(p.files.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	ca.IssueTo(name, p.files.CertFile, p.files.KeyFile)
	tlstest.BumpMtime(t, fi.ModTime(), p.files.CertFile, p.files.KeyFile)
}

func (p *party) dial(t *testing.T, server *party) error {
	t.Helper()
	srv, err := server.src.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli := p.src.ClientConfig()
	cli.ServerName = "localhost"
	return handshake(srv, cli)
}

func fingerprints(cas ...*tlstest.CA) []string {
	var fps []string
	for _, ca := range cas {
		fps = append(fps, tlsconfig.Fingerprint(ca.DER()))
	}
	return fps
}

// A CA is replaced the way the operator does it — old, old+new, new
// leaves, new only — with real files and handshakes and no restart: every
// step keeps the members talking, the end trusts the new CA alone, and the
// TLS status names what is in force at each step.
func TestCARotationWithoutRestart(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t, "old"), tlstest.NewCA(t, "new")
	a, b := newParty(t, "a", oldCA, oldCA), newParty(t, "b", oldCA, oldCA)
	now := time.Now()
	clock := func() time.Time { return now }
	a.src.SetNow(clock)
	b.src.SetNow(clock)
	// strangers have a leaf of one CA and trust both: only the member's
	// own checks can refuse them.
	strangerOf := func(ca *tlstest.CA) *party {
		p := newParty(t, "stranger", ca, oldCA, newCA)
		p.src.SetNow(clock)
		return p
	}
	oldStranger, newStranger := strangerOf(oldCA), strangerOf(newCA)
	advance := func() { now = now.Add(time.Second) }
	check := func(step string, wantCAs []string, newOK, oldOK bool) {
		t.Helper()
		if err := a.dial(t, b); err != nil {
			t.Errorf("%s: a -> b: %v", step, err)
		}
		if err := b.dial(t, a); err != nil {
			t.Errorf("%s: b -> a: %v", step, err)
		}
		if err := newStranger.dial(t, a); (err == nil) != newOK {
			t.Errorf("%s: a client of the new CA: err %v, want accepted %v", step, err, newOK)
		}
		if err := a.dial(t, newStranger); (err == nil) != newOK {
			t.Errorf("%s: a server of the new CA: err %v, want accepted %v", step, err, newOK)
		}
		if err := oldStranger.dial(t, a); (err == nil) != oldOK {
			t.Errorf("%s: a client of the old CA: err %v, want accepted %v", step, err, oldOK)
		}
		if err := a.dial(t, oldStranger); (err == nil) != oldOK {
			t.Errorf("%s: a server of the old CA: err %v, want accepted %v", step, err, oldOK)
		}
		if got := a.src.TrustedCAs(); !slices.Equal(got, wantCAs) {
			t.Errorf("%s: trusted CAs %v, want %v", step, got, wantCAs)
		}
		if got, want := a.src.Certificate(), leafFingerprint(t, a.files.CertFile); got != want {
			t.Errorf("%s: certificate %s, want %s", step, got, want)
		}
	}
	check("old", fingerprints(oldCA), false, true)

	for _, p := range []*party{a, b} {
		tlstest.WriteBundle(t, p.files.TrustedCAFile, oldCA, newCA)
	}
	if got := a.src.TrustedCAs(); !slices.Equal(got, fingerprints(oldCA)) {
		t.Errorf("the bundle was read again before the check interval passed: %v", got)
	}
	advance()
	check("old+new", fingerprints(oldCA, newCA), true, true)

	a.reissue(t, "a", newCA)
	b.reissue(t, "b", newCA)
	advance()
	check("new leaves", fingerprints(oldCA, newCA), true, true)

	for _, p := range []*party{a, b} {
		tlstest.WriteBundle(t, p.files.TrustedCAFile, newCA)
	}
	advance()
	check("new only", fingerprints(newCA), true, false)
}

func leafFingerprint(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", certFile)
	}
	return tlsconfig.Fingerprint(block.Bytes)
}

// A bundle that does not parse after a change — cut short mid-write, or
// holding no certificate — keeps the CAs trusted before; a good one then
// takes effect.
func TestBrokenBundleKeepsThePreviousOne(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t, "old"), tlstest.NewCA(t, "new")
	file := filepath.Join(t.TempDir(), "ca.pem")
	tlstest.WriteBundle(t, file, oldCA, newCA)
	whole, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tlsconfig.NewCABundle(file)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b.SetNow(func() time.Time { return now })
	for name, content := range map[string][]byte{
		"truncated": whole[:len(whole)-40],
		"empty":     nil,
		"garbage":   []byte("not a certificate"),
	} {
		prev, _ := os.Stat(file)
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		tlstest.BumpMtime(t, prev.ModTime(), file)
		now = now.Add(tlsconfig.DefaultCheckInterval)
		if got := b.Fingerprints(); !slices.Equal(got, fingerprints(oldCA, newCA)) || b.Err() == nil {
			t.Errorf("%s bundle: trusted %v err %v, want the previous two CAs and an error", name, got, b.Err())
		}
	}
	tlstest.WriteBundle(t, file, newCA)
	now = now.Add(tlsconfig.DefaultCheckInterval)
	if got := b.Fingerprints(); !slices.Equal(got, fingerprints(newCA)) || b.Err() != nil {
		t.Errorf("repaired bundle: trusted %v err %v, want the new CA and no error", got, b.Err())
	}
}

func TestFingerprint(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	sum := sha256.Sum256(ca.DER())
	if got, want := tlsconfig.Fingerprint(ca.DER()), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("Fingerprint = %s, want %s", got, want)
	}
}
