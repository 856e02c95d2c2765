package kv

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
	"github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		// cmds are applied at indexes 1, 2, ...
		cmds []*kvpb.Command
		// wantRes is the Result of the last command.
		wantRes *kvpb.Result
		want    []*kvpb.KeyValue
	}{
		{
			name:    "put creates",
			cmds:    []*kvpb.Command{put("a", "1")},
			wantRes: &kvpb.Result{Succeeded: true, ModIndex: 1, AppliedIndex: 1},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "put overwrites: create index kept, version counts",
			cmds:    []*kvpb.Command{put("a", "1"), put("b", "x"), put("a", "2"), put("a", "3")},
			wantRes: &kvpb.Result{Succeeded: true, Prev: kv("a", "2", 1, 3, 2), ModIndex: 4, AppliedIndex: 4},
			want:    []*kvpb.KeyValue{kv("a", "3", 1, 4, 3), kv("b", "x", 2, 2, 1)},
		},
		{
			name:    "put empty value",
			cmds:    []*kvpb.Command{put("a", "")},
			wantRes: &kvpb.Result{Succeeded: true, ModIndex: 1, AppliedIndex: 1},
			want:    []*kvpb.KeyValue{kv("a", "", 1, 1, 1)},
		},
		{
			name:    "delete single key",
			cmds:    []*kvpb.Command{put("a", "1"), put("ab", "2"), del("a")},
			wantRes: &kvpb.Result{Succeeded: true, Prev: kv("a", "1", 1, 1, 1), Deleted: 1, AppliedIndex: 3},
			want:    []*kvpb.KeyValue{kv("ab", "2", 2, 2, 1)},
		},
		{
			name:    "delete missing key",
			cmds:    []*kvpb.Command{put("a", "1"), del("b")},
			wantRes: &kvpb.Result{Succeeded: true, AppliedIndex: 2},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "re-create after delete restarts history",
			cmds:    []*kvpb.Command{put("a", "1"), put("a", "2"), del("a"), put("a", "3")},
			wantRes: &kvpb.Result{Succeeded: true, ModIndex: 4, AppliedIndex: 4},
			want:    []*kvpb.KeyValue{kv("a", "3", 4, 4, 1)},
		},
		{
			name:    "delete interval is half-open",
			cmds:    []*kvpb.Command{put("a", "1"), put("b", "2"), put("c", "3"), put("d", "4"), delRange("b", "d")},
			wantRes: &kvpb.Result{Succeeded: true, Deleted: 2, AppliedIndex: 5},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1), kv("d", "4", 4, 4, 1)},
		},
		{
			name:    "delete from key to the end",
			cmds:    []*kvpb.Command{put("a", "1"), put("b", "2"), put("c", "3"), delRange("b", "\x00")},
			wantRes: &kvpb.Result{Succeeded: true, Deleted: 2, AppliedIndex: 4},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "delete prefix",
			cmds:    []*kvpb.Command{put("a", "1"), put("ab", "2"), put("abc", "3"), put("b", "4"), delPrefix("ab")},
			wantRes: &kvpb.Result{Succeeded: true, Deleted: 2, AppliedIndex: 5},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1), kv("b", "4", 4, 4, 1)},
		},
		{
			name:    "delete prefix of 0xff bytes reaches the end",
			cmds:    []*kvpb.Command{put("a", "1"), put("\xff", "2"), put("\xff\xff\x01", "3"), delPrefix("\xff")},
			wantRes: &kvpb.Result{Succeeded: true, Deleted: 2, AppliedIndex: 4},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "delete empty prefix deletes everything",
			cmds:    []*kvpb.Command{put("a", "1"), put("b", "2"), delPrefix("")},
			wantRes: &kvpb.Result{Succeeded: true, Deleted: 2, AppliedIndex: 3},
		},
		{
			name:    "cas on value succeeds",
			cmds:    []*kvpb.Command{put("a", "1"), casValue("a", "1", "2")},
			wantRes: &kvpb.Result{Succeeded: true, Prev: kv("a", "1", 1, 1, 1), ModIndex: 2, AppliedIndex: 2},
			want:    []*kvpb.KeyValue{kv("a", "2", 1, 2, 2)},
		},
		{
			name:    "cas on value fails on another value",
			cmds:    []*kvpb.Command{put("a", "1"), casValue("a", "x", "2")},
			wantRes: &kvpb.Result{Prev: kv("a", "1", 1, 1, 1), ModIndex: 1, AppliedIndex: 2},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "cas on value fails on a missing key, even expecting empty",
			cmds:    []*kvpb.Command{casValue("a", "", "2")},
			wantRes: &kvpb.Result{AppliedIndex: 1},
		},
		{
			name:    "cas on mod index succeeds",
			cmds:    []*kvpb.Command{put("a", "1"), put("a", "2"), casMod("a", 2, "3")},
			wantRes: &kvpb.Result{Succeeded: true, Prev: kv("a", "2", 1, 2, 2), ModIndex: 3, AppliedIndex: 3},
			want:    []*kvpb.KeyValue{kv("a", "3", 1, 3, 3)},
		},
		{
			name:    "cas on stale mod index fails and reports the current one",
			cmds:    []*kvpb.Command{put("a", "1"), put("a", "2"), casMod("a", 1, "3")},
			wantRes: &kvpb.Result{Prev: kv("a", "2", 1, 2, 2), ModIndex: 2, AppliedIndex: 3},
			want:    []*kvpb.KeyValue{kv("a", "2", 1, 2, 2)},
		},
		{
			name:    "cas mod index 0 creates a missing key",
			cmds:    []*kvpb.Command{casMod("a", 0, "1")},
			wantRes: &kvpb.Result{Succeeded: true, ModIndex: 1, AppliedIndex: 1},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "cas mod index 0 fails on an existing key",
			cmds:    []*kvpb.Command{put("a", "1"), casMod("a", 0, "2")},
			wantRes: &kvpb.Result{Prev: kv("a", "1", 1, 1, 1), ModIndex: 1, AppliedIndex: 2},
			want:    []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)},
		},
		{
			name:    "cas delete succeeds",
			cmds:    []*kvpb.Command{put("a", "1"), casModDelete("a", 1)},
			wantRes: &kvpb.Result{Succeeded: true, Prev: kv("a", "1", 1, 1, 1), Deleted: 1, AppliedIndex: 2},
		},
		{
			name:    "cas delete fails on stale mod index",
			cmds:    []*kvpb.Command{put("a", "1"), put("a", "2"), casModDelete("a", 1)},
			wantRes: &kvpb.Result{Prev: kv("a", "2", 1, 2, 2), ModIndex: 2, AppliedIndex: 3},
			want:    []*kvpb.KeyValue{kv("a", "2", 1, 2, 2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			res := applyAll(t, s, tt.cmds...)
			if !proto.Equal(res, tt.wantRes) {
				t.Errorf("result:\n got %v\nwant %v", res, tt.wantRes)
			}
			if got := dump(t, s); !equalKVs(got, tt.want) {
				t.Errorf("store:\n got%s\nwant%s", fmtKVs(got), fmtKVs(tt.want))
			}
			if s.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", s.Len(), len(tt.want))
			}
		})
	}
}

