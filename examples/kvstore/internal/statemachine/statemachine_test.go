package statemachine

import (
	"bytes"
	"maps"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	s := New()
	s.Put("a", "1")
	s.Put("b", "")
	s.SetPeer(1, "http://127.0.0.1:1")
	s.SetPeer(2, "http://127.0.0.1:2")
	s.RemovePeer(2)
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Get("b"); !ok || v != "" || got.Len() != 2 {
		t.Fatalf("restored b = %q, %t; %d keys", v, ok, got.Len())
	}
	if want := map[uint64]string{1: "http://127.0.0.1:1"}; !maps.Equal(got.Peers(), want) {
		t.Fatalf("restored peers %v, want %v", got.Peers(), want)
	}
}

// Members that applied the same commands must produce the same snapshot
// bytes, whatever order their maps iterate in.
func TestMarshalIsDeterministic(t *testing.T) {
	a, b := New(), New()
	for _, k := range []string{"x", "y", "z", "w"} {
		a.Put(k, k+k)
	}
	for _, k := range []string{"w", "z", "y", "x"} {
		b.Put(k, k+k)
	}
	da, _ := a.Marshal()
	db, _ := b.Marshal()
	if !bytes.Equal(da, db) {
		t.Fatalf("equal states encode differently:\n%s\n%s", da, db)
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	if _, err := Unmarshal([]byte("{not json")); err == nil {
		t.Fatal("Unmarshal accepted garbage")
	}
}
