package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftkube/raftkube/internal/backupresult"
	"github.com/raftkube/raftkube/internal/backupstore"
	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// The S3 credentials come from the environment only: flags would show in
// `ps` and in pod specs.
const (
	envAccessKey    = "AWS_ACCESS_KEY_ID"
	envSecretKey    = "AWS_SECRET_ACCESS_KEY"
	envSessionToken = "AWS_SESSION_TOKEN"
)

// backupCommand groups save, fetch and list: the commands the operator's
// backup and restore pods run.
func (a *app) backupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Save snapshots to a volume or S3, fetch them for a restore, list them",
		Long: "Storage is a directory (--dir, on a mounted volume) or an S3 bucket (--s3-endpoint, --s3-bucket); " +
			"S3 credentials come from the environment: " + envAccessKey + ", " + envSecretKey + " and, optionally, " + envSessionToken + ".",
	}
	cmd.AddCommand(a.backupSaveCommand(), a.backupFetchCommand(), a.backupListCommand())
	return cmd
}

// storageFlags say where backups live: --dir or --s3-endpoint.
type storageFlags struct {
	dir, volumeName                          string
	s3Endpoint, s3Bucket, s3Region, s3CAFile string
}

func (sf *storageFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.dir, "dir", "", "store backups in this directory (a mounted volume's root)")
	f.StringVar(&sf.volumeName, "volume-name", "", "the volume's name in locations, volume://NAME/KEY (default: --dir)")
	f.StringVar(&sf.s3Endpoint, "s3-endpoint", "", "store backups in S3 at this URL, https://HOST:PORT or http://HOST:PORT (HOST:PORT means https)")
	f.StringVar(&sf.s3Bucket, "s3-bucket", "", "the S3 bucket")
	f.StringVar(&sf.s3Region, "s3-region", "", "the S3 region (default "+backupstore.DefaultRegion+")")
	f.StringVar(&sf.s3CAFile, "s3-ca-file", "", "a PEM bundle of CAs to trust for S3, beside the system's roots")
}

// open returns the store the flags name and a function that releases it.
// Errors wrap backupstore.ErrInvalidConfig.
func (sf *storageFlags) open() (backupstore.Store, func(), error) {
	switch {
	case sf.dir != "" && sf.s3Endpoint != "":
		return nil, nil, fmt.Errorf("%w: --dir and --s3-endpoint both given: pick one storage", backupstore.ErrInvalidConfig)
	case sf.dir != "":
		if sf.s3Bucket != "" || sf.s3Region != "" || sf.s3CAFile != "" {
			return nil, nil, fmt.Errorf("%w: --s3-* flags without --s3-endpoint", backupstore.ErrInvalidConfig)
		}
		return backupstore.NewDir(sf.dir, sf.volumeName), func() {}, nil
	case sf.s3Endpoint != "":
		if sf.volumeName != "" {
			return nil, nil, fmt.Errorf("%w: --volume-name without --dir", backupstore.ErrInvalidConfig)
		}
		s, err := backupstore.NewS3(backupstore.S3Options{
			Endpoint: sf.s3Endpoint, Bucket: sf.s3Bucket, Region: sf.s3Region, CAFile: sf.s3CAFile,
			AccessKey: os.Getenv(envAccessKey), SecretKey: os.Getenv(envSecretKey), SessionToken: os.Getenv(envSessionToken),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w (credentials come from %s and %s)", err, envAccessKey, envSecretKey)
		}
		return s, s.Close, nil
	}
	return nil, nil, fmt.Errorf("%w: no storage: give --dir or --s3-endpoint", backupstore.ErrInvalidConfig)
}

// saveOptions are backup save's own flags.
type saveOptions struct {
	key, spoolDir, prunePrefix, resultFile string
	keep                                   int
	maxAge, timeout                        time.Duration
}

func (a *app) backupSaveCommand() *cobra.Command {
	var (
		sf   storageFlags
		opts saveOptions
	)
	cmd := &cobra.Command{
		Use:   "save --key KEY",
		Short: "Save a consistent snapshot of the cluster's state to storage under KEY, then apply retention",
		Long: "Save streams the state from a follower (the leader when none answers) into a spool file, checks its checksum, and stores it whole under KEY: " +
			"with --dir the spool file is a temporary file in KEY's directory, renamed into place; with S3 it is a file in --spool-dir, uploaded and removed. " +
			"With --prune-prefix it then deletes the backups under that prefix (keys ending .snap) beyond the newest --keep and older than --max-age, " +
			"never KEY nor the newest; a failed retention fails the command, but the result still names the stored backup. " +
			"With --result-file it writes what happened, success or failure, as JSON of at most 3500 bytes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := a.backupSave(cmd, &sf, opts)
			if err != nil {
				res.Error = &backupresult.ResultError{Reason: backupstore.Reason(err), Message: err.Error()}
			}
			if opts.resultFile != "" {
				if werr := os.WriteFile(opts.resultFile, res.Encode(), 0o644); werr != nil {
					err = errors.Join(err, fmt.Errorf("write the result: %w", werr))
				}
			}
			if err != nil {
				return err
			}
			return a.emit(res, [][]string{
				{"KEY", "LOCATION", "INDEX", "TERM", "SIZE", "SHA256", "PRUNED", "TOOK"},
				{res.Key, res.Location, u(res.Index), u(res.Term), i(res.Size), res.SHA256, fmt.Sprint(res.PrunedCount),
					(time.Duration(res.Seconds * float64(time.Second))).Round(time.Millisecond).String()},
			})
		},
	}
	f := cmd.Flags()
	sf.register(f)
	f.StringVar(&opts.key, "key", "", "the backup's key, as PREFIX/NAME.snap (required)")
	f.StringVar(&opts.spoolDir, "spool-dir", "", "where the snapshot is spooled before an S3 upload (default: the system's temp dir)")
	f.StringVar(&opts.prunePrefix, "prune-prefix", "", "after the save, apply retention to the backups under this prefix")
	f.IntVar(&opts.keep, "keep", 0, "retention: keep the newest N backups (0: no count limit)")
	f.DurationVar(&opts.maxAge, "max-age", 0, "retention: delete backups older than this (0: no age limit)")
	f.StringVar(&opts.resultFile, "result-file", "", "write the result as JSON to this file, success or failure (such as /dev/termination-log)")
	f.DurationVar(&opts.timeout, "timeout", time.Hour, "how long the whole save may take (instead of --command-timeout)")
	return cmd
}

