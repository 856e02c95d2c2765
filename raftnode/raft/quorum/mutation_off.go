//go:build !raftmutation_nojoint

package quorum

// ignoreOutgoingVoters is false in every real build: a joint decision needs a
// majority of both halves. The exhaustive explorer (package explore) builds with
// -tags raftmutation_nojoint to turn the rule off and checks that it notices.
const ignoreOutgoingVoters = false
