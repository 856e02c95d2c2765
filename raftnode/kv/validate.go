package kv

import (
	"bytes"
	"fmt"

	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// Default size limits of keys and values.
const (
	// DefaultMaxKeyBytes bounds keys and range ends: 4 KiB.
	DefaultMaxKeyBytes = 4 << 10
	// DefaultMaxValueBytes bounds values: 1 MiB.
	DefaultMaxValueBytes = 1 << 20
)

// limits are the size bounds a Store enforces.
type limits struct {
	maxKeyBytes   int
	maxValueBytes int
}

// Option configures a Store made by New or Restore.
type Option func(*limits)

// MaxKeyBytes bounds the length of keys and range ends (default
// DefaultMaxKeyBytes). Values below 1 keep the default.
func MaxKeyBytes(n int) Option {
	return func(l *limits) {
		if n > 0 {
			l.maxKeyBytes = n
		}
	}
}

// MaxValueBytes bounds the length of values (default DefaultMaxValueBytes).
// Values below 1 keep the default.
func MaxValueBytes(n int) Option {
	return func(l *limits) {
		if n > 0 {
			l.maxValueBytes = n
		}
	}
}

func newLimits(opts []Option) limits {
	l := limits{maxKeyBytes: DefaultMaxKeyBytes, maxValueBytes: DefaultMaxValueBytes}
	for _, o := range opts {
		o(&l)
	}
	return l
}

// Validate reports whether cmd is well-formed and within the store's size
// limits, with an error wrapping ErrInvalid or ErrTooLarge. A server calls it
// before proposing, so a bad command is refused without using a log entry; Apply
// runs the same checks, because every member must treat a bad entry that was
// committed anyway (by an older or misconfigured leader) the same way.
func (s *Store) Validate(cmd *kvpb.Command) error {
	return s.limits.validate(cmd)
}

func (l limits) validate(cmd *kvpb.Command) error {
	switch op := cmd.GetOp().(type) {
	case *kvpb.Command_Put:
		return l.validatePut(op.Put)
	case *kvpb.Command_Delete:
		d := op.Delete
		_, err := l.interval(d.GetKey(), d.GetRangeEnd(), d.GetPrefix())
		return err
	case *kvpb.Command_Cas:
		return l.validateCAS(op.Cas)
	case nil:
		return fmt.Errorf("%w: command has no op", ErrInvalid)
	default:
		return fmt.Errorf("%w: unknown op %T", ErrInvalid, op)
	}
}

func (l limits) validatePut(p *kvpb.Put) error {
	if err := l.checkKey(p.GetKey()); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := l.checkValue(p.GetValue()); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	return nil
}

func (l limits) validateCAS(c *kvpb.CompareAndSwap) error {
	if err := l.checkKey(c.GetKey()); err != nil {
		return fmt.Errorf("compare-and-swap: %w", err)
	}
	if c.GetExpected() == nil {
		return fmt.Errorf("%w: compare-and-swap: no expected value or mod index", ErrInvalid)
	}
	if c.GetDelete() && len(c.GetValue()) > 0 {
		return fmt.Errorf("%w: compare-and-swap: both a value and delete", ErrInvalid)
	}
	if ev, ok := c.GetExpected().(*kvpb.CompareAndSwap_ExpectedValue); ok {
		if err := l.checkValue(ev.ExpectedValue); err != nil {
			return fmt.Errorf("compare-and-swap: expected value: %w", err)
		}
	}
	if err := l.checkValue(c.GetValue()); err != nil {
		return fmt.Errorf("compare-and-swap: %w", err)
	}
	return nil
}

// validateRange checks a read like a command, with the same error kinds.
func (l limits) validateRange(req *kvpb.RangeRequest) (keyInterval, error) {
	if req.GetLimit() < 0 {
		return keyInterval{}, fmt.Errorf("%w: range: negative limit %d", ErrInvalid, req.GetLimit())
	}
	iv, err := l.interval(req.GetKey(), req.GetRangeEnd(), req.GetPrefix())
	if err != nil {
		return keyInterval{}, fmt.Errorf("range: %w", err)
	}
	return iv, nil
}

func (l limits) checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > l.maxKeyBytes {
		return fmt.Errorf("%w: key is %d bytes, limit %d", ErrTooLarge, len(key), l.maxKeyBytes)
	}
	return nil
}

func (l limits) checkValue(v []byte) error {
	if len(v) > l.maxValueBytes {
		return fmt.Errorf("%w: value is %d bytes, limit %d", ErrTooLarge, len(v), l.maxValueBytes)
	}
	return nil
}

// keyInterval is a set of keys: [start, end), or every key >= start when end is
// nil. A single-key interval has end == start+"\x00", the key's only successor.
type keyInterval struct {
	start []byte
	end   []byte
}

// interval turns the (key, range_end, prefix) triple of Delete and RangeRequest
// into a keyInterval, following etcd's rules (see kv.proto).
func (l limits) interval(key, rangeEnd []byte, prefix bool) (keyInterval, error) {
	if len(key) > l.maxKeyBytes || len(rangeEnd) > l.maxKeyBytes {
		return keyInterval{}, fmt.Errorf("%w: key or range end over %d bytes", ErrTooLarge, l.maxKeyBytes)
	}
	switch {
	case prefix && len(rangeEnd) > 0:
		return keyInterval{}, fmt.Errorf("%w: both prefix and range end", ErrInvalid)
	case prefix:
		return keyInterval{start: key, end: prefixEnd(key)}, nil
	case len(rangeEnd) == 0:
		if len(key) == 0 {
			return keyInterval{}, fmt.Errorf("%w: empty key", ErrInvalid)
		}
		return keyInterval{start: key, end: append(bytes.Clone(key), 0)}, nil
	case bytes.Equal(rangeEnd, []byte{0}):
		return keyInterval{start: key}, nil
	case bytes.Compare(rangeEnd, key) <= 0:
		return keyInterval{}, fmt.Errorf("%w: range end %q not after key %q", ErrInvalid, rangeEnd, key)
	default:
		return keyInterval{start: key, end: rangeEnd}, nil
	}
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil when there is none (the prefix is empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
