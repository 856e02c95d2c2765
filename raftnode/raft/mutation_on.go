//go:build raftmutation_concurrentconf

package raft

// acceptConfChangeWhilePending breaks the one-change-at-a-time rule on purpose:
// a leader accepts a configuration change while another is unapplied. Built only
// with -tags raftmutation_concurrentconf, for the exhaustive explorer's mutation
// check (package explore).
const acceptConfChangeWhilePending = true
