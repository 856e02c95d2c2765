package raftpb

import (
	"fmt"
	"strconv"
	"strings"
)

// ConfChangesFromString parses the compact notation scenario scripts and tools use
// for membership changes: space-separated tokens, each a letter and a member ID.
//
//	v1  add voter 1 (or promote learner 1)
//	l2  add learner 2 (or demote voter 2)
//	r3  remove 3
//	u4  update 4
//
// The empty string (or only spaces) is the empty change list, which as a
// ConfChangeV2 leaves a joint configuration. IDs are not validated beyond being
// decimal uint64s: whether a change makes sense is the confchange package's call.
func ConfChangesFromString(s string) ([]ConfChangeSingle, error) {
	var ccs []ConfChangeSingle
	for _, tok := range strings.Fields(s) {
		if len(tok) < 2 {
			return nil, fmt.Errorf("raftpb: conf change %q: want a letter (v, l, r, u) and a member ID", tok)
		}
		var cc ConfChangeSingle
		switch tok[0] {
		case 'v':
			cc.Type = ConfChangeAddNode
		case 'l':
			cc.Type = ConfChangeAddLearnerNode
		case 'r':
			cc.Type = ConfChangeRemoveNode
		case 'u':
			cc.Type = ConfChangeUpdateNode
		default:
			return nil, fmt.Errorf("raftpb: conf change %q: unknown kind %q, want v, l, r or u", tok, tok[0])
		}
		id, err := strconv.ParseUint(tok[1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("raftpb: conf change %q: member ID: %w", tok, err)
		}
		cc.NodeID = id
		ccs = append(ccs, cc)
	}
	return ccs, nil
}

// ConfChangesToString is the inverse of ConfChangesFromString. A change of a type
// the notation has no letter for is written as its type name and ID, e.g.
// "ConfChangeType(7)(5)", which reads clearly in test output but does not parse.
func ConfChangesToString(ccs []ConfChangeSingle) string {
	var b strings.Builder
	for i, cc := range ccs {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeConfChange(&b, cc)
	}
	return b.String()
}

func writeConfChange(b *strings.Builder, cc ConfChangeSingle) {
	switch cc.Type {
	case ConfChangeAddNode:
		b.WriteByte('v')
	case ConfChangeAddLearnerNode:
		b.WriteByte('l')
	case ConfChangeRemoveNode:
		b.WriteByte('r')
	case ConfChangeUpdateNode:
		b.WriteByte('u')
	default:
		b.WriteString(cc.Type.String())
		b.WriteByte('(')
		b.WriteString(strconv.FormatUint(cc.NodeID, 10))
		b.WriteByte(')')
		return
	}
	b.WriteString(strconv.FormatUint(cc.NodeID, 10))
}
