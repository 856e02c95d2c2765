//go:build raftmutation_nojoint

package quorum

// ignoreOutgoingVoters breaks joint consensus on purpose: decisions count the
// incoming half only. Built only with -tags raftmutation_nojoint, for the
// exhaustive explorer's mutation check (package explore).
const ignoreOutgoingVoters = true