// backupSave saves the snapshot and prunes; the Result holds what was
// done, also when it fails part way.
func (a *app) backupSave(cmd *cobra.Command, sf *storageFlags, opts saveOptions) (backupresult.Result, error) {
	res := backupresult.Result{Key: opts.key}
	if err := checkSaveOptions(cmd, opts); err != nil {
		return res, err
	}
	store, closeStore, err := sf.open()
	if err != nil {
		return res, err
	}
	defer closeStore()
	res.Location = store.Location(opts.key)
	if err := a.checkClientConfig(); err != nil {
		return res, err
	}
	start := time.Now()
	err = a.withClientTimeout(cmd, opts.timeout, func(ctx context.Context, c *client.Client) error {
		info, err := storeSnapshot(ctx, c, store, opts.key, opts.spoolDir)
		if err != nil {
			return err
		}
		m := info.Metadata
		res.Size, res.Index, res.Term = info.Size, m.Index, m.Term
		res.ClusterID, res.Member, res.SHA256 = hexID(m.ClusterID), hexID(m.MemberID), hex.EncodeToString(info.SHA256[:])
		res.Seconds = time.Since(start).Round(time.Millisecond).Seconds()
		if opts.prunePrefix == "" {
			return nil
		}
		pruned, err := backupstore.Prune(ctx, store, opts.prunePrefix, opts.keep, opts.maxAge, time.Now(), opts.key)
		res.Pruned, res.PrunedCount = pruned, len(pruned)
		if err != nil {
			return fmt.Errorf("the backup is stored as %s, but retention failed: %w", res.Location, err)
		}
		return nil
	})
	return res, err
}

// checkSaveOptions refuses flags that cannot work, before any work.
func checkSaveOptions(cmd *cobra.Command, opts saveOptions) error {
	if opts.key == "" {
		return fmt.Errorf("%w: --key is required", backupstore.ErrInvalidConfig)
	}
	if err := backupstore.ValidateKey(opts.key); err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	switch {
	case opts.keep < 0:
		return fmt.Errorf("%w: --keep %d is negative", backupstore.ErrInvalidConfig, opts.keep)
	case opts.maxAge < 0:
		return fmt.Errorf("%w: --max-age %s is negative", backupstore.ErrInvalidConfig, opts.maxAge)
	case opts.prunePrefix == "" && (cmd.Flags().Changed("keep") || cmd.Flags().Changed("max-age")):
		return fmt.Errorf("%w: --keep and --max-age need --prune-prefix", backupstore.ErrInvalidConfig)
	}
	return nil
}

