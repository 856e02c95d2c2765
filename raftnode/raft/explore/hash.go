package explore

import (
	"encoding/binary"
	"math"
	"math/bits"
	"reflect"
)

// hasher folds words into a 64-bit hash. States are told apart by it alone, so
// it mixes well (a 64x64->128-bit multiply per word): among n states the
// chance that any two collide is about n*n/2^65, one in a million at the six
// million states of a long run.
type hasher struct{ h uint64 }

const (
	mixA = 0xa0761d6478bd642f
	mixB = 0xe7037ed1a0b428db
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (w *hasher) word(x uint64) { w.h = mix(w.h^x^mixA, mixB) }

func (w *hasher) bytes(b []byte) {
	w.word(uint64(len(b)))
	for len(b) >= 8 {
		w.word(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var tail [8]byte
	copy(tail[:], b)
	w.word(binary.LittleEndian.Uint64(tail[:]))
}

func (w *hasher) str(s string) {
	w.word(uint64(len(s)))
	for len(s) >= 8 {
		w.word(binary.LittleEndian.Uint64([]byte(s[:8])))
		s = s[8:]
	}
	var tail [8]byte
	copy(tail[:], s)
	w.word(binary.LittleEndian.Uint64(tail[:]))
}

// raftPkg is the package whose types have fields the state hash leaves out.
const raftPkg = "github.com/raftkube/raftkube/raftnode/raft"

// unhashedField reports whether a field of the core's types is left out of the
// state hash. Everything else a member holds is hashed, found by reflection, so
// a field added to the core later is covered without anyone remembering to.
// These are left out because the explorer never lets them matter, and hashing
// them would tell apart states that behave the same:
//   - rand, randomizedElectionTimeout: draw and hold the randomized election
//     timeout, read only when a follower or candidate ticks, which the explorer
//     never does (it campaigns with Campaign);
//   - electionElapsed: counts ticks; read by followers' and candidates' ticks
//     (never made), by a leader's tick to abort a leadership transfer (the
//     explorer starts none) and for check-quorum leases (off);
//   - durableIndex, durableIndexTerm: read only with AsyncPersistence (off);
//   - logger: no state.
func unhashedField(name string) bool {
	switch name {
	case "rand", "randomizedElectionTimeout", "electionElapsed", "durableIndex", "durableIndexTerm", "logger":
		return true
	}
	return false
}

// valueHasher hashes values deeply by reflection.
type valueHasher struct {
	hasher
	// plans caches, per struct type, the indexes of the fields to hash.
	plans map[reflect.Type][]int
}

func newValueHasher() *valueHasher {
	return &valueHasher{plans: map[reflect.Type][]int{}}
}

func (w *valueHasher) fieldPlan(t reflect.Type) []int {
	if p, ok := w.plans[t]; ok {
		return p
	}
	plan := make([]int, 0, t.NumField())
	for i := range t.NumField() {
		if t.PkgPath() == raftPkg && unhashedField(t.Field(i).Name) {
			continue
		}
		plan = append(plan, i)
	}
	w.plans[t] = plan
	return plan
}

// maxValueDepth bounds how deep value follows pointers: the core's state is a
// tree a few levels deep, so hitting it means a cycle.
const maxValueDepth = 32

// value hashes v deeply, unexported fields included: reflection may read them,
// which is what lets the hash cover the core's whole state without an accessor.
// Maps are hashed independently of their iteration order; functions and
// channels hold no state of a member and are skipped.
func (w *valueHasher) value(v reflect.Value, depth int) {
	if depth > maxValueDepth {
		panic("explore: state hash found a cycle at " + v.Type().String())
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			w.word(1)
		} else {
			w.word(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.word(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.word(v.Uint())
	case reflect.Float32, reflect.Float64:
		w.word(math.Float64bits(v.Float()))
	case reflect.String:
		w.str(v.String())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			w.bytes(v.Bytes())
			return
		}
		w.word(uint64(v.Len()))
		for i := range v.Len() {
			w.value(v.Index(i), depth+1)
		}
	case reflect.Array:
		for i := range v.Len() {
			w.value(v.Index(i), depth+1)
		}
	case reflect.Struct:
		for _, i := range w.fieldPlan(v.Type()) {
			w.value(v.Field(i), depth+1)
		}
	case reflect.Pointer:
		if v.IsNil() {
			w.word(0)
			return
		}
		w.word(1)
		w.value(v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			w.word(0)
			return
		}
		w.str(v.Elem().Type().String())
		w.value(v.Elem(), depth+1)
	case reflect.Map:
		// Sum the hashes of the entries: addition does not care about order.
		outer := w.h
		var sum uint64
		it := v.MapRange()
		for it.Next() {
			w.h = 0
			w.value(it.Key(), depth+1)
			w.value(it.Value(), depth+1)
			sum += w.h
		}
		w.h = outer
		w.word(uint64(v.Len()))
		w.word(sum)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Invalid:
	default:
		panic("explore: state hash cannot hash a " + v.Kind().String())
	}
}
