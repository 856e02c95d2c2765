package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func testMeta() Metadata {
	return Metadata{
		Index: 42, Term: 3, ClusterID: 0xabc, MemberID: 7,
		Created: time.Date(2026, 12, 5, 17, 0, 0, 123, time.FixedZone("X", 3600)),
		Voters:  []uint64{7, 8, 9}, Learners: []uint64{10},
		Members:           []Member{{ID: 7, Name: "a", PeerAddress: "p:1", ClientAddress: "c:1"}},
		DataFormatVersion: 1,
	}
}

// build encodes meta and data, handing data to the Writer in pieces of step.
func build(t *testing.T, meta Metadata, data []byte, step int) ([]byte, [sha256.Size]byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, meta)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		k := min(step, len(p))
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), w.Sum()
}

func randomData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, 2*ChunkSize + 17} {
		data := randomData(n)
		file, sum := build(t, testMeta(), data, 4096)
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%d bytes: read: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: data differs", n)
		}
		if r.Sum() != sum || sha256.Sum256(file[:len(file)-sha256.Size]) != sum {
			t.Fatalf("%d bytes: sum %x, writer's %x", n, r.Sum(), sum)
		}
		want := testMeta().normalized()
		if m := r.Metadata(); !reflect.DeepEqual(m, want) {
			t.Fatalf("metadata %+v, want %+v", m, want)
		}
		info, err := Verify(bytes.NewReader(file))
		if err != nil || info.Size != int64(len(file)) || info.DataBytes != int64(n) || info.SHA256 != sum {
			t.Fatalf("Verify = %+v, %v", info, err)
		}
	}
}

// The file's bytes depend on the metadata and the data alone: how they were
// written, and a metadata round trip, change nothing (a client re-encoding a
// stream gets the member's checksum).
func TestCanonical(t *testing.T) {
	data := randomData(3*ChunkSize + 5)
	a, sumA := build(t, testMeta(), data, 1000)
	b, sumB := build(t, testMeta(), data, ChunkSize+3)
	if !bytes.Equal(a, b) || sumA != sumB {
		t.Fatal("same metadata and data, different files")
	}
	r, err := NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	c, sumC := build(t, r.Metadata(), data, 1<<16)
	if !bytes.Equal(a, c) || sumA != sumC {
		t.Fatal("decoded metadata encodes differently")
	}
}

func TestRefused(t *testing.T) {
	data := randomData(ChunkSize + 100)
	file, _ := build(t, testMeta(), data, 1<<16)
	metaLen := int(binary.LittleEndian.Uint32(file[12:]))
	dataStart := headerSize + metaLen
	with := func(f func([]byte) []byte) []byte { return f(bytes.Clone(file)) }
	flip := func(i int) []byte { return with(func(b []byte) []byte { b[i] ^= 0x40; return b }) }
	cases := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"other format", []byte("{\"kind\":\"json\"}\n"), ErrNotSnapshot},
		{"short other format", []byte("PK"), ErrNotSnapshot},
		{"kv stream", append([]byte("RKVSNAP\x00"), file[8:]...), ErrNotSnapshot},
		{"magic prefix only", file[:5], ErrTruncated},
		{"wrong version", with(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }), ErrUnsupportedVersion},
		{"huge metadata length", with(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<30); return b }), ErrCorrupt},
		{"cut in metadata", file[:headerSize+metaLen/2], ErrTruncated},
		{"metadata not JSON", flip(headerSize), ErrCorrupt},
		{"metadata value flipped", flip(bytes.Index(file, []byte("p:1"))), ErrChecksumMismatch},
		{"cut before first chunk", file[:dataStart], ErrTruncated},
		{"cut in a chunk", file[:dataStart+4+ChunkSize/2], ErrTruncated},
		{"cut before end mark", file[:len(file)-sha256.Size-4], ErrTruncated},
		{"cut in trailer", file[:len(file)-1], ErrTruncated},
		{"no trailer", file[:len(file)-sha256.Size], ErrTruncated},
		{"data flipped", flip(dataStart + 4 + 1000), ErrChecksumMismatch},
		{"last data byte flipped", flip(len(file) - sha256.Size - 5), ErrChecksumMismatch},
		{"trailer flipped", flip(len(file) - 1), ErrChecksumMismatch},
		{"chunk length too big", with(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[dataStart:], ChunkSize+1); return b }), ErrCorrupt},
		{"bytes after trailer", append(bytes.Clone(file), 0), ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(c.file))
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// Every single-byte flip and every cut is refused with one of the errors.
func TestEveryDamageRefused(t *testing.T) {
	file, _ := build(t, testMeta(), randomData(3000), 512)
	sentinels := []error{ErrNotSnapshot, ErrUnsupportedVersion, ErrTruncated, ErrChecksumMismatch, ErrCorrupt}
	check := func(what string, b []byte) {
		_, err := Verify(bytes.NewReader(b))
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("%s: Verify = %v, want one of the sentinel errors", what, err)
	}
	for i := range file {
		b := bytes.Clone(file)
		b[i] ^= 1
		check("flip", b)
		check("cut", file[:i])
	}
}

func TestReadTrailer(t *testing.T) {
	file, sum := build(t, testMeta(), bytes.Repeat([]byte("x"), 3000), 100)
	dir := t.TempDir()
	whole, short := filepath.Join(dir, "whole"), filepath.Join(dir, "short")
	if err := os.WriteFile(whole, file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, file[:sha256.Size-1], 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadTrailer(whole); err != nil || got != sum {
		t.Errorf("ReadTrailer = %x, %v; want %x", got, err, sum)
	}
	if _, err := ReadTrailer(short); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadTrailer of %d bytes: %v, want ErrTruncated", sha256.Size-1, err)
	}
	if _, err := ReadTrailer(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadTrailer of a missing file: %v, want ErrNotExist", err)
	}
}