func TestApplyIndexOrder(t *testing.T) {
	s := New()
	applyAll(t, s, put("a", "1"), put("b", "2"))
	before := dump(t, s)
	tests := []struct {
		name  string
		index uint64
		want  error
	}{
		{"replay of the last entry", 2, ErrAlreadyApplied},
		{"replay of an old entry", 1, ErrAlreadyApplied},
		{"index 0", 0, ErrAlreadyApplied},
		{"gap of one", 4, ErrGap},
		{"far gap", 1 << 40, ErrGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Apply(tt.index, put("a", "changed"))
			if !errors.Is(err, tt.want) || res != nil {
				t.Fatalf("Apply(%d) = %v, %v; want nil, %v", tt.index, res, err, tt.want)
			}
			if err := s.ApplyNoop(tt.index); !errors.Is(err, tt.want) {
				t.Fatalf("ApplyNoop(%d) = %v, want %v", tt.index, err, tt.want)
			}
			if s.AppliedIndex() != 2 || !equalKVs(dump(t, s), before) {
				t.Fatalf("store changed by a refused apply")
			}
		})
	}
	if err := s.ApplyNoop(3); err != nil || s.AppliedIndex() != 3 {
		t.Fatalf("ApplyNoop(3) = %v, applied %d", err, s.AppliedIndex())
	}
}

