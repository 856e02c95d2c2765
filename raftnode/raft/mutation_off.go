//go:build !raftmutation_concurrentconf

package raft

// acceptConfChangeWhilePending is false in every real build: a leader takes one
// configuration change at a time. The exhaustive explorer (package explore)
// builds with -tags raftmutation_concurrentconf to turn the rule off and checks
// that it notices.
const acceptConfChangeWhilePending = false
