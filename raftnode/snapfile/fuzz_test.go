package snapfile

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzVerify: any input is either a whole, valid file or refused with one of
// the sentinel errors; nothing panics.
func FuzzVerify(f *testing.F) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testMeta())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.Write([]byte("some data of the state machine")); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(Magic))
	f.Add([]byte{})
	sentinels := []error{ErrNotSnapshot, ErrUnsupportedVersion, ErrTruncated, ErrChecksumMismatch, ErrCorrupt}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Verify(bytes.NewReader(b))
		if err == nil {
			if info.Size != int64(len(b)) {
				t.Fatalf("verified %d of %d bytes", info.Size, len(b))
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Verify = %v, want one of the sentinel errors", err)
	})
}