func TestApplyInvalidIsNoop(t *testing.T) {
	big := strings.Repeat("k", DefaultMaxKeyBytes+1)
	tests := []struct {
		name string
		cmd  *kvpb.Command
		code kvpb.ErrorCode
		want error
	}{
		{"nil command", nil, kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"no op", &kvpb.Command{}, kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"put empty key", put("", "v"), kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"put key too large", put(big, "v"), kvpb.ErrorCode_ERROR_CODE_TOO_LARGE, ErrTooLarge},
		{"put value too large", put("a", strings.Repeat("v", DefaultMaxValueBytes+1)), kvpb.ErrorCode_ERROR_CODE_TOO_LARGE, ErrTooLarge},
		{"delete empty key", del(""), kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"delete backwards interval", delRange("b", "a"), kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"delete prefix and range end", &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.Delete{Key: []byte("a"), RangeEnd: []byte("b"), Prefix: true}}}, kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"delete range end too large", delRange("a", big), kvpb.ErrorCode_ERROR_CODE_TOO_LARGE, ErrTooLarge},
		{"cas without expectation", &kvpb.Command{Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwap{Key: []byte("a")}}}, kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"cas empty key", casMod("", 0, "v"), kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"cas delete with value", func() *kvpb.Command { c := casMod("a", 1, "v"); c.GetCas().Delete = true; return c }(), kvpb.ErrorCode_ERROR_CODE_INVALID, ErrInvalid},
		{"cas value too large", casMod("a", 0, strings.Repeat("v", DefaultMaxValueBytes+1)), kvpb.ErrorCode_ERROR_CODE_TOO_LARGE, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			applyAll(t, s, put("a", "1"))
			if err := s.Validate(tt.cmd); !errors.Is(err, tt.want) {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
			res, err := s.Apply(2, tt.cmd)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.ErrorCode != tt.code || res.Succeeded || res.AppliedIndex != 2 || !errors.Is(ResultErr(res), tt.want) {
				t.Errorf("result %v, want code %v", res, tt.code)
			}
			if s.AppliedIndex() != 2 || !equalKVs(dump(t, s), []*kvpb.KeyValue{kv("a", "1", 1, 1, 1)}) {
				t.Errorf("invalid command changed the store or did not advance the index")
			}
		})
	}
}

func TestOptionsLimits(t *testing.T) {
	s := New(MaxKeyBytes(2), MaxValueBytes(3))
	if err := s.Validate(put("ab", "xyz")); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if err := s.Validate(put("abc", "x")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("key over the limit: %v", err)
	}
	if err := s.Validate(put("a", "wxyz")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("value over the limit: %v", err)
	}
}

func TestApplyEntry(t *testing.T) {
	s := New()
	data, err := proto.Marshal(put("a", "1"))
	if err != nil {
		t.Fatal(err)
	}
	entries := []raftpb.Entry{
		{Index: 1, Type: raftpb.EntryNormal},                              // a new leader's empty entry
		{Index: 2, Type: raftpb.EntryNormal, Data: data},                  // a command
		{Index: 3, Type: raftpb.EntryConfChangeV2, Data: []byte{1, 2, 3}}, // not ours
		{Index: 4, Type: raftpb.EntryNormal, Data: []byte{0xff, 0xff}},    // garbage
	}
	var results []*kvpb.Result
	for _, e := range entries {
		res, err := s.ApplyEntry(e)
		if err != nil {
			t.Fatalf("entry %d: %v", e.Index, err)
		}
		results = append(results, res)
	}
	if results[0] != nil || results[2] != nil || !results[1].Succeeded {
		t.Errorf("results %v", results)
	}
	if !errors.Is(ResultErr(results[3]), ErrInvalid) || results[3].AppliedIndex != 4 {
		t.Errorf("garbage entry result %v", results[3])
	}
	if s.AppliedIndex() != 4 || !equalKVs(dump(t, s), []*kvpb.KeyValue{kv("a", "1", 2, 2, 1)}) {
		t.Errorf("store %s at %d", fmtKVs(dump(t, s)), s.AppliedIndex())
	}
	if _, err := s.ApplyEntry(entries[1]); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("replayed entry: %v", err)
	}
}

func TestReturnedValuesAreCopies(t *testing.T) {
	s := New()
	cmd := put("a", "1")
	applyAll(t, s, cmd)
	cmd.GetPut().Value[0] = 'X' // the caller reuses its buffers
	got, _ := s.Get([]byte("a"))
	got.Value[0] = 'Y'
	if again, _ := s.Get([]byte("a")); string(again.Value) != "1" {
		t.Fatalf("store value changed to %q through shared memory", again.Value)
	}
}
