package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	var b []byte
	b = appendRecord(b, kindEntry, []byte("first"))
	b = appendRecord(b, kindHardState, nil)
	b = appendRecord(b, kindSnapMark, bytes.Repeat([]byte{7}, 300))
	want := []struct {
		kind recordKind
		body []byte
	}{{kindEntry, []byte("first")}, {kindHardState, nil}, {kindSnapMark, bytes.Repeat([]byte{7}, 300)}}
	for i, w := range want {
		kind, body, n, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if kind != w.kind || !bytes.Equal(body, w.body) {
			t.Fatalf("record %d = %d %q, want %d %q", i, kind, body, w.kind, w.body)
		}
		b = b[n:]
	}
	if _, _, _, err := decodeRecord(b); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

// Every way a record can end early is a torn tail; every change to a whole
// record is corruption.
func TestDecodeRecordDamage(t *testing.T) {
	rec := appendRecord(nil, kindEntry, []byte("payload"))
	flip := func(i int) []byte {
		b := bytes.Clone(rec)
		b[i] ^= 0x10
		return b
	}
	zeroLength := appendRecord(nil, kindEntry, nil)
	copy(zeroLength[0:4], []byte{0, 0, 0, 0}) // header CRC now wrong

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"zeros where a header should be", make([]byte, headerSize), errTornTail},
		{"zeros past a header's length", make([]byte, 100), errTornTail},
		{"flipped length", flip(0), ErrCorrupt},
		{"flipped body crc", flip(5), ErrCorrupt},
		{"flipped header crc", flip(9), ErrCorrupt},
		{"flipped kind", flip(headerSize), ErrCorrupt},
		{"flipped body", flip(len(rec) - 1), ErrCorrupt},
		{"zeroed length", zeroLength, ErrCorrupt},
	}
	for n := 1; n < len(rec); n++ {
		tests = append(tests, struct {
			name string
			data []byte
			want error
		}{fmt.Sprintf("cut to %d bytes", n), rec[:n], errTornTail})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := decodeRecord(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("decodeRecord = %v, want %v", err, tt.want)
			}
		})
	}
}
