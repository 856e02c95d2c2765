package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// snapshotCommand groups save, status and compact. Without a subcommand it
// compacts, as `raftctl snapshot` did before save and status existed.
func (a *app) snapshotCommand() *cobra.Command {
	cmd := a.snapshotCompactCommand()
	cmd.Use = "snapshot"
	cmd.Short = "Save a cluster's state to a file, inspect a file, or make a member compact its log"
	cmd.Long = "Without a subcommand, snapshot is snapshot compact (kept for scripts written before save and status)."
	cmd.AddCommand(a.snapshotSaveCommand(), a.snapshotStatusCommand(), a.snapshotCompactCommand())
	return cmd
}

func (a *app) snapshotCompactCommand() *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Make a member (--endpoint, default the leader) snapshot its state to its own disk and compact its log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.addEndpoint(endpoint)
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				resp, err := c.Snapshot(ctx, endpoint)
				if err != nil {
					return err
				}
				v := struct {
					Member string `json:"member"`
					Index  uint64 `json:"index"`
				}{hexID(resp.GetHeader().GetMemberId()), resp.GetIndex()}
				return a.emit(v, [][]string{{"MEMBER", "INDEX"}, {v.Member, u(v.Index)}})
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the member's client address (default: the leader)")
	return cmd
}

// savedSnapshot is the output of snapshot save.
type savedSnapshot struct {
	File      string  `json:"file"`
	Member    string  `json:"member"`
	Index     uint64  `json:"index"`
	Term      uint64  `json:"term"`
	ClusterID string  `json:"cluster_id"`
	Size      int64   `json:"size"`
	SHA256    string  `json:"sha256"`
	Seconds   float64 `json:"seconds"`
}

func (a *app) snapshotSaveCommand() *cobra.Command {
	var (
		endpoint string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a consistent snapshot of the cluster's state (at a linearizable point) to FILE",
		Long: "Save streams the state from a member (--endpoint, default a follower, so that the leader's writes do not share its CPU and disk with the save) into FILE.tmp-*, " +
			"checks its checksum against the member's, fsyncs it, renames it to FILE (replacing it) and fsyncs the directory.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.addEndpoint(endpoint)
			return a.withClientTimeout(cmd, timeout, func(ctx context.Context, c *client.Client) error {
				start := time.Now()
				info, err := saveSnapshotFile(ctx, c, endpoint, args[0])
				if err != nil {
					return err
				}
				took := time.Since(start)
				v := savedSnapshot{
					File: args[0], Member: hexID(info.Metadata.MemberID), Index: info.Metadata.Index, Term: info.Metadata.Term,
					ClusterID: hexID(info.Metadata.ClusterID), Size: info.Size, SHA256: hex.EncodeToString(info.SHA256[:]),
					Seconds: took.Seconds(),
				}
				return a.emit(v, [][]string{
					{"FILE", "MEMBER", "INDEX", "TERM", "CLUSTER", "SIZE", "SHA256", "TOOK"},
					{v.File, v.Member, u(v.Index), u(v.Term), v.ClusterID, i(v.Size), v.SHA256, took.Round(time.Millisecond).String()},
				})
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the member's client address (default: a follower, else the leader)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Hour, "how long the whole save may take (instead of --command-timeout)")
	return cmd
}

// saveSnapshotFile writes the snapshot to a temp file beside path, syncs it,
// renames it to path and syncs the directory: path holds a whole, verified
// snapshot or is left as it was.
func saveSnapshotFile(ctx context.Context, c *client.Client, endpoint, path string) (*client.SnapshotInfo, error) {
	var (
		info    *client.SnapshotInfo
		saveErr error
	)
	err := writeFileAtomic(path, func(w io.Writer) error {
		info, saveErr = c.SaveSnapshot(ctx, endpoint, w)
		return saveErr
	})
	switch {
	case saveErr != nil:
		return nil, saveErr
	case err != nil:
		return nil, fmt.Errorf("save snapshot: %w", err)
	}
	return info, nil
}

// snapshotStatus is the output of snapshot status.
type snapshotStatus struct {
	File              string            `json:"file"`
	Index             uint64            `json:"index"`
	Term              uint64            `json:"term"`
	ClusterID         string            `json:"cluster_id"`
	Member            string            `json:"member"`
	Created           time.Time         `json:"created"`
	Voters            []string          `json:"voters"`
	Learners          []string          `json:"learners,omitempty"`
	Members           []snapfile.Member `json:"members"`
	FormatVersion     uint32            `json:"format_version"`
	DataFormatVersion uint32            `json:"data_format_version"`
	Size              int64             `json:"size"`
	DataBytes         int64             `json:"data_bytes"`
	SHA256            string            `json:"sha256"`
}

func (a *app) snapshotStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status FILE",
		Short: "Verify a snapshot file whole (format, checksum) and print what it holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			info, err := verifySnapshotFile(args[0])
			if err != nil {
				return err
			}
			m := info.Metadata
			v := snapshotStatus{
				File: args[0], Index: m.Index, Term: m.Term, ClusterID: hexID(m.ClusterID), Member: hexID(m.MemberID),
				Created: m.Created, Voters: hexIDs(m.Voters), Learners: hexIDs(m.Learners), Members: m.Members,
				FormatVersion: snapfile.FormatVersion, DataFormatVersion: m.DataFormatVersion,
				Size: info.Size, DataBytes: info.DataBytes, SHA256: hex.EncodeToString(info.SHA256[:]),
			}
			return a.emit(v, [][]string{
				{"FILE", "INDEX", "TERM", "CLUSTER", "CREATED", "VOTERS", "SIZE", "SHA256"},
				{v.File, u(v.Index), u(v.Term), v.ClusterID, v.Created.Format(time.RFC3339), strings.Join(v.Voters, ","), i(v.Size), v.SHA256},
			})
		},
	}
}

func verifySnapshotFile(path string) (snapfile.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapfile.Info{}, err
	}
	defer f.Close()
	info, err := snapfile.Verify(f)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return snapfile.Info{}, err
		}
		return snapfile.Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}
