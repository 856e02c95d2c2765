package client

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
	"github.com/raftkube/raftkube/raftnode/snapfile"
)

// scriptedStream replays responses, then io.EOF.
type scriptedStream struct {
	grpc.ClientStream
	msgs []*serverpb.SaveSnapshotResponse
}

func (s *scriptedStream) Recv() (*serverpb.SaveSnapshotResponse, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

// A stream from a member that is malformed, of another version, cut short
// or whose checksum does not match is refused with snapfile's typed error;
// the whole stream is accepted (the control).
func TestReceiveSnapshotRefusesBadStreams(t *testing.T) {
	pm := &serverpb.SnapshotMetadata{Index: 5, Term: 2, ClusterId: 7, MemberId: 9, FormatVersion: snapfile.FormatVersion,
		Configuration: &serverpb.Configuration{}}
	data := []byte("state machine bytes")
	// The checksum the member computes: the whole file, as this client writes it.
	fw, err := snapfile.NewWriter(io.Discard, snapfile.MetadataFromProto(pm))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := fw.Sum()

	meta := func(p *serverpb.SnapshotMetadata) *serverpb.SaveSnapshotResponse {
		return &serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Metadata{Metadata: p}}
	}
	chunk := &serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Data{Data: data}}
	trailer := func(sha []byte, n uint64) *serverpb.SaveSnapshotResponse {
		return &serverpb.SaveSnapshotResponse{Part: &serverpb.SaveSnapshotResponse_Trailer{Trailer: &serverpb.SnapshotTrailer{Sha256: sha, DataBytes: n}}}
	}
	otherVersion := proto.CloneOf(pm)
	otherVersion.FormatVersion++
	for _, tc := range []struct {
		name string
		msgs []*serverpb.SaveSnapshotResponse
		want error
	}{
		{"whole", []*serverpb.SaveSnapshotResponse{meta(pm), chunk, trailer(sum[:], uint64(len(data)))}, nil},
		{"no metadata first", []*serverpb.SaveSnapshotResponse{chunk, chunk}, snapfile.ErrCorrupt},
		{"another format version", []*serverpb.SaveSnapshotResponse{meta(otherVersion), chunk}, snapfile.ErrUnsupportedVersion},
		{"ends without a trailer", []*serverpb.SaveSnapshotResponse{meta(pm), chunk}, snapfile.ErrTruncated},
		{"another checksum", []*serverpb.SaveSnapshotResponse{meta(pm), chunk, trailer(make([]byte, len(sum)), uint64(len(data)))}, snapfile.ErrChecksumMismatch},
		{"another data size", []*serverpb.SaveSnapshotResponse{meta(pm), chunk, trailer(sum[:], uint64(len(data))+1)}, snapfile.ErrChecksumMismatch},
		{"metadata twice", []*serverpb.SaveSnapshotResponse{meta(pm), meta(pm)}, snapfile.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := receiveSnapshot(tc.msgs[0], &scriptedStream{msgs: tc.msgs[1:]}, io.Discard)
			if !errors.Is(err, tc.want) {
				t.Fatalf("receiveSnapshot = %v, want %v", err, tc.want)
			}
			if tc.want == nil && (info.SHA256 != sum || info.DataBytes != int64(len(data)) || info.Metadata.Index != 5) {
				t.Errorf("info = %+v, want the stream's checksum, size and index", info)
			}
		})
	}
}
