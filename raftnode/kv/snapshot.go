package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// Snapshot stream format (all integers little-endian; see the package doc).
const (
	// snapshotMagic opens every snapshot stream.
	snapshotMagic = "RKVSNAP\x00"
	// SnapshotFormatVersion is the format version WriteSnapshot writes and the
	// only one Restore reads. Adding a field to KeyValue bumps it.
	SnapshotFormatVersion uint32 = 1
	// headerSize: magic (8) + version (4) + applied index (8) + key count (8).
	headerSize = len(snapshotMagic) + 4 + 8 + 8
	// maxRecordBytes bounds one record's length field. Restore reads a record's
	// bytes as they arrive rather than allocating the claimed length up front, so
	// a corrupt length costs no more memory than the data actually present.
	maxRecordBytes = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes the store's keys and applied index to w as one snapshot
// stream. It holds the store's lock only to clone the tree (O(1), copy-on-write),
// so applies and reads go on while it writes, and the stream is the state at one
// applied index. Memory use is one record at a time, not the whole store.
func (s *Store) WriteSnapshot(w io.Writer) error {
	tree, applied := s.frozen()
	if err := writeSnapshot(w, tree, applied); err != nil {
		return fmt.Errorf("write snapshot at index %d: %w", applied, err)
	}
	return nil
}

// Clone returns a store holding the same keys at the same applied index, in
// O(1): the two share the tree copy-on-write, and later writes to either are
// not seen by the other. The server clones its store to write a snapshot
// without holding up applies.
func (s *Store) Clone() *Store {
	tree, applied := s.frozen()
	return &Store{limits: s.limits, tree: tree, applied: applied}
}

// frozen returns a copy-on-write clone of the tree and the applied index it
// reflects. Clone writes to the tree's bookkeeping, so it needs the write lock.
func (s *Store) frozen() (*btree.BTreeG[item], uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree.Clone(), s.applied
}

// crcWriter buffers writes to w and keeps the CRC-32C of everything written.
type crcWriter struct {
	w   *bufio.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return c.w.Write(p)
}

func writeSnapshot(w io.Writer, tree *btree.BTreeG[item], applied uint64) error {
	cw := &crcWriter{w: bufio.NewWriterSize(w, 64<<10)}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, snapshotMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, SnapshotFormatVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, applied)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(tree.Len()))
	if _, err := cw.Write(hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := writeRecords(cw, tree); err != nil {
		return err
	}
	trailer := binary.LittleEndian.AppendUint32(nil, cw.crc)
	if _, err := cw.w.Write(trailer); err != nil {
		return fmt.Errorf("trailer: %w", err)
	}
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// writeRecords writes each item as a 4-byte length and a marshaled KeyValue.
func writeRecords(cw *crcWriter, tree *btree.BTreeG[item]) error {
	var (
		buf []byte
		kv  kvpb.KeyValue
		err error
	)
	tree.Ascend(func(it item) bool {
		kv.Key, kv.Value = it.key, it.value
		kv.CreateIndex, kv.ModIndex, kv.Version = it.createIndex, it.modIndex, it.version
		buf, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(append(buf[:0], 0, 0, 0, 0), &kv)
		if err != nil {
			err = fmt.Errorf("marshal key %q: %w", it.key, err)
			return false
		}
		binary.LittleEndian.PutUint32(buf, uint32(len(buf)-4))
		if _, err = cw.Write(buf); err != nil {
			err = fmt.Errorf("record of key %q: %w", it.key, err)
			return false
		}
		return true
	})
	return err
}

// Restore reads a snapshot stream written by WriteSnapshot into a new store
// with the given options. It checks the header, every record (ascending unique
// keys, consistent indexes), the key count and the trailing CRC-32C, and that
// nothing follows the trailer. Any violation, including a truncated stream,
// returns an error wrapping ErrCorruptSnapshot and no store; a format version it
// does not know returns ErrSnapshotVersion; a failing reader returns its error.
// Size limits are not applied to restored keys: a snapshot holds what was
// accepted under the limits in force when it was applied.
func Restore(r io.Reader, opts ...Option) (*Store, error) {
	sr := &crcReader{r: bufio.NewReaderSize(r, 64<<10)}
	applied, count, err := sr.readHeader()
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	tree, err := sr.readRecords(applied, count)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot at index %d: %w", applied, err)
	}
	if err := sr.readTrailer(); err != nil {
		return nil, fmt.Errorf("restore snapshot at index %d: %w", applied, err)
	}
	s := New(opts...)
	s.tree, s.applied = tree, applied
	return s, nil
}

