package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// storeWithKeys applies n puts of distinct keys made by keyOf.
func storeWithKeys(t testing.TB, n int, keyOf func(i int) []byte) *Store {
	t.Helper()
	s := New()
	for i := 0; i < n; i++ {
		cmd := &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: keyOf(i), Value: []byte(fmt.Sprint(i))}}}
		if _, err := s.Apply(uint64(i+1), cmd); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    func(t *testing.T) *Store
	}{
		{"empty", func(t *testing.T) *Store { return New() }},
		{"empty at an index", func(t *testing.T) *Store {
			s := New()
			applyAll(t, s, put("a", "1"), del("a"))
			return s
		}},
		{"one key", func(t *testing.T) *Store { s := New(); applyAll(t, s, put("k", "v")); return s }},
		{"empty value", func(t *testing.T) *Store { s := New(); applyAll(t, s, put("k", "")); return s }},
		{"10k keys", func(t *testing.T) *Store {
			return storeWithKeys(t, 10000, func(i int) []byte { return fmt.Appendf(nil, "key/%08d", i) })
		}},
		{"binary keys", func(t *testing.T) *Store {
			return storeWithKeys(t, 1000, func(i int) []byte {
				return binary.BigEndian.AppendUint32([]byte{0, 0xff, byte(i)}, uint32(i)*2654435761)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s(t)
			snap := snapshotBytes(t, s)
			got, err := Restore(bytes.NewReader(snap))
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			requireSameStore(t, s, got)
			if again := snapshotBytes(t, got); !bytes.Equal(again, snap) {
				t.Fatalf("re-written snapshot differs from the original")
			}
		})
	}
}

// randomCommand draws a command over a small key space so that overwrites,
// deletes and comparisons collide often.
func randomCommand(r *rand.Rand) *kvpb.Command {
	key := func() string { return string([]byte{"abc\x00\xff"[r.IntN(5)], "xy"[r.IntN(2)]})[:1+r.IntN(2)] }
	switch r.IntN(7) {
	case 0, 1, 2:
		return put(key(), fmt.Sprint(r.IntN(3)))
	case 3:
		return del(key())
	case 4:
		if r.IntN(2) == 0 {
			return delPrefix(key())
		}
		return delRange(key(), key())
	case 5:
		return casValue(key(), fmt.Sprint(r.IntN(3)), "cas")
	default:
		return casMod(key(), uint64(r.IntN(20)), "cas")
	}
}

// TestSnapshotRoundTripRandom is a property test: for random command
// sequences (with snapshots taken midway), restore(write(s)) equals s, and the
// restored store keeps applying exactly like the original.
func TestSnapshotRoundTripRandom(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		s := New()
		n := r.IntN(200)
		for i := 0; i < n; i++ {
			applyAll(t, s, randomCommand(r))
		}
		got, err := Restore(bytes.NewReader(snapshotBytes(t, s)))
		if err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
		requireSameStore(t, s, got)
		for i := 0; i < 20; i++ {
			cmd := randomCommand(r)
			want, got := applyAll(t, s, cmd), applyAll(t, got, cmd)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("seed %d: after restore, %v gave %v, original gave %v", seed, cmd, got, want)
			}
		}
		requireSameStore(t, s, got)
	}
}

// fixCRC recomputes the trailer so a test can reach the checks behind it.
func fixCRC(b []byte) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

func TestRestoreRejectsCorrupt(t *testing.T) {
	s := New()
	applyAll(t, s, put("a", "1"), put("b", "22"), put("a", "3"))
	good := snapshotBytes(t, s)
	recordStart := headerSize + 4 // first record's body
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorruptSnapshot},
		{"header only", good[:headerSize], ErrCorruptSnapshot},
		{"no trailer", good[:len(good)-4], ErrCorruptSnapshot},
		{"half a trailer", good[:len(good)-2], ErrCorruptSnapshot},
		{"trailing byte", append(bytes.Clone(good), 0), ErrCorruptSnapshot},
		{"bad magic", fixCRC(append([]byte("X"), good[1:]...)), ErrCorruptSnapshot},
		{"future version", fixCRC(func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint32(b[8:], 2)
			return b
		}()), ErrSnapshotVersion},
		{"bad checksum", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(), ErrCorruptSnapshot},
		{"flipped value bit", func() []byte { b := bytes.Clone(good); b[len(b)-5] ^= 0x10; return b }(), ErrCorruptSnapshot},
		{"count too high", fixCRC(func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b[20:], 3)
			return b
		}()), ErrCorruptSnapshot},
		{"count too low", fixCRC(func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b[20:], 1)
			return b
		}()), ErrCorruptSnapshot},
		{"applied index below a mod index", fixCRC(func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b[12:], 2)
			return b
		}()), ErrCorruptSnapshot},
		{"record length huge", fixCRC(func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint32(b[headerSize:], 1<<31)
			return b
		}()), ErrCorruptSnapshot},
		{"record not protobuf", fixCRC(func() []byte {
			b := bytes.Clone(good)
			b[recordStart] = 0xff
			return b
		}()), ErrCorruptSnapshot},
	}
	// Every proper prefix is a truncation.
	for n := 0; n < len(good); n++ {
		tests = append(tests, struct {
			name string
			data []byte
			want error
		}{fmt.Sprintf("truncated to %d", n), good[:n], ErrCorruptSnapshot})
	}
	// Every single-bit flip is caught.
	for i := 0; i < len(good)*8; i++ {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		want := ErrCorruptSnapshot
		if i/8 >= 8 && i/8 < 12 {
			want = ErrSnapshotVersion
		}
		tests = append(tests, struct {
			name string
			data []byte
			want error
		}{fmt.Sprintf("bit %d flipped", i), b, want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Restore(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Restore = %v, %v; want nil, %v", got, err, tt.want)
			}
		})
	}
}

