package snapfile

import (
	"slices"
	"time"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// MetadataFromProto is the metadata of the file that an Admin SaveSnapshot
// stream with metadata m makes: the member computes its trailer's checksum
// over it, and a client writing the stream to a file writes it.
func MetadataFromProto(m *serverpb.SnapshotMetadata) Metadata {
	cfg := m.GetConfiguration()
	meta := Metadata{
		Index: m.GetIndex(), Term: m.GetTerm(), ClusterID: m.GetClusterId(), MemberID: m.GetMemberId(),
		Created:           time.Unix(0, m.GetCreatedUnixNanos()),
		Voters:            slices.Clone(cfg.GetVoters()),
		VotersOutgoing:    slices.Clone(cfg.GetOutgoingVoters()),
		Learners:          slices.Clone(cfg.GetLearners()),
		LearnersNext:      slices.Clone(cfg.GetLearnersNext()),
		DataFormatVersion: m.GetDataFormatVersion(),
	}
	for _, mb := range cfg.GetMembers() {
		meta.Members = append(meta.Members, Member{ID: mb.GetId(), Name: mb.GetName(),
			PeerAddress: mb.GetPeerAddress(), ClientAddress: mb.GetClientAddress()})
	}
	return meta
}