// crcReader reads from r and keeps the CRC-32C of everything read through it.
type crcReader struct {
	r   *bufio.Reader
	crc uint32
	buf bytes.Buffer
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// corrupt classifies a read error: running out of data is corruption (a
// truncated snapshot), anything else is the reader's own failure.
func corrupt(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: truncated", ErrCorruptSnapshot, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *crcReader) readHeader() (applied, count uint64, err error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, 0, corrupt("header", err)
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return 0, 0, fmt.Errorf("%w: bad magic %q", ErrCorruptSnapshot, hdr[:len(snapshotMagic)])
	}
	rest := hdr[len(snapshotMagic):]
	if v := binary.LittleEndian.Uint32(rest); v != SnapshotFormatVersion {
		return 0, 0, fmt.Errorf("%w: version %d, this build reads %d", ErrSnapshotVersion, v, SnapshotFormatVersion)
	}
	return binary.LittleEndian.Uint64(rest[4:]), binary.LittleEndian.Uint64(rest[12:]), nil
}

// readRecords reads count records into a new tree, checking each against the
// previous one and the snapshot's applied index.
func (c *crcReader) readRecords(applied, count uint64) (*btree.BTreeG[item], error) {
	tree := newTree()
	var prev []byte
	for i := uint64(0); i < count; i++ {
		it, err := c.readRecord()
		if err != nil {
			return nil, fmt.Errorf("record %d of %d: %w", i, count, err)
		}
		if err := checkItem(it, prev, applied); err != nil {
			return nil, fmt.Errorf("%w: record %d of %d: %w", ErrCorruptSnapshot, i, count, err)
		}
		tree.ReplaceOrInsert(it)
		prev = it.key
	}
	return tree, nil
}

func (c *crcReader) readRecord() (item, error) {
	var lenBuf [4]byte
	if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
		return item{}, corrupt("length", err)
	}
	n := int64(binary.LittleEndian.Uint32(lenBuf[:]))
	if n > maxRecordBytes {
		return item{}, fmt.Errorf("%w: length %d over %d", ErrCorruptSnapshot, n, maxRecordBytes)
	}
	c.buf.Reset()
	if _, err := io.CopyN(&c.buf, c, n); err != nil {
		return item{}, corrupt("body", err)
	}
	var kv kvpb.KeyValue
	if err := proto.Unmarshal(c.buf.Bytes(), &kv); err != nil {
		return item{}, fmt.Errorf("%w: decode: %w", ErrCorruptSnapshot, err)
	}
	// Only the canonical encoding is accepted, so a snapshot that restores is the
	// snapshot WriteSnapshot would write for that store.
	if len(kv.ProtoReflect().GetUnknown()) > 0 || proto.Size(&kv) != int(n) {
		return item{}, fmt.Errorf("%w: record is not canonically encoded", ErrCorruptSnapshot)
	}
	v := kv.GetValue()
	if v == nil {
		v = []byte{}
	}
	return item{key: kv.GetKey(), value: v, createIndex: kv.GetCreateIndex(), modIndex: kv.GetModIndex(), version: kv.GetVersion()}, nil
}

// checkItem enforces what Apply guarantees of every stored key.
func checkItem(it item, prev []byte, applied uint64) error {
	switch {
	case len(it.key) == 0:
		return errors.New("empty key")
	case prev != nil && bytes.Compare(prev, it.key) >= 0:
		return fmt.Errorf("key %q not after %q", it.key, prev)
	case it.modIndex == 0 || it.modIndex > applied:
		return fmt.Errorf("key %q: mod index %d outside [1, %d]", it.key, it.modIndex, applied)
	case it.createIndex == 0 || it.createIndex > it.modIndex:
		return fmt.Errorf("key %q: create index %d outside [1, %d]", it.key, it.createIndex, it.modIndex)
	case it.version < 1 || uint64(it.version) > it.modIndex-it.createIndex+1:
		// Each write takes its own index, so a key written at indexes
		// createIndex..modIndex has at most that many versions.
		return fmt.Errorf("key %q: version %d impossible between indexes %d and %d", it.key, it.version, it.createIndex, it.modIndex)
	}
	return nil
}

func (c *crcReader) readTrailer() error {
	want := c.crc
	var trailer [4]byte
	if _, err := io.ReadFull(c.r, trailer[:]); err != nil {
		return corrupt("trailer", err)
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x", ErrCorruptSnapshot, got, want)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("after trailer: %w", err)
		}
		return fmt.Errorf("%w: data after the trailer", ErrCorruptSnapshot)
	}
	return nil
}