// checkClientConfig refuses global flags that cannot reach any member.
func (a *app) checkClientConfig() error {
	if len(a.endpointList()) == 0 {
		return fmt.Errorf("%w: no --endpoints", backupstore.ErrInvalidConfig)
	}
	if _, err := a.tlsConfig(); err != nil {
		return fmt.Errorf("%w: %w", backupstore.ErrInvalidConfig, err)
	}
	return nil
}

// storeSnapshot saves the cluster's snapshot under key. A Dir gets it in a
// temporary file beside key's, renamed into place: no second copy. Any
// other store gets it from a spool file in spoolDir, removed afterwards.
func storeSnapshot(ctx context.Context, c *client.Client, store backupstore.Store, key, spoolDir string) (*client.SnapshotInfo, error) {
	if dir, ok := store.(*backupstore.Dir); ok {
		p, err := dir.Create(ctx, key)
		if err != nil {
			return nil, err
		}
		defer p.Abort()
		info, err := saveTo(ctx, c, p.File)
		if err != nil {
			return nil, err
		}
		return info, p.Commit()
	}
	spool, err := os.CreateTemp(spoolDir, "raftctl-backup-*.snap")
	if err != nil {
		return nil, fmt.Errorf("spool the snapshot: %w", err)
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	info, err := saveTo(ctx, c, spool)
	if err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool the snapshot: %w", err)
	}
	if err := store.Put(ctx, key, spool, info.Size); err != nil {
		return nil, err
	}
	return info, nil
}

// saveTo streams a snapshot (from a follower) into f, buffered.
func saveTo(ctx context.Context, c *client.Client, f *os.File) (*client.SnapshotInfo, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	info, err := c.SaveSnapshot(ctx, "", bw)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("save snapshot: write %s: %w", f.Name(), err)
	}
	return info, nil
}

