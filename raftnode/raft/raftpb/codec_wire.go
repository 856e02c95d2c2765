package raftpb

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// ---------------------------------------------------------------------------
// Encoding helpers. Each size/append pair omits the field exactly when proto3
// implicit presence does, so that Size and appendTo can never disagree.

// enumWire is how protobuf puts an int32 (and so an enum) on the wire: sign-extended
// to 64 bits, so a negative value takes ten bytes.
func enumWire(v int32) uint64 { return uint64(int64(v)) }

// Invariant: every field number in raft.proto is below 16, so every tag is one byte.
// appendTag and sizeTag rely on it to stay small enough to inline: protowire's
// general varint path was a quarter of Marshal's CPU profile, mostly spent on tags.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return append(b, byte(num)<<3|byte(typ))
}

func sizeTag(protowire.Number) int { return 1 }

// The highest field number in raft.proto; compiling fails if it reaches 16.
const _ uint = 15 - uint(messagePriority)

// appendUvarint is protowire.AppendVarint with the one-byte case inlined.
func appendUvarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return sizeTag(num) + protowire.SizeVarint(v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUvarint(appendTag(b, num, protowire.VarintType), v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return sizeTag(num) + 1
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return append(appendTag(b, num, protowire.VarintType), 1)
}

func sizeBytes(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return sizeTag(num) + protowire.SizeBytes(len(v))
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendUvarint(appendTag(b, num, protowire.BytesType), uint64(len(v)))
	return append(b, v...)
}

// sizeEmbedded is the size of an embedded message of n bytes that is always emitted
// (an element of a repeated field, or a set pointer).
func sizeEmbedded(num protowire.Number, n int) int {
	return sizeTag(num) + protowire.SizeBytes(n)
}

// sizeOptionalEmbedded is the size of an embedded value-typed message, omitted when
// it encodes to nothing.
func sizeOptionalEmbedded(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return sizeEmbedded(num, n)
}

func appendEmbeddedHeader(b []byte, num protowire.Number, n int) []byte {
	return appendUvarint(appendTag(b, num, protowire.BytesType), uint64(n))
}

func packedLen(vs []uint64) int {
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(v)
	}
	return n
}

func sizePacked(num protowire.Number, vs []uint64) int {
	if len(vs) == 0 {
		return 0
	}
	return sizeTag(num) + protowire.SizeBytes(packedLen(vs))
}

func appendPacked(b []byte, num protowire.Number, vs []uint64) []byte {
	if len(vs) == 0 {
		return b
	}
	b = appendUvarint(appendTag(b, num, protowire.BytesType), uint64(packedLen(vs)))
	for _, v := range vs {
		b = appendUvarint(b, v)
	}
	return b
}

// ---------------------------------------------------------------------------
// Decoding helpers. Each returns the number of bytes consumed and an error that
// says what went wrong; the caller adds which message and field.

// wrapDecode marks an error as coming from this package once, at the top, so that
// nested messages read "raftpb: decode Message field 7: decode Entry field 4: ...".
func wrapDecode(err error) error {
	if err != nil {
		return fmt.Errorf("raftpb: %w", err)
	}
	return nil
}

func fieldError(msg string, num protowire.Number, err error) error {
	return fmt.Errorf("decode %s field %d: %w", msg, num, err)
}

func wireTypeError(got, want protowire.Type) error {
	return fmt.Errorf("%w %d, want %d", ErrWireType, got, want)
}

// consumeTag reads a field tag. Field numbers outside [1, 2^29-1] are refused, as
// proto.Unmarshal refuses them.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, 0, fmt.Errorf("tag: %w", varintError(n))
	}
	num, typ := v>>3, protowire.Type(v&7)
	if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) {
		return 0, 0, 0, fmt.Errorf("tag: %w %d", ErrFieldNumber, num)
	}
	return protowire.Number(num), typ, n, nil
}

// varintError names the failure of protowire.ConsumeVarint or ConsumeBytes, which
// can only be running out of input or a varint longer than ten bytes. protowire's
// own messages are deliberately unstable, so we say it ourselves.
func varintError(n int) error {
	if err := protowire.ParseError(n); errors.Is(err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return ErrVarintOverflow
}

func consumeVarint(typ protowire.Type, b []byte) (uint64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, wireTypeError(typ, protowire.VarintType)
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, varintError(n)
	}
	return v, n, nil
}

// consumeBytes returns a length-delimited value as a subslice of b, with capacity
// clipped to its length so that appending to it cannot overwrite what follows in b.
// An empty value is returned as nil so that a decoded value keeps no reference to b.
// A length past the end of b, however large, is io.ErrUnexpectedEOF.
func consumeBytes(typ protowire.Type, b []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, wireTypeError(typ, protowire.BytesType)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, varintError(n)
	}
	if len(v) == 0 {
		return nil, n, nil
	}
	return v[:len(v):len(v)], n, nil
}

// consumeRepeatedVarint appends one occurrence of a repeated uint64 field to vs:
// either a packed run (the proto3 default) or a single unpacked element (proto2
// encoders and older proto3 ones). A packed run is counted first so vs grows once.
func consumeRepeatedVarint(typ protowire.Type, b []byte, vs []uint64) ([]uint64, int, error) {
	switch typ {
	case protowire.VarintType:
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return vs, 0, varintError(n)
		}
		return append(vs, v), n, nil
	case protowire.BytesType:
		run, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return vs, 0, varintError(n)
		}
		count := 0
		for _, c := range run {
			if c < 0x80 {
				count++
			}
		}
		vs = slices.Grow(vs, count)
		for len(run) > 0 {
			v, k := protowire.ConsumeVarint(run)
			if k < 0 {
				return vs, 0, fmt.Errorf("packed element: %w", varintError(k))
			}
			vs = append(vs, v)
			run = run[k:]
		}
		return vs, n, nil
	default:
		return vs, 0, wireTypeError(typ, protowire.BytesType)
	}
}

// skipField steps over the value of a field this version does not know, so that a
// newer peer can add fields without breaking an older one. Groups (proto2's
// delimited messages) are skipped whole, nested groups included.
func skipField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch typ {
	case protowire.VarintType, protowire.BytesType:
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, varintError(n)
		}
		return n, nil
	case protowire.Fixed32Type, protowire.Fixed64Type:
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return n, nil
	case protowire.StartGroupType:
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			err := protowire.ParseError(n)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				err = ErrMalformedGroup
			}
			return 0, fmt.Errorf("unknown group: %w", err)
		}
		return n, nil
	case protowire.EndGroupType:
		return 0, fmt.Errorf("%w: end of group with no group open", ErrWireType)
	default:
		return 0, fmt.Errorf("%w: reserved wire type %d", ErrWireType, typ)
	}
}

// countEmbedded counts the occurrences of length-delimited field num in b, so that a
// repeated field can be allocated once at its final length. It stops quietly at
// malformed input: the decoding pass that follows reports the error.
func countEmbedded(b []byte, num protowire.Number) int {
	count := 0
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			break
		}
		b = b[k:]
		if n == num && typ == protowire.BytesType {
			count++
		}
		k = protowire.ConsumeFieldValue(n, typ, b)
		if k < 0 {
			break
		}
		b = b[k:]
	}
	return count
}
