package quorum

import (
	"math"
	"strings"
	"testing"
)

// cfg builds a MajorityConfig from ids.
func cfg(ids ...uint64) MajorityConfig {
	c := MajorityConfig{}
	for _, id := range ids {
		c[id] = struct{}{}
	}
	return c
}

// set builds an id set.
func set(ids ...uint64) map[uint64]struct{} { return cfg(ids...) }

// acks builds a MapAckIndexer from id/index pairs.
func acks(pairs ...uint64) MapAckIndexer {
	m := MapAckIndexer{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = Index(pairs[i+1])
	}
	return m
}

// votes builds a vote map: ids in yes granted, ids in no rejected.
func votes(yes, no []uint64) map[uint64]bool {
	m := map[uint64]bool{}
	for _, id := range yes {
		m[id] = true
	}
	for _, id := range no {
		m[id] = false
	}
	return m
}

func TestIndexString(t *testing.T) {
	tests := []struct {
		idx  Index
		want string
	}{
		{0, "0"},
		{42, "42"},
		{math.MaxUint64 - 1, "18446744073709551614"},
		{math.MaxUint64, "∞"},
	}
	for _, tt := range tests {
		if got := tt.idx.String(); got != tt.want {
			t.Errorf("Index(%d).String() = %q, want %q", uint64(tt.idx), got, tt.want)
		}
	}
}

func TestVoteResultString(t *testing.T) {
	tests := []struct {
		v    VoteResult
		want string
	}{
		{VotePending, "VotePending"},
		{VoteLost, "VoteLost"},
		{VoteWon, "VoteWon"},
		{0, "VoteResult(0)"},
		{9, "VoteResult(9)"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestMajority(t *testing.T) {
	tests := []struct{ n, want int }{
		{-1, 0}, {0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3}, {6, 4}, {7, 4}, {9, 5},
	}
	for _, tt := range tests {
		if got := Majority(tt.n); got != tt.want {
			t.Errorf("Majority(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestMapAckIndexer(t *testing.T) {
	l := acks(1, 5)
	if idx, ok := l.AckedIndex(1); !ok || idx != 5 {
		t.Errorf("AckedIndex(1) = %d, %t; want 5, true", idx, ok)
	}
	if idx, ok := l.AckedIndex(2); ok || idx != 0 {
		t.Errorf("AckedIndex(2) = %d, %t; want 0, false", idx, ok)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"empty majority", MajorityConfig{}.String(), "()"},
		{"nil majority", MajorityConfig(nil).String(), "()"},
		{"majority sorted", cfg(3, 1, 20, 2).String(), "(1 2 3 20)"},
		{"simple joint", JointConfig{cfg(3, 1, 2)}.String(), "(1 2 3)"},
		{"simple joint with empty outgoing", JointConfig{cfg(1), cfg()}.String(), "(1)"},
		{"joint", JointConfig{cfg(1, 2, 3), cfg(2, 1)}.String(), "(1 2 3)&&(1 2)"},
		{"joint with empty incoming", JointConfig{nil, cfg(1)}.String(), "()&&(1)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSlice(t *testing.T) {
	if got := cfg().Slice(); got != nil {
		t.Errorf("empty Slice() = %v, want nil", got)
	}
	got := cfg(5, 1, 3).Slice()
	if want := []uint64{1, 3, 5}; !equalIDs(got, want) {
		t.Errorf("Slice() = %v, want %v", got, want)
	}
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJointIDs(t *testing.T) {
	got := MajorityConfig(JointConfig{cfg(1, 2, 3), cfg(3, 4)}.IDs()).String()
	if want := "(1 2 3 4)"; got != want {
		t.Errorf("IDs() = %s, want %s", got, want)
	}
	if got := (JointConfig{}).IDs(); got == nil || len(got) != 0 {
		t.Errorf("IDs() of empty config = %v, want empty non-nil map", got)
	}
}

func TestDescribe(t *testing.T) {
	c := cfg(1, 2, 3, 4)
	got := c.Describe(acks(1, 101, 2, 102, 3, 99))
	want := strings.Join([]string{
		"        idx",
		"xx>     101    (id=1)",
		"xxx>    102    (id=2)",
		"x>       99    (id=3)",
		"?         0    (id=4)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("Describe:\n%s\nwant:\n%s", got, want)
	}

	// Equal indexes get equal bars, also after a smaller one.
	got = cfg(1, 2, 3).Describe(acks(1, 3, 2, 5, 3, 5))
	want = strings.Join([]string{
		"       idx",
		">        3    (id=1)",
		"x>       5    (id=2)",
		"x>       5    (id=3)",
		"",
	}, "\n")
	if got != want {
		t.Errorf("Describe:\n%s\nwant:\n%s", got, want)
	}

	if got := cfg().Describe(acks()); got != "<empty majority quorum>" {
		t.Errorf("empty Describe = %q", got)
	}
	joint := JointConfig{cfg(1), cfg(2)}.Describe(acks(1, 7, 2, 8))
	if want := "      idx\n>       7    (id=1)\nx>      8    (id=2)\n"; joint != want {
		t.Errorf("joint Describe:\n%s\nwant:\n%s", joint, want)
	}
}
