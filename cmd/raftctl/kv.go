package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/kv/kvpb"
)

// keyValue is the JSON form of a key; keys and values are shown as strings.
type keyValue struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	CreateIndex uint64 `json:"create_index"`
	ModIndex    uint64 `json:"mod_index"`
	Version     int64  `json:"version"`
}

func toKeyValue(kv *kvpb.KeyValue) keyValue {
	return keyValue{Key: string(kv.GetKey()), Value: string(kv.GetValue()), CreateIndex: kv.GetCreateIndex(),
		ModIndex: kv.GetModIndex(), Version: kv.GetVersion()}
}

var kvHeader = []string{"KEY", "VALUE", "CREATE_INDEX", "MOD_INDEX", "VERSION"}

func kvRow(kv keyValue) []string {
	return []string{kv.Key, kv.Value, u(kv.CreateIndex), u(kv.ModIndex), i(kv.Version)}
}

// writeResult is the JSON form of a write's outcome.
type writeResult struct {
	Succeeded    bool      `json:"succeeded"`
	ModIndex     uint64    `json:"mod_index"`
	AppliedIndex uint64    `json:"applied_index"`
	Deleted      int64     `json:"deleted"`
	Prev         *keyValue `json:"prev,omitempty"`
}

func toWriteResult(r *kvpb.Result) writeResult {
	w := writeResult{Succeeded: r.GetSucceeded(), ModIndex: r.GetModIndex(), AppliedIndex: r.GetAppliedIndex(), Deleted: r.GetDeleted()}
	if r.GetPrev() != nil {
		p := toKeyValue(r.GetPrev())
		w.Prev = &p
	}
	return w
}

func (a *app) emitResult(w writeResult) error {
	return a.emit(w, [][]string{
		{"SUCCEEDED", "MOD_INDEX", "APPLIED_INDEX", "DELETED"},
		{strconv.FormatBool(w.Succeeded), u(w.ModIndex), u(w.AppliedIndex), i(w.Deleted)},
	})
}

func (a *app) putCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key (not retried once sent: see raftnode/client)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.Put(ctx, []byte(args[0]), []byte(args[1]))
				if err != nil {
					return err
				}
				return a.emitResult(toWriteResult(r))
			})
		},
	}
}

func (a *app) getCommand() *cobra.Command {
	var serializable bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key; exits 1 when it does not exist",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.ReadOption
			if serializable {
				opts = append(opts, client.Serializable())
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				kv, ok, err := c.Get(ctx, []byte(args[0]), opts...)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("key %q not found", args[0])
				}
				v := toKeyValue(kv)
				return a.emit(v, [][]string{kvHeader, kvRow(v)})
			})
		},
	}
	cmd.Flags().BoolVar(&serializable, "serializable", false, "read the answering member's state, possibly stale")
	return cmd
}

// interval holds the --prefix and --range-end flags shared by del and range.
type interval struct {
	prefix   bool
	rangeEnd string
}

func (iv *interval) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&iv.prefix, "prefix", false, "every key starting with KEY")
	cmd.Flags().StringVar(&iv.rangeEnd, "range-end", "", `keys in [KEY, RANGE_END); "\x00" for every key >= KEY`)
	cmd.MarkFlagsMutuallyExclusive("prefix", "range-end")
}

// options returns the options of the interval, usable as either kind.
func (iv *interval) options() []interface {
	client.DeleteOption
	client.RangeOption
} {
	var opts []interface {
		client.DeleteOption
		client.RangeOption
	}
	if iv.prefix {
		opts = append(opts, client.WithPrefix())
	}
	if iv.rangeEnd != "" {
		end := []byte(iv.rangeEnd)
		if iv.rangeEnd == `\x00` {
			end = []byte{0}
		}
		opts = append(opts, client.WithRange(end))
	}
	return opts
}

func (a *app) delCommand() *cobra.Command {
	var iv interval
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete a key, a prefix or a key interval (not retried once sent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.DeleteOption
			for _, o := range iv.options() {
				opts = append(opts, o)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.Delete(ctx, []byte(args[0]), opts...)
				if err != nil {
					return err
				}
				return a.emitResult(toWriteResult(r))
			})
		},
	}
	iv.register(cmd)
	return cmd
}

// rangeResult is the JSON form of range.
type rangeResult struct {
	KVs   []keyValue `json:"kvs"`
	Count int64      `json:"count"`
	More  bool       `json:"more"`
}

func (a *app) rangeCommand() *cobra.Command {
	var (
		iv           interval
		limit        int64
		serializable bool
	)
	cmd := &cobra.Command{
		Use:   "range KEY",
		Short: "Read a key, a prefix or a key interval in key order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := []client.RangeOption{client.WithLimit(limit)}
			for _, o := range iv.options() {
				opts = append(opts, o)
			}
			if serializable {
				opts = append(opts, client.Serializable())
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				rr, err := c.Range(ctx, []byte(args[0]), opts...)
				if err != nil {
					return err
				}
				res := rangeResult{KVs: []keyValue{}, Count: rr.GetCount(), More: rr.GetMore()}
				rows := [][]string{kvHeader}
				for _, kv := range rr.GetKvs() {
					v := toKeyValue(kv)
					res.KVs = append(res.KVs, v)
					rows = append(rows, kvRow(v))
				}
				return a.emit(res, rows)
			})
		},
	}
	iv.register(cmd)
	cmd.Flags().Int64Var(&limit, "limit", 0, "return at most this many keys (0: all)")
	cmd.Flags().BoolVar(&serializable, "serializable", false, "read the answering member's state, possibly stale")
	return cmd
}

// errCompareFailed makes cas exit 1 after printing its result.
var errCompareFailed = errors.New("compare failed")

func (a *app) casCommand() *cobra.Command {
	var (
		expectValue    string
		expectModIndex uint64
		del            bool
	)
	cmd := &cobra.Command{
		Use:   "cas KEY NEWVALUE",
		Short: "Compare and swap: write (or --delete) KEY only if it matches the expectation; exits 1 when it does not",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cas := &kvpb.CompareAndSwap{Key: []byte(args[0]), Delete: del}
			switch {
			case len(args) == 2 && del:
				return errors.New("cas: NEWVALUE and --delete are exclusive")
			case len(args) == 1 && !del:
				return errors.New("cas: NEWVALUE is required without --delete")
			case len(args) == 2:
				cas.Value = []byte(args[1])
			}
			switch {
			case cmd.Flags().Changed("expect-value"):
				cas.Expected = &kvpb.CompareAndSwap_ExpectedValue{ExpectedValue: []byte(expectValue)}
			case cmd.Flags().Changed("expect-mod-index"):
				cas.Expected = &kvpb.CompareAndSwap_ExpectedModIndex{ExpectedModIndex: expectModIndex}
			default:
				return errors.New("cas: one of --expect-value or --expect-mod-index is required")
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				r, err := c.CompareAndSwap(ctx, cas)
				if err != nil {
					return err
				}
				if err := a.emitResult(toWriteResult(r)); err != nil {
					return err
				}
				if !r.GetSucceeded() {
					return fmt.Errorf("%w: %q has mod_index %d", errCompareFailed, args[0], r.GetModIndex())
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&expectValue, "expect-value", "", "the key must exist with this value")
	cmd.Flags().Uint64Var(&expectModIndex, "expect-mod-index", 0, "the key's mod_index must be this (0: must not exist)")
	cmd.Flags().BoolVar(&del, "delete", false, "delete the key instead of writing NEWVALUE")
	cmd.MarkFlagsMutuallyExclusive("expect-value", "expect-mod-index")
	return cmd
}
