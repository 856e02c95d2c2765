package snapfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

const (
	// Magic opens every snapshot file.
	Magic = "RKSNAPF\x00"
	// FormatVersion is the version Writer writes and the only one Reader reads.
	FormatVersion uint32 = 1
	// ChunkSize is the size of every data chunk but the last.
	ChunkSize = 1 << 20
	// MaxMetadataBytes bounds the metadata, so a damaged length cannot make a
	// reader allocate gigabytes.
	MaxMetadataBytes = 16 << 20
	// headerSize is magic, version and metadata length.
	headerSize = len(Magic) + 4 + 4
)

// Errors a Reader (and Verify) returns, wrapped with what was being read.
var (
	// ErrNotSnapshot: the file does not start with Magic.
	ErrNotSnapshot = errors.New("not a raftkube snapshot file")
	// ErrUnsupportedVersion: a format version this build does not read.
	ErrUnsupportedVersion = errors.New("unsupported snapshot file version")
	// ErrTruncated: the file ends before its trailer.
	ErrTruncated = errors.New("snapshot file truncated")
	// ErrChecksumMismatch: the SHA-256 of the file is not its trailer's.
	ErrChecksumMismatch = errors.New("snapshot file checksum mismatch")
	// ErrCorrupt: the framing is impossible (lengths, metadata, trailing bytes).
	ErrCorrupt = errors.New("snapshot file corrupt")
)

// Member is one member of the configuration the snapshot was taken in.
type Member struct {
	ID            uint64 `json:"id"`
	Name          string `json:"name,omitempty"`
	PeerAddress   string `json:"peer_address,omitempty"`
	ClientAddress string `json:"client_address,omitempty"`
}

// Metadata describes the state a snapshot holds.
type Metadata struct {
	// Index is the index of the last entry applied to the state; Term is
	// that entry's term.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// ClusterID is the id of the cluster the snapshot was taken from.
	ClusterID uint64 `json:"cluster_id"`
	// MemberID is the member that produced it.
	MemberID uint64 `json:"member_id,omitempty"`
	// Created is when the state was cloned, in UTC.
	Created time.Time `json:"created"`
	// The configuration in force at Index.
	Voters         []uint64 `json:"voters,omitempty"`
	VotersOutgoing []uint64 `json:"voters_outgoing,omitempty"`
	Learners       []uint64 `json:"learners,omitempty"`
	LearnersNext   []uint64 `json:"learners_next,omitempty"`
	// Members are the configuration's members' metadata.
	Members []Member `json:"members,omitempty"`
	// DataFormatVersion is the version of the kv snapshot stream in the data.
	DataFormatVersion uint32 `json:"data_format_version"`
}

// normalized drops what does not survive an encoding round trip
// unchanged (monotonic clock, time zone), so that a Metadata written again
// from its decoded form encodes to the same bytes.
func (m Metadata) normalized() Metadata {
	m.Created = m.Created.UTC().Round(0)
	return m
}

// Writer writes one snapshot file: the header and metadata at once, the data
// as it is written, the trailer on Close.
type Writer struct {
	w    io.Writer
	sum  hash.Hash
	buf  []byte
	n    int64
	done bool
}

// NewWriter writes the header and meta to w.
func NewWriter(w io.Writer, meta Metadata) (*Writer, error) {
	mb, err := json.Marshal(meta.normalized())
	if err != nil {
		return nil, fmt.Errorf("encode snapshot metadata: %w", err)
	}
	if len(mb) > MaxMetadataBytes {
		return nil, fmt.Errorf("snapshot metadata of %d bytes, over %d", len(mb), MaxMetadataBytes)
	}
	sw := &Writer{w: w, sum: sha256.New(), buf: make([]byte, 0, ChunkSize)}
	hdr := make([]byte, 0, headerSize+len(mb))
	hdr = append(hdr, Magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, FormatVersion)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(mb)))
	hdr = append(hdr, mb...)
	if err := sw.emit(hdr); err != nil {
		return nil, fmt.Errorf("write snapshot header: %w", err)
	}
	return sw, nil
}

