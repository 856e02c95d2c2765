// Package backupresult is the report `raftctl backup save` leaves for the
// operator in its pod's termination message. It is apart from
// internal/backupstore so that the manager, which reads it, does not link
// the S3 client.
package backupresult

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

const (
	// MaxResultBytes bounds an encoded Result: a pod's termination message,
	// where the operator reads it, holds at most 4096 bytes.
	MaxResultBytes = 3500
	// MaxResultPruned is how many pruned keys a Result lists; PrunedCount
	// says how many there were.
	MaxResultPruned = 20
	// maxResultMessage is the error message's share of MaxResultBytes before
	// pruned keys are dropped: the cause matters more than the keys.
	maxResultMessage = 1024
)

// Result is what `raftctl backup save` reports, on success or failure, in
// the file --result-file names (the operator points it at the pod's
// termination message). Zero fields are left out; Error is set only on
// failure.
type Result struct {
	// Key is the backup's key; Location names it in its store.
	Key      string `json:"key,omitempty"`
	Location string `json:"location,omitempty"`
	// Size is the snapshot file's size in bytes.
	Size int64 `json:"size,omitempty"`
	// Index and Term are those of the last entry the snapshot holds.
	Index uint64 `json:"index,omitempty"`
	Term  uint64 `json:"term,omitempty"`
	// ClusterID and Member (the member that took it) are hex, as raftctl
	// shows ids.
	ClusterID string `json:"clusterID,omitempty"`
	Member    string `json:"member,omitempty"`
	// SHA256 is the file's checksum, hex.
	SHA256 string `json:"sha256,omitempty"`
	// Seconds is how long the save took, from the start to the stored object.
	Seconds float64 `json:"seconds,omitempty"`
	// Pruned are (the first MaxResultPruned of) the keys retention deleted;
	// PrunedCount is how many it deleted.
	Pruned      []string `json:"pruned,omitempty"`
	PrunedCount int      `json:"prunedCount,omitempty"`
	// Error says why the command failed.
	Error *ResultError `json:"error,omitempty"`
}

// ResultError is a failure: one of the Reason constants and a message for
// humans.
type ResultError struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Encode is r as JSON of at most MaxResultBytes: at most MaxResultPruned
// pruned keys, the error message cut to about a kilobyte, then fewer pruned
// keys and a shorter message if still too long. A key is at most
// backupstore.MaxKeyBytes, so the rest always fits.
func (r Result) Encode() []byte {
	if len(r.Pruned) > MaxResultPruned {
		r.Pruned = r.Pruned[:MaxResultPruned]
	}
	if r.Error != nil {
		e := *r.Error
		if len(e.Message) > maxResultMessage {
			e.Message = cut(e.Message, len(e.Message)-maxResultMessage)
		}
		r.Error = &e
	}
	b := encode(r)
	for len(b) > MaxResultBytes && len(r.Pruned) > 0 {
		r.Pruned = r.Pruned[:len(r.Pruned)-1]
		b = encode(r)
	}
	for len(b) > MaxResultBytes && r.Error != nil && r.Error.Message != "" {
		r.Error.Message = cut(r.Error.Message, len(b)-MaxResultBytes)
		b = encode(r)
	}
	return b
}

func encode(r Result) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Paths and messages stay readable: no \u003c for "<".
	enc.SetEscapeHTML(false)
	// A Result of strings, numbers and slices always encodes.
	_ = enc.Encode(r)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// truncated ends a message that was cut short.
const truncated = "..."

// cut shortens s by at least over bytes (more when escaping made them
// longer), at a rune boundary, and marks it as cut.
func cut(s string, over int) string {
	s = trimSuffix(s)
	n := len(s) - over - len(truncated)
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + truncated
}

func trimSuffix(s string) string {
	if len(s) >= len(truncated) && s[len(s)-len(truncated):] == truncated {
		return s[:len(s)-len(truncated)]
	}
	return s
}
