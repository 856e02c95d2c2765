package kv

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// Command builders keep the tables readable.

func put(k, v string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.Put{Key: []byte(k), Value: []byte(v)}}}
}

func del(k string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.Delete{Key: []byte(k)}}}
}

func delRange(k, end string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.Delete{Key: []byte(k), RangeEnd: []byte(end)}}}
}

func delPrefix(k string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.Delete{Key: []byte(k), Prefix: true}}}
}

func casValue(k, expected, v string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwap{
		Key: []byte(k), Expected: &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte(expected)}, Value: []byte(v),
	}}}
}

func casMod(k string, mod uint64, v string) *kvpb.Command {
	return &kvpb.Command{Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwap{
		Key: []byte(k), Expected: &kvpb.CompareAndSwap_ExpectedModIndex{ExpectedModIndex: mod}, Value: []byte(v),
	}}}
}

func casModDelete(k string, mod uint64) *kvpb.Command {
	c := casMod(k, mod, "")
	c.GetCas().Delete = true
	return c
}

// kv builds an expected KeyValue.
func kv(k, v string, create, mod uint64, version int64) *kvpb.KeyValue {
	return &kvpb.KeyValue{Key: []byte(k), Value: []byte(v), CreateIndex: create, ModIndex: mod, Version: version}
}

// applyAll applies cmds at the indexes after s's applied index and returns the
// last result.
func applyAll(t testing.TB, s *Store, cmds ...*kvpb.Command) *kvpb.Result {
	t.Helper()
	var res *kvpb.Result
	for _, c := range cmds {
		var err error
		if res, err = s.Apply(s.AppliedIndex()+1, c); err != nil {
			t.Fatalf("apply %v: %v", c, err)
		}
	}
	return res
}

// dump returns every key of s in order.
func dump(t testing.TB, s *Store) []*kvpb.KeyValue {
	t.Helper()
	resp, err := s.Range(&kvpb.RangeRequest{RangeEnd: []byte{0}})
	if err != nil {
		t.Fatalf("range all: %v", err)
	}
	return resp.GetKvs()
}

func equalKVs(a, b []*kvpb.KeyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func fmtKVs(kvs []*kvpb.KeyValue) string {
	var b strings.Builder
	for _, x := range kvs {
		fmt.Fprintf(&b, "\n  %q=%q c%d m%d v%d", x.Key, x.Value, x.CreateIndex, x.ModIndex, x.Version)
	}
	return b.String()
}

// requireSameStore fails unless a and b hold the same keys and applied index.
func requireSameStore(t testing.TB, a, b *Store) {
	t.Helper()
	if a.AppliedIndex() != b.AppliedIndex() {
		t.Fatalf("applied index %d, want %d", b.AppliedIndex(), a.AppliedIndex())
	}
	if da, db := dump(t, a), dump(t, b); !equalKVs(da, db) {
		t.Fatalf("stores differ:\nwant%s\ngot%s", fmtKVs(da), fmtKVs(db))
	}
}

// snapshotBytes returns s's snapshot stream.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatalf("write snapshot: %v", err)
	}
	return buf.Bytes()
}