func (sw *Writer) emit(p []byte) error {
	sw.sum.Write(p)
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	return err
}

// Write adds p to the data.
func (sw *Writer) Write(p []byte) (int, error) {
	if sw.done {
		return 0, errors.New("snapfile: write after Close")
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), ChunkSize-len(sw.buf))
		sw.buf = append(sw.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(sw.buf) == ChunkSize {
			if err := sw.flushChunk(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (sw *Writer) flushChunk() error {
	if len(sw.buf) == 0 {
		return nil
	}
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(sw.buf)))
	if err := sw.emit(l[:]); err != nil {
		return fmt.Errorf("write snapshot chunk: %w", err)
	}
	if err := sw.emit(sw.buf); err != nil {
		return fmt.Errorf("write snapshot chunk: %w", err)
	}
	sw.buf = sw.buf[:0]
	return nil
}

// Close writes the last chunk, the end mark and the trailer; it does not
// close the underlying writer.
func (sw *Writer) Close() error {
	if sw.done {
		return nil
	}
	if err := sw.flushChunk(); err != nil {
		return err
	}
	sw.done = true
	if err := sw.emit([]byte{0, 0, 0, 0}); err != nil {
		return fmt.Errorf("write snapshot end: %w", err)
	}
	trailer := sw.sum.Sum(nil)
	n, err := sw.w.Write(trailer)
	sw.n += int64(n)
	if err != nil {
		return fmt.Errorf("write snapshot trailer: %w", err)
	}
	return nil
}

// Sum returns the SHA-256 of the file (its trailer); valid after Close.
func (sw *Writer) Sum() [sha256.Size]byte {
	var s [sha256.Size]byte
	copy(s[:], sw.sum.Sum(nil))
	return s
}

// Size returns the bytes written so far (the file's size after Close).
func (sw *Writer) Size() int64 { return sw.n }

// Reader reads one snapshot file: NewReader reads the metadata; Read returns
// the data and, at its end, io.EOF only once the trailer matched.
type Reader struct {
	r    *bufio.Reader
	sum  hash.Hash
	meta Metadata
	n    int64
	// left is what remains of the current chunk; end is set once the end
	// mark was read; verified once the trailer matched.
	left     int
	end      bool
	verified bool
	trailer  [sha256.Size]byte
}

// NewReader reads and checks the header and metadata from r.
func NewReader(r io.Reader) (*Reader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 1<<20), sum: sha256.New()}
	var hdr [headerSize]byte
	n, err := io.ReadFull(sr.r, hdr[:])
	sr.account(hdr[:n])
	if err != nil {
		// A short file that is not even the start of a snapshot file is
		// another file, not a truncated one.
		m := min(n, len(Magic))
		if !bytes.Equal(hdr[:m], []byte(Magic)[:m]) {
			return nil, fmt.Errorf("%w: magic %q", ErrNotSnapshot, hdr[:m])
		}
		return nil, fmt.Errorf("%w: header: %d of %d bytes", ErrTruncated, n, headerSize)
	}
	if string(hdr[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: magic %q", ErrNotSnapshot, hdr[:len(Magic)])
	}
	if v := binary.LittleEndian.Uint32(hdr[len(Magic):]); v != FormatVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrUnsupportedVersion, v, FormatVersion)
	}
	ml := binary.LittleEndian.Uint32(hdr[len(Magic)+4:])
	if ml > MaxMetadataBytes {
		return nil, fmt.Errorf("%w: metadata length %d over %d", ErrCorrupt, ml, MaxMetadataBytes)
	}
	mb := make([]byte, ml)
	n, err = io.ReadFull(sr.r, mb)
	sr.account(mb[:n])
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %d of %d bytes", ErrTruncated, n, ml)
	}
	if err := json.Unmarshal(mb, &sr.meta); err != nil {
		return nil, fmt.Errorf("%w: metadata: %w", ErrCorrupt, err)
	}
	return sr, nil
}

