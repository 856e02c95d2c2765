package rafttest

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/datadriven"
)

// A command's arguments are positional ("campaign 1": a key without value)
// or options ("prevote=true": a key with one value). Each parser below
// returns an error wrapping ErrBadArgument; the opt* ones leave dest alone
// when the option is absent.

// positionalUint parses the i-th argument as a number: a member id, a
// count or an index.
func positionalUint(td *datadriven.TestData, i int) (uint64, error) {
	if i >= len(td.CmdArgs) || len(td.CmdArgs[i].Vals) != 0 {
		return 0, fmt.Errorf("%w: argument %d: want a number", ErrBadArgument, i+1)
	}
	return parseUint(td.CmdArgs[i].Key)
}

func parseUint(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: want a number", ErrBadArgument, s)
	}
	return v, nil
}

// optValue returns the single value of option key, if given.
func optValue(td *datadriven.TestData, key string) (string, bool, error) {
	arg, ok := td.Arg(key)
	if !ok {
		return "", false, nil
	}
	if len(arg.Vals) != 1 {
		return "", false, fmt.Errorf("%w: %s: want one value, got %d", ErrBadArgument, key, len(arg.Vals))
	}
	return arg.Vals[0], true, nil
}

func optString(td *datadriven.TestData, key string, dest *string) error {
	v, ok, err := optValue(td, key)
	if ok {
		*dest = v
	}
	return err
}

func optUint(td *datadriven.TestData, key string, dest *uint64) error {
	v, ok, err := optValue(td, key)
	if !ok {
		return err
	}
	n, err := parseUint(v)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*dest = n
	return nil
}

// requiredUint is optUint for an option the command cannot do without.
func requiredUint(td *datadriven.TestData, key string, dest *uint64) error {
	if !td.HasArg(key) {
		return fmt.Errorf("%w: missing %s=", ErrBadArgument, key)
	}
	return optUint(td, key, dest)
}

func optInt(td *datadriven.TestData, key string, dest *int) error {
	v, ok, err := optValue(td, key)
	if !ok {
		return err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%w: %s=%s: want a number", ErrBadArgument, key, v)
	}
	*dest = n
	return nil
}

func optBool(td *datadriven.TestData, key string, dest *bool) error {
	v, ok, err := optValue(td, key)
	if !ok {
		return err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%w: %s=%s: want true or false", ErrBadArgument, key, v)
	}
	*dest = b
	return nil
}

// optIDs parses key=(1 2 3) or key=(1,2,3); nil when key is absent.
func optIDs(td *datadriven.TestData, key string) ([]uint64, error) {
	arg, ok := td.Arg(key)
	if !ok {
		return nil, nil
	}
	var ids []uint64
	for _, v := range arg.Vals {
		for _, f := range strings.Fields(v) {
			id, err := parseUint(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// firstErr returns the first non-nil error, so that a handler can parse
// all its options in one statement.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
