package wal

import (
	"bytes"
	"fmt"
	"testing"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// BenchmarkSave measures Save with a real fsync per batch of 256-byte entries.
func BenchmarkSave(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := openLog(b, b.TempDir(), 0)
			defer mustClose(b, l)
			data := bytes.Repeat([]byte("x"), 256)
			ents := make([]pb.Entry, batch)
			b.SetBytes(int64(batch * len(data)))
			b.ReportAllocs()
			next := uint64(1)
			for b.Loop() {
				for i := range ents {
					ents[i] = pb.Entry{Index: next + uint64(i), Term: 1, Data: data}
				}
				mustSave(b, l, pb.HardState{Term: 1, Commit: next}, ents)
				next += uint64(batch)
			}
		})
	}
}
