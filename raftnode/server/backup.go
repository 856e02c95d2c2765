package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/kv"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// sendBufferBytes is the size of the data pieces SaveSnapshot sends: large
// enough that per-message costs vanish, well under gRPC's 4 MiB default
// receive limit.
const sendBufferBytes = 512 << 10

// pointInTime is the state machine cloned at one applied index, with what
// the snapshot's metadata says of it.
type pointInTime struct {
	store   *kv.Store
	meta    *serverpb.SnapshotMetadata
	started time.Time
}

// SaveSnapshot streams a consistent snapshot (see the Admin service).
func (a *adminService) SaveSnapshot(_ *serverpb.SaveSnapshotRequest, stream serverpb.Admin_SaveSnapshotServer) error {
	return a.s.saveSnapshot(stream.Context(), stream.Send)
}

// saveSnapshot waits for a linearizable point, clones the store there on the
// loop, and streams the clone with send off the loop: writes are held up
// only for the clone.
func (s *Server) saveSnapshot(ctx context.Context, send func(*serverpb.SaveSnapshotResponse) error) error {
	if s.removed.Load() {
		return errRemoved
	}
	if !s.inConfig.Load() {
		return s.notMember()
	}
	if err := s.linearize(ctx, serverpb.Consistency_CONSISTENCY_LINEARIZABLE); err != nil {
		return err
	}
	var (
		pt  *pointInTime
		err error
	)
	if lerr := s.inLoop(ctx, func() { pt, err = s.clonePoint() }); lerr != nil {
		return lerr
	}
	if err != nil {
		return snapshotStatus(err)
	}
	size, err := streamSnapshot(pt, send)
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
		return status.Error(codes.Internal, err.Error())
	}
	s.log.Info("snapshot saved by a client", "index", pt.meta.GetIndex(), "term", pt.meta.GetTerm(),
		"bytes", size, "took", time.Since(pt.started).Round(time.Millisecond))
	return nil
}

// clonePoint runs on the loop: the store's copy-on-write clone (O(1)) and the
// configuration and members in force at its applied index.
func (s *Server) clonePoint() (*pointInTime, error) {
	started := time.Now()
	store, applied, term, err := s.cloneApplied()
	if err != nil {
		return nil, err
	}
	cfg := s.configuration(s.confState)
	cfg.Removed = nil // the ids of this cluster; a cluster founded from it has its own
	return &pointInTime{store: store, started: started, meta: &serverpb.SnapshotMetadata{
		Index: applied, Term: term, ClusterId: s.clusterID.Load(), MemberId: s.id,
		CreatedUnixNanos: started.UnixNano(), Configuration: cfg,
		FormatVersion: snapfile.FormatVersion, DataFormatVersion: kv.SnapshotFormatVersion,
	}}, nil
}

// streamSnapshot sends pt's metadata, its store as a kv snapshot stream in
// pieces, and the checksum of the snapfile they make; it returns the file's
// size.
func streamSnapshot(pt *pointInTime, send func(*serverpb.SaveSnapshotResponse) error) (int64, error) {
	fw, err := snapfile.NewWriter(io.Discard, snapfile.MetadataFromProto(pt.meta))
	if err != nil {
		return 0, err
	}
	if err := send(&serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Metadata{Metadata: pt.meta}}); err != nil {
		return 0, fmt.Errorf("send snapshot metadata: %w", err)
	}
	sw := &sendWriter{fw: fw, send: send}
	bw := bufio.NewWriterSize(sw, sendBufferBytes)
	if err := pt.store.WriteSnapshot(bw); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("send snapshot data: %w", err)
	}
	if err := fw.Close(); err != nil {
		return 0, err
	}
	sum := fw.Sum()
	trailer := &serverpb.SnapshotTrailer{Sha256: sum[:], DataBytes: sw.n}
	if err := send(&serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Trailer{Trailer: trailer}}); err != nil {
		return 0, fmt.Errorf("send snapshot trailer: %w", err)
	}
	return fw.Size(), nil
}

// sendWriter sends what is written to it as data pieces, and feeds the
// snapfile writer that computes the checksum.
type sendWriter struct {
	fw   *snapfile.Writer
	send func(*serverpb.SaveSnapshotResponse) error
	n    uint64
}

func (w *sendWriter) Write(p []byte) (int, error) {
	if _, err := w.fw.Write(p); err != nil {
		return 0, err
	}
	// Send marshals p before it returns, so the caller may reuse it.
	if err := w.send(&serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Data{Data: p}}); err != nil {
		return 0, err
	}
	w.n += uint64(len(p))
	return len(p), nil
}
