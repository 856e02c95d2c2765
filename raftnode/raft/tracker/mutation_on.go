//go:build raftmutation_nojoint

package tracker

// ignoreOutgoingVoters breaks joint consensus on purpose: the committed index
// counts the incoming half only. Built only with -tags raftmutation_nojoint, for
// the exhaustive explorer's mutation check (package explore).
const ignoreOutgoingVoters = true
