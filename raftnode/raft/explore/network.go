package explore

import (
	"fmt"
	"slices"

	pb "github.com/raftkube/raftkube/raftnode/raft/raftpb"
)

// messageTable numbers the distinct messages an exploration meets, so that the
// network and the paths hold small ids. Equal messages get equal ids, so the
// network's contents hash the same whichever path put them there. One table
// serves every replay of an exploration.
type messageTable struct {
	ids  map[string]uint32
	keys []string // keys[id] is the message's encoding
	to   []uint64 // to[id] is the message's recipient
	buf  []byte
}

func newMessageTable() *messageTable {
	return &messageTable{ids: map[string]uint32{}}
}

// intern returns the id of m. Encoding copies the message out of the Ready,
// whose slices the core reuses after Advance.
func (t *messageTable) intern(m *pb.Message) uint32 {
	t.buf = m.MarshalAppend(t.buf[:0])
	if id, ok := t.ids[string(t.buf)]; ok {
		return id
	}
	id := uint32(len(t.keys))
	key := string(t.buf)
	t.ids[key] = id
	t.keys = append(t.keys, key)
	t.to = append(t.to, m.To)
	return id
}

// message decodes a fresh copy of message id, which the receiving core may keep.
func (t *messageTable) message(id uint32) (pb.Message, error) {
	var m pb.Message
	if err := m.Unmarshal([]byte(t.keys[id])); err != nil {
		return pb.Message{}, fmt.Errorf("decode message %d: %w", id, err)
	}
	return m, nil
}

// network is the multiset of messages in flight, as sorted message ids. Any of
// them may be delivered next or dropped; none is duplicated.
type network struct {
	ids []uint32
}

func (n *network) add(id uint32) {
	i, _ := slices.BinarySearch(n.ids, id)
	n.ids = slices.Insert(n.ids, i, id)
}

// remove takes one copy of id out and reports whether there was one.
func (n *network) remove(id uint32) bool {
	i, ok := slices.BinarySearch(n.ids, id)
	if ok {
		n.ids = slices.Delete(n.ids, i, i+1)
	}
	return ok
}

// distinct returns each id in flight once, ascending.
func (n *network) distinct() []uint32 {
	return slices.Compact(slices.Clone(n.ids))
}