func (sr *Reader) account(p []byte) {
	sr.sum.Write(p)
	sr.n += int64(len(p))
}

// Metadata returns the file's metadata. It is trusted only once the whole
// file was read (Read returned io.EOF).
func (sr *Reader) Metadata() Metadata { return sr.meta }

// Read reads data. At the end of the data it reads and checks the trailer,
// and returns io.EOF only when it matched and nothing follows it.
func (sr *Reader) Read(p []byte) (int, error) {
	if sr.verified {
		return 0, io.EOF
	}
	for sr.left == 0 {
		if sr.end {
			if err := sr.readTrailer(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := sr.readChunkLength(); err != nil {
			return 0, err
		}
	}
	n, err := sr.r.Read(p[:min(len(p), sr.left)])
	sr.account(p[:n])
	sr.left -= n
	if err == io.EOF {
		if sr.left > 0 {
			return n, fmt.Errorf("%w: in a chunk, %d bytes missing", ErrTruncated, sr.left)
		}
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("read snapshot data: %w", err)
	}
	return n, nil
}

func (sr *Reader) readChunkLength() error {
	var l [4]byte
	n, err := io.ReadFull(sr.r, l[:])
	sr.account(l[:n])
	if err != nil {
		return fmt.Errorf("%w: chunk length: %w", ErrTruncated, err)
	}
	cl := binary.LittleEndian.Uint32(l[:])
	switch {
	case cl == 0:
		sr.end = true
	case cl > ChunkSize:
		return fmt.Errorf("%w: chunk length %d over %d", ErrCorrupt, cl, ChunkSize)
	default:
		sr.left = int(cl)
	}
	return nil
}

func (sr *Reader) readTrailer() error {
	want := sr.sum.Sum(nil)
	n, err := io.ReadFull(sr.r, sr.trailer[:])
	sr.n += int64(n)
	if err != nil {
		return fmt.Errorf("%w: trailer: %d of %d bytes", ErrTruncated, n, sha256.Size)
	}
	if !bytes.Equal(want, sr.trailer[:]) {
		return fmt.Errorf("%w: trailer %x, computed %x", ErrChecksumMismatch, sr.trailer[:], want)
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("after the trailer: %w", err)
		}
		return fmt.Errorf("%w: bytes after the trailer", ErrCorrupt)
	}
	sr.verified = true
	return nil
}

// Sum returns the file's SHA-256, valid once Read returned io.EOF.
func (sr *Reader) Sum() [sha256.Size]byte { return sr.trailer }

// Size returns the bytes read so far (the file's size at the end).
func (sr *Reader) Size() int64 { return sr.n }

// ReadTrailer returns the checksum a snapshot file ends with, without
// reading or verifying the rest: enough to recognize a file already read
// whole once.
func ReadTrailer(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return sum, err
	}
	if st.Size() < sha256.Size {
		return sum, fmt.Errorf("%w: %s is shorter than a trailer", ErrTruncated, path)
	}
	_, err = f.ReadAt(sum[:], st.Size()-sha256.Size)
	return sum, err
}

// Info is what Verify learned of a file.
type Info struct {
	Metadata Metadata
	// Size is the file's size; DataBytes the data's.
	Size, DataBytes int64
	SHA256          [sha256.Size]byte
}

// Verify reads the whole of r and checks it; it returns the file's metadata,
// size and checksum, or an error wrapping one of the sentinel errors (or r's
// own failure).
func Verify(r io.Reader) (Info, error) {
	sr, err := NewReader(r)
	if err != nil {
		return Info{}, err
	}
	data, err := io.Copy(io.Discard, sr)
	if err != nil {
		return Info{}, err
	}
	return Info{Metadata: sr.Metadata(), Size: sr.Size(), DataBytes: data, SHA256: sr.Sum()}, nil
}
