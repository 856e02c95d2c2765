package wal

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestDecodeRecordTable(t *testing.T) {
	const seed = 0x1234abcd
	valid, crc := AppendRecord(nil, seed, RecordEntry, []byte("payload bytes"))
	empty, _ := AppendRecord(nil, seed, RecordHardState, nil)
	flip := func(i int) []byte {
		b := bytes.Clone(valid)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		prevCRC uint32
		wantErr error
		wantN   int
	}{
		{"empty input is a clean end", nil, seed, io.EOF, 0},
		{"valid record", valid, seed, nil, len(valid)},
		{"valid record followed by more", append(bytes.Clone(valid), 1, 2, 3), seed, nil, len(valid)},
		{"empty payload", empty, seed, nil, HeaderSize},
		{"one byte", valid[:1], seed, ErrTornRecord, 0},
		{"length only", valid[:4], seed, ErrTornRecord, 0},
		{"header cut before type", valid[:8], seed, ErrTornRecord, 0},
		{"header without payload", valid[:HeaderSize], seed, ErrTornRecord, 0},
		{"payload cut by one byte", valid[:len(valid)-1], seed, ErrTornRecord, 0},
		{"zero header", make([]byte, HeaderSize), seed, ErrTornRecord, 0},
		{"zero-filled space", make([]byte, 4096), seed, ErrTornRecord, 0},
		{"wrong chain seed (spliced record)", valid, seed + 1, ErrChecksum, 0},
		{"flipped length byte (shorter)", flip(0), seed, ErrChecksum, 0},
		{"flipped crc byte", flip(5), seed, ErrChecksum, 0},
		{"flipped type byte", flip(8), seed, ErrChecksum, 0},
		{"flipped first payload byte", flip(HeaderSize), seed, ErrChecksum, 0},
		{"flipped last payload byte", flip(len(valid) - 1), seed, ErrChecksum, 0},
		{"length grown past the end", func() []byte { b := bytes.Clone(valid); b[1] = 1; return b }(), seed, ErrTornRecord, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, n, err := DecodeRecord(tt.in, tt.prevCRC)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantN {
				t.Errorf("n = %d, want %d", n, tt.wantN)
			}
			if tt.wantErr == nil && tt.in[8] == byte(RecordEntry) {
				if rec.CRC != crc || rec.Type != RecordEntry || string(rec.Payload) != "payload bytes" {
					t.Errorf("record = %+v", rec)
				}
			}
		})
	}
}

// TestDecodeRecordEveryFlip flips every bit of a record and every cut length:
// none may decode.
func TestDecodeRecordEveryFlip(t *testing.T) {
	valid, _ := AppendRecord(nil, 7, RecordSnapshot, []byte("some snapshot metadata"))
	for i := range valid {
		for bit := range 8 {
			b := bytes.Clone(valid)
			b[i] ^= 1 << bit
			if _, _, err := DecodeRecord(b, 7); !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrTornRecord) {
				t.Errorf("flip byte %d bit %d: err = %v, want checksum or torn", i, bit, err)
			}
		}
	}
	for n := 1; n < len(valid); n++ {
		if _, _, err := DecodeRecord(valid[:n], 7); !errors.Is(err, ErrTornRecord) {
			t.Errorf("cut to %d bytes: err = %v, want ErrTornRecord", n, err)
		}
	}
}

func TestDecodeRecordChain(t *testing.T) {
	var buf []byte
	var crc uint32
	payloads := []string{"a", "", "ccc", "dddd"}
	for i, p := range payloads {
		buf, crc = AppendRecord(buf, crc, RecordType(1+i%4), []byte(p))
	}
	off, crc := 0, uint32(0)
	for i, p := range payloads {
		rec, n, err := DecodeRecord(buf[off:], crc)
		if err != nil || string(rec.Payload) != p || rec.Type != RecordType(1+i%4) {
			t.Fatalf("record %d: %+v, %v", i, rec, err)
		}
		off, crc = off+n, rec.CRC
	}
	if _, _, err := DecodeRecord(buf[off:], crc); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
	// Swapping two records breaks the chain even though each is intact.
	n0 := HeaderSize + len(payloads[0])
	n1 := HeaderSize + len(payloads[1])
	swapped := append(bytes.Clone(buf[n0:n0+n1]), buf[:n0]...)
	if _, _, err := DecodeRecord(swapped, 0); !errors.Is(err, ErrChecksum) {
		t.Fatalf("reordered record: %v, want ErrChecksum", err)
	}
}
