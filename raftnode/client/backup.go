package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// SnapshotInfo describes a snapshot SaveSnapshot wrote.
type SnapshotInfo struct {
	// Endpoint is the member that took it.
	Endpoint string
	Metadata snapfile.Metadata
	// Size is the number of bytes written, DataBytes the state machine's.
	Size, DataBytes int64
	// SHA256 is the file's checksum (its trailer), as the member computed it.
	SHA256 [sha256.Size]byte
}

// SaveSnapshot streams a consistent snapshot of the cluster's state (Admin
// SaveSnapshot) into w as a raftnode/snapfile file, and checks that the
// file's checksum is the one the member computed. With endpoint "" a
// follower takes it, the leader only when no follower answers: streaming a
// large store costs CPU and disk that the leader's writes need (on a 2-core
// machine, p99 put latency during saves was 31 ms from the leader, 7 ms from
// a follower; docs/benchmarks.md). Otherwise endpoint, one of
// Config.Endpoints, does. The next member is tried only while nothing
// was written to w. The stream is not bounded by Config.RequestTimeout (a
// large store takes long): bound it with ctx.
//
// A stream that ends early returns an error wrapping snapfile.ErrTruncated; a
// checksum that differs, snapfile.ErrChecksumMismatch. Either way w holds a
// partial or bad file, which the caller discards.
func (c *Client) SaveSnapshot(ctx context.Context, endpoint string, w io.Writer) (*SnapshotInfo, error) {
	const method = "Admin.SaveSnapshot"
	eps := []string{endpoint}
	if endpoint == "" {
		eps = c.followersFirst(ctx)
	} else if _, ok := c.conns[endpoint]; !ok {
		return nil, &Error{Method: method, Endpoint: endpoint, Code: codes.InvalidArgument, Kind: ErrInvalidArgument,
			Err: fmt.Errorf("%q is not a configured endpoint", endpoint)}
	}
	var last *Error
	for _, ep := range eps {
		cc, err := c.ready(ctx, ep)
		if err != nil {
			last = notSentError(method, ep, err)
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return nil, last
			}
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		stream, err := serverpb.NewAdminClient(cc).SaveSnapshot(sctx, &serverpb.SaveSnapshotRequest{})
		var first *serverpb.SaveSnapshotResponse
		if err == nil {
			first, err = stream.Recv()
		}
		if err != nil {
			cancel()
			last = sentError(method, ep, err, false)
			if ctx.Err() != nil || !retryableRead(last) {
				return nil, last
			}
			c.suspect(ep)
			continue
		}
		info, err := receiveSnapshot(first, stream, w)
		cancel()
		if err != nil {
			// The member's and the connection's failures are a gRPC
			// status; a bad stream and w's own failures are not.
			if _, isStatus := status.FromError(err); isStatus {
				err = sentError(method, ep, err, false)
			}
			return nil, err
		}
		info.Endpoint = ep
		return info, nil
	}
	if last == nil {
		return nil, &Error{Method: method, Code: codes.Unavailable, Kind: ErrUnavailable, Err: errors.New("no endpoints")}
	}
	return nil, last
}

// receiveSnapshot writes the stream that began with first into w.
func receiveSnapshot(first *serverpb.SaveSnapshotResponse, stream serverpb.Admin_SaveSnapshotClient, w io.Writer) (*SnapshotInfo, error) {
	pm := first.GetMetadata()
	if pm == nil {
		return nil, fmt.Errorf("save snapshot: %w: the stream did not start with metadata", snapfile.ErrCorrupt)
	}
	if pm.GetFormatVersion() != snapfile.FormatVersion {
		return nil, fmt.Errorf("save snapshot: %w: the member writes version %d, this client %d",
			snapfile.ErrUnsupportedVersion, pm.GetFormatVersion(), snapfile.FormatVersion)
	}
	meta := snapfile.MetadataFromProto(pm)
	fw, err := snapfile.NewWriter(w, meta)
	if err != nil {
		return nil, err
	}
	var data int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("save snapshot: %w: the stream ended without a trailer", snapfile.ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
		switch p := msg.GetPart().(type) {
		case *serverpb.SaveSnapshotResponse_Data:
			if _, err := fw.Write(p.Data); err != nil {
				return nil, fmt.Errorf("save snapshot: %w", err)
			}
			data += int64(len(p.Data))
		case *serverpb.SaveSnapshotResponse_Trailer:
			if err := fw.Close(); err != nil {
				return nil, fmt.Errorf("save snapshot: %w", err)
			}
			sum := fw.Sum()
			if got := p.Trailer.GetSha256(); string(got) != string(sum[:]) || p.Trailer.GetDataBytes() != uint64(data) {
				return nil, fmt.Errorf("save snapshot: %w: the member computed %x over %d data bytes, this client %x over %d",
					snapfile.ErrChecksumMismatch, got, p.Trailer.GetDataBytes(), sum, data)
			}
			return &SnapshotInfo{Metadata: meta, Size: fw.Size(), DataBytes: data, SHA256: sum}, nil
		default:
			return nil, fmt.Errorf("save snapshot: %w: unexpected %T in the stream", snapfile.ErrCorrupt, p)
		}
	}
}

// followersFirst is every configured endpoint, the leader's last: it asks
// them all for their status to learn which one leads.
func (c *Client) followersFirst(ctx context.Context) []string {
	_, _ = c.ClusterStatus(ctx) // failures: the order stays as configured
	c.mu.Lock()
	lead := c.leaderEndpointLocked()
	c.mu.Unlock()
	eps := make([]string, 0, len(c.cfg.Endpoints)+1)
	for _, ep := range c.cfg.Endpoints {
		if ep != lead {
			eps = append(eps, ep)
		}
	}
	if lead != "" {
		eps = append(eps, lead)
	}
	return eps
}
