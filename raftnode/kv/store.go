package kv

import (
	"bytes"
	"sync"

	"github.com/google/btree"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// btreeDegree is the B-tree's node fan-out; 32 is the library's usual choice
// for in-memory indexes (etcd's key index uses it too).
const btreeDegree = 32

// item is one stored key. Its byte slices are owned by the store and never
// written after the item is built: an overwrite replaces the whole item, which
// is what lets a snapshot read a cloned tree without holding the lock.
type item struct {
	key         []byte
	value       []byte
	createIndex uint64
	modIndex    uint64
	version     int64
}

func lessItem(a, b item) bool { return bytes.Compare(a.key, b.key) < 0 }

func newTree() *btree.BTreeG[item] { return btree.NewG(btreeDegree, lessItem) }

// toProto returns the item as a KeyValue whose slices are copies, so callers
// may keep or modify them.
func (it item) toProto() *kvpb.KeyValue {
	return &kvpb.KeyValue{
		Key:         bytes.Clone(it.key),
		Value:       bytes.Clone(it.value),
		CreateIndex: it.createIndex,
		ModIndex:    it.modIndex,
		Version:     it.version,
	}
}

// Store is the replicated key-value state machine: an ordered in-memory map
// from key to KeyValue plus the index of the last applied raft entry.
//
// Concurrency: all methods may be called from any goroutine. Writes (Apply,
// ApplyNoop, ApplyEncoded, ApplyEntry) are serialized; reads (Get, Range, Len,
// AppliedIndex) run in parallel with each other; WriteSnapshot holds the lock
// only for an O(1) copy-on-write clone of the tree, then streams without it.
type Store struct {
	limits limits

	mu sync.RWMutex
	// tree holds the keys in ascending byte order.
	tree *btree.BTreeG[item]
	// applied is the index of the last raft entry applied.
	// Invariant: every item's modIndex <= applied.
	applied uint64
}

// New returns an empty store with applied index 0.
func New(opts ...Option) *Store {
	return &Store{limits: newLimits(opts), tree: newTree()}
}

// AppliedIndex returns the index of the last applied raft entry: 0 for a new
// store, the snapshot's index right after Restore.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Len()
}

// Get returns a copy of key's KeyValue, and whether the key exists.
func (s *Store) Get(key []byte) (*kvpb.KeyValue, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.tree.Get(item{key: key})
	if !ok {
		return nil, false
	}
	return it.toProto(), true
}

// Range reads the keys of req's interval in ascending order (copies, at most
// req.Limit of them), with the total count and whether more keys exist. An
// invalid request returns an error wrapping ErrInvalid or ErrTooLarge.
func (s *Store) Range(req *kvpb.RangeRequest) (*kvpb.RangeResponse, error) {
	iv, err := s.limits.validateRange(req)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvpb.RangeResponse{AppliedIndex: s.applied}
	limit := req.GetLimit()
	ascend(s.tree, iv, func(it item) bool {
		resp.Count++
		if limit == 0 || int64(len(resp.Kvs)) < limit {
			resp.Kvs = append(resp.Kvs, it.toProto())
		}
		return true
	})
	resp.More = resp.Count > int64(len(resp.Kvs))
	return resp, nil
}

// ascend calls fn for each item of iv in ascending order until fn returns false.
func ascend(t *btree.BTreeG[item], iv keyInterval, fn func(item) bool) {
	if iv.end == nil {
		t.AscendGreaterOrEqual(item{key: iv.start}, fn)
		return
	}
	t.AscendRange(item{key: iv.start}, item{key: iv.end}, fn)
}
