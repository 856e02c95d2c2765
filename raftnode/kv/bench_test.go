package kv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

func BenchmarkApplyPut(b *testing.B) {
	s := New()
	cmds := make([]*kvpb.Command, 1024)
	for i := range cmds {
		cmds[i] = put(fmt.Sprintf("key/%08d", i*7919%100000), "value-of-some-128-bytes-"+string(bytes.Repeat([]byte("x"), 104)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Apply(uint64(i+1), cmds[i%len(cmds)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRange100(b *testing.B) {
	s := storeWithKeys(b, 10000, func(i int) []byte { return fmt.Appendf(nil, "key/%08d", i) })
	req := &kvpb.RangeRequest{Key: []byte("key/00005000"), RangeEnd: []byte("key/00005100")}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Range(req)
		if err != nil || len(resp.Kvs) != 100 {
			b.Fatal(err, len(resp.GetKvs()))
		}
	}
}

func snapshotBenchStore(b *testing.B) *Store {
	return storeWithKeys(b, 100000, func(i int) []byte { return fmt.Appendf(nil, "key/%08d", i) })
}

func BenchmarkWriteSnapshot100k(b *testing.B) {
	s := snapshotBenchStore(b)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := s.WriteSnapshot(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func BenchmarkRestore100k(b *testing.B) {
	snap := snapshotBytes(b, snapshotBenchStore(b))
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Restore(bytes.NewReader(snap)); err != nil {
			b.Fatal(err)
		}
	}
}
