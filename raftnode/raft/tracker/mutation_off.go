//go:build !raftmutation_nojoint

package tracker

// ignoreOutgoingVoters is false in every real build: the committed index needs
// a majority of both halves of a joint configuration. See the same constant in
// package quorum, which the same build tag turns on.
const ignoreOutgoingVoters = false
