package raftpb

import (
	"reflect"
	"strings"
	"testing"
)

func TestConfChangesString(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []ConfChangeSingle
		out  string // what ConfChangesToString gives back; in unless the spacing differs
	}{
		{in: "", want: nil},
		{in: "   ", want: nil, out: ""},
		{in: "v1", want: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: 1}}},
		{in: "v1 l2 r3 u4", want: []ConfChangeSingle{
			{Type: ConfChangeAddNode, NodeID: 1},
			{Type: ConfChangeAddLearnerNode, NodeID: 2},
			{Type: ConfChangeRemoveNode, NodeID: 3},
			{Type: ConfChangeUpdateNode, NodeID: 4},
		}},
		{in: "  r10\tv18446744073709551615\n", out: "r10 v18446744073709551615", want: []ConfChangeSingle{
			{Type: ConfChangeRemoveNode, NodeID: 10},
			{Type: ConfChangeAddNode, NodeID: 18446744073709551615},
		}},
		{in: "v0", want: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: 0}}},
	} {
		got, err := ConfChangesFromString(tt.in)
		if err != nil {
			t.Errorf("ConfChangesFromString(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ConfChangesFromString(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		out := tt.in
		if tt.out != "" || strings.TrimSpace(tt.in) == "" {
			out = tt.out
		}
		if s := ConfChangesToString(got); s != out {
			t.Errorf("ConfChangesToString(%+v) = %q, want %q", got, s, out)
		}
	}
}

func TestConfChangesFromStringErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"v", `conf change "v": want a letter`},
		{"x1", `unknown kind 'x'`},
		{"V1", `unknown kind 'V'`},
		{"v1 l", `conf change "l": want a letter`},
		{"va", `conf change "va": member ID: strconv.ParseUint: parsing "a": invalid syntax`},
		{"v-1", `conf change "v-1": member ID`},
		{"v18446744073709551616", `value out of range`},
		{"v1,l2", `conf change "v1,l2": member ID`},
	} {
		got, err := ConfChangesFromString(tt.in)
		if err == nil {
			t.Errorf("ConfChangesFromString(%q) = %+v, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "raftpb: ") {
			t.Errorf("ConfChangesFromString(%q) = %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestConfChangesToStringUnknownType(t *testing.T) {
	got := ConfChangesToString([]ConfChangeSingle{{Type: 7, NodeID: 5}, {NodeID: 1}})
	if want := "ConfChangeType(7)(5) v1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
