package kv

import (
	"errors"
	"testing"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

func TestRange(t *testing.T) {
	s := New()
	applyAll(t, s, put("a", "1"), put("ab", "2"), put("abc", "3"), put("b", "4"), put("c", "5"), put("\xff", "6"))
	tests := []struct {
		name     string
		req      *kvpb.RangeRequest
		wantKeys []string
		more     bool
		count    int64
	}{
		{"single key", &kvpb.RangeRequest{Key: []byte("ab")}, []string{"ab"}, false, 1},
		{"missing single key", &kvpb.RangeRequest{Key: []byte("aa")}, nil, false, 0},
		{"interval", &kvpb.RangeRequest{Key: []byte("ab"), RangeEnd: []byte("c")}, []string{"ab", "abc", "b"}, false, 3},
		{"interval with limit", &kvpb.RangeRequest{Key: []byte("ab"), RangeEnd: []byte("c"), Limit: 2}, []string{"ab", "abc"}, true, 3},
		{"limit equal to count", &kvpb.RangeRequest{Key: []byte("ab"), RangeEnd: []byte("c"), Limit: 3}, []string{"ab", "abc", "b"}, false, 3},
		{"prefix", &kvpb.RangeRequest{Key: []byte("ab"), Prefix: true}, []string{"ab", "abc"}, false, 2},
		{"prefix with limit", &kvpb.RangeRequest{Key: []byte("a"), Prefix: true, Limit: 1}, []string{"a"}, true, 3},
		{"prefix 0xff", &kvpb.RangeRequest{Key: []byte("\xff"), Prefix: true}, []string{"\xff"}, false, 1},
		{"from key to end", &kvpb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, []string{"b", "c", "\xff"}, false, 3},
		{"everything", &kvpb.RangeRequest{RangeEnd: []byte{0}, Limit: 2}, []string{"a", "ab"}, true, 6},
		{"empty prefix is everything", &kvpb.RangeRequest{Prefix: true}, []string{"a", "ab", "abc", "b", "c", "\xff"}, false, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Range(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, x := range resp.Kvs {
				keys = append(keys, string(x.Key))
			}
			if len(keys) != len(tt.wantKeys) || resp.More != tt.more || resp.Count != tt.count || resp.AppliedIndex != 6 {
				t.Fatalf("got keys %q more %v count %d at %d; want %q more %v count %d",
					keys, resp.More, resp.Count, resp.AppliedIndex, tt.wantKeys, tt.more, tt.count)
			}
			for i := range keys {
				if keys[i] != tt.wantKeys[i] {
					t.Fatalf("keys %q, want %q", keys, tt.wantKeys)
				}
			}
		})
	}
}

func TestRangeInvalid(t *testing.T) {
	s := New(MaxKeyBytes(4))
	tests := []struct {
		name string
		req  *kvpb.RangeRequest
		want error
	}{
		{"empty key", &kvpb.RangeRequest{}, ErrInvalid},
		{"negative limit", &kvpb.RangeRequest{Key: []byte("a"), Limit: -1}, ErrInvalid},
		{"equal ends", &kvpb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("a")}, ErrInvalid},
		{"prefix and range end", &kvpb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("b"), Prefix: true}, ErrInvalid},
		{"key too large", &kvpb.RangeRequest{Key: []byte("abcde")}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Range(tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("Range = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "b"}, {"ab", "ac"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"", ""},
	}
	for _, tt := range tests {
		if got := string(prefixEnd([]byte(tt.in))); got != tt.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