// failingReader returns an I/O error after n bytes.
type failingReader struct {
	r *bytes.Reader
	n int
}

var errDisk = errors.New("disk on fire")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDisk
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestRestoreReaderErrorIsNotCorruption(t *testing.T) {
	s := New()
	applyAll(t, s, put("a", "1"))
	snap := snapshotBytes(t, s)
	_, err := Restore(&failingReader{r: bytes.NewReader(snap), n: headerSize + 2})
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("Restore = %v, want the reader's error only", err)
	}
}

// TestWriteSnapshotWhileApplying checks that a snapshot is the state at one
// applied index even while applies continue (run with -race).
func TestWriteSnapshotWhileApplying(t *testing.T) {
	s := storeWithKeys(t, 2000, func(i int) []byte { return fmt.Appendf(nil, "%06d", i) })
	want := dump(t, s)
	done := make(chan error)
	var buf bytes.Buffer
	go func() { done <- s.WriteSnapshot(&buf) }()
	for i := 0; i < 500; i++ {
		applyAll(t, s, put(fmt.Sprintf("%06d", i), "changed"), del(fmt.Sprintf("%06d", 1999-i)))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.AppliedIndex() < 2000 {
		t.Fatalf("applied index %d", got.AppliedIndex())
	}
	if got.AppliedIndex() == 2000 && !equalKVs(dump(t, got), want) {
		t.Fatalf("snapshot at index 2000 does not hold the state at 2000")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s := storeWithKeys(t, 100, func(i int) []byte { return fmt.Appendf(nil, "%03d", i) })
	want := dump(t, s)
	c := s.Clone()
	if c.AppliedIndex() != s.AppliedIndex() {
		t.Fatalf("clone at %d, store at %d", c.AppliedIndex(), s.AppliedIndex())
	}
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for i := range 50 {
			cmd := &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: fmt.Appendf(nil, "%03d", i), Value: []byte("changed")}}}
			if _, err := s.Apply(uint64(101+i), cmd); err != nil {
				t.Error(err)
			}
		}
	}()
	var buf bytes.Buffer
	err := c.WriteSnapshot(&buf)
	<-applied
	if err != nil {
		t.Fatal(err)
	}
	got, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.AppliedIndex() != 100 || !equalKVs(dump(t, got), want) {
		t.Fatalf("the clone's snapshot at %d does not hold the state at 100", got.AppliedIndex())
	}
}

func FuzzRestore(f *testing.F) {
	seeds := []*Store{New()}
	s := New()
	applyAll(f, s, put("a", "1"), put("b", ""), put("a", "2"), put("\x00\xff", "bin"))
	seeds = append(seeds, s)
	valid := map[string][]*kvpb.KeyValue{}
	for _, s := range seeds {
		b := snapshotBytes(f, s)
		valid[string(b)] = dump(f, s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Restore(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatalf("store returned with error %v", err)
			}
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrSnapshotVersion) {
				t.Fatalf("error %v is neither corruption nor version", err)
			}
			return
		}
		if want, ok := valid[string(data)]; ok && !equalKVs(dump(t, got), want) {
			t.Fatalf("valid snapshot restored to different content")
		}
		// Anything accepted is canonical: it is exactly the snapshot of the store
		// it restored to, so its content is what the bytes say.
		if again := snapshotBytes(t, got); !bytes.Equal(again, data) {
			t.Fatalf("accepted snapshot is not the store's own snapshot")
		}
	})
}