// fetched is the output of backup fetch.
type fetched struct {
	File string `json:"file"`
	Key  string `json:"key,omitempty"`
	// Action is "fetched", "present" (a verified FILE was there) or
	// "skipped" (this member founds no cluster from it); Why says why.
	Action    string `json:"action"`
	Why       string `json:"why,omitempty"`
	Location  string `json:"location,omitempty"`
	Index     uint64 `json:"index,omitempty"`
	Term      uint64 `json:"term,omitempty"`
	ClusterID string `json:"cluster_id,omitempty"`
	Size      int64  `json:"size,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

func (a *app) backupFetchCommand() *cobra.Command {
	var (
		sf                                      storageFlags
		key, to, name, bootstrapMember, dataDir string
		timeout                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "fetch --key KEY --to FILE",
		Short: "Download a backup to FILE for raftnode --restore-from, verified whole",
		Long: "Fetch runs before a restored cluster's member starts. It does nothing when --bootstrap-member is given and is not --name " +
			"(only the bootstrap member restores; the others join it), when --data-dir holds a member already, or when FILE is a whole, verified snapshot. " +
			"Otherwise it downloads KEY to FILE.tmp-*, verifies the snapshot file (format and checksum), syncs it and renames it to FILE; " +
			"a bad object is refused and leaves no FILE.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || to == "" {
				return fmt.Errorf("%w: --key and --to are required", backupstore.ErrInvalidConfig)
			}
			out := fetched{File: to, Key: key}
			why, err := fetchSkipReason(cmd.Flags().Changed("bootstrap-member"), name, bootstrapMember, dataDir)
			if err != nil {
				return err
			}
			if why != "" {
				out.Action, out.Why = "skipped", why
				return a.emitFetched(out)
			}
			if info, err := verifySnapshotFile(to); err == nil {
				out.Action, out.Why = "present", to+" is a whole snapshot already"
				return a.emitFetched(describeFetched(out, info))
			}
			store, closeStore, err := sf.open()
			if err != nil {
				return err
			}
			defer closeStore()
			ctx, cancel := context.WithTimeout(cmdContext(cmd), timeout)
			defer cancel()
			info, err := fetchFile(ctx, store, key, to)
			if err != nil {
				return err
			}
			out.Action, out.Location = "fetched", store.Location(key)
			return a.emitFetched(describeFetched(out, info))
		},
	}
	f := cmd.Flags()
	sf.register(f)
	f.StringVar(&key, "key", "", "the backup's key (required)")
	f.StringVar(&to, "to", "", "the file to write, as raftnode --restore-from reads it (required)")
	f.StringVar(&name, "name", "", "this member's name")
	f.StringVar(&bootstrapMember, "bootstrap-member", "", "the name of the member that restores; given and not --name: nothing to fetch")
	f.StringVar(&dataDir, "data-dir", "", "this member's data dir: when it holds a member, nothing to fetch")
	f.DurationVar(&timeout, "timeout", time.Hour, "how long the download may take")
	return cmd
}

// fetchSkipReason says why this member needs no backup, "" when it does.
func fetchSkipReason(bootstrapGiven bool, name, bootstrapMember, dataDir string) (string, error) {
	if bootstrapGiven && bootstrapMember != name {
		return fmt.Sprintf("nothing to fetch: member %q is not the bootstrap member %q, it joins the restored cluster", name, bootstrapMember), nil
	}
	if dataDir == "" {
		return "", nil
	}
	// A member still waiting to be added has accepted nothing: raftnode
	// founds the restored cluster over it, so it needs the snapshot.
	inUse, err := server.DataDirInUse(dataDir)
	if err != nil {
		return "", fmt.Errorf("look for a member in %s: %w", dataDir, err)
	}
	if inUse {
		return fmt.Sprintf("nothing to fetch: %s holds a member already", dataDir), nil
	}
	return "", nil
}

func describeFetched(out fetched, info snapfile.Info) fetched {
	out.Index, out.Term, out.ClusterID = info.Metadata.Index, info.Metadata.Term, hexID(info.Metadata.ClusterID)
	out.Size, out.SHA256 = info.Size, hex.EncodeToString(info.SHA256[:])
	return out
}

func (a *app) emitFetched(out fetched) error {
	if a.output != "json" && out.Why != "" {
		_, err := fmt.Fprintln(a.out, out.Why)
		return err
	}
	return a.emit(out, [][]string{
		{"FILE", "ACTION", "LOCATION", "INDEX", "TERM", "SIZE", "SHA256"},
		{out.File, out.Action, out.Location, u(out.Index), u(out.Term), i(out.Size), out.SHA256},
	})
}

// fetchFile downloads key into a temporary file beside path while
// verifying it, syncs it, renames it to path and syncs the directory: path
// is a whole, verified snapshot or left as it was.
func fetchFile(ctx context.Context, store backupstore.Store, key, path string) (info snapfile.Info, err error) {
	r, err := store.Get(ctx, key)
	if err != nil {
		return info, fmt.Errorf("fetch: %w", err)
	}
	defer r.Close()
	var verifyErr error
	err = writeFileAtomic(path, func(w io.Writer) error {
		// Verify reads the object to its end, through the file.
		info, verifyErr = snapfile.Verify(io.TeeReader(r, w))
		return verifyErr
	})
	switch {
	case verifyErr != nil:
		return info, fmt.Errorf("fetch %s: %w", store.Location(key), verifyErr)
	case err != nil:
		return info, fmt.Errorf("fetch: %w", err)
	}
	return info, nil
}

// writeFileAtomic has fill write path's content, buffered, into a temporary
// file beside path (named after it, .tmp-*), syncs it, renames it to path
// and syncs the directory: path holds all fill wrote or is left as it was.
// fill's error comes back as it is.
func writeFileAtomic(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if err = backupstore.SyncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// listedBackup is one row of backup list.
type listedBackup struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

func (a *app) backupListCommand() *cobra.Command {
	var (
		sf      storageFlags
		prefix  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the objects in storage under --prefix, by key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, closeStore, err := sf.open()
			if err != nil {
				return err
			}
			defer closeStore()
			ctx, cancel := context.WithTimeout(cmdContext(cmd), timeout)
			defer cancel()
			objs, err := store.List(ctx, prefix)
			if err != nil {
				return err
			}
			rows := [][]string{{"KEY", "SIZE", "MODIFIED"}}
			list := make([]listedBackup, 0, len(objs))
			for _, o := range objs {
				list = append(list, listedBackup{Key: o.Key, Size: o.Size, Modified: o.Modified.UTC()})
				rows = append(rows, []string{o.Key, i(o.Size), o.Modified.UTC().Format(time.RFC3339)})
			}
			return a.emit(list, rows)
		},
	}
	f := cmd.Flags()
	sf.register(f)
	f.StringVar(&prefix, "prefix", "", "list only keys that start with this")
	f.DurationVar(&timeout, "timeout", time.Minute, "how long the listing may take")
	return cmd
}
