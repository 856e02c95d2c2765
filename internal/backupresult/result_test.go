package backupresult

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/raftkube/raftkube/internal/backupstore"
)

func decodeResult(t *testing.T, b []byte) Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return r
}

func TestResultEncode(t *testing.T) {
	ok := Result{Key: "c/1.snap", Location: "s3://b/c/1.snap", Size: 123, Index: 7, Term: 2, ClusterID: "ab", Member: "cd",
		SHA256: strings.Repeat("0", 64), Seconds: 1.5, Pruned: []string{"c/0.snap"}, PrunedCount: 1}
	b := ok.Encode()
	want := `{"key":"c/1.snap","location":"s3://b/c/1.snap","size":123,"index":7,"term":2,"clusterID":"ab","member":"cd",` +
		`"sha256":"0000000000000000000000000000000000000000000000000000000000000000","seconds":1.5,"pruned":["c/0.snap"],"prunedCount":1}`
	if string(b) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", b, want)
	}
	failed := Result{Key: "c/2.snap", Error: &ResultError{Reason: backupstore.ReasonStorageAccessDenied, Message: "put s3://b/c/2.snap: <denied>"}}
	if got, want := string(failed.Encode()), `{"key":"c/2.snap","error":{"reason":"StorageAccessDenied","message":"put s3://b/c/2.snap: <denied>"}}`; got != want {
		t.Errorf("Encode of a failure = %s, want %s", got, want)
	}
	if got := string((Result{}).Encode()); got != "{}" {
		t.Errorf("Encode of nothing = %s", got)
	}
}

// However much there is to say, the encoding fits a termination message and
// keeps what the operator needs whole.
func TestResultEncodeCaps(t *testing.T) {
	longKey := strings.Repeat("k", backupstore.MaxKeyBytes-5) + ".snap"
	var pruned []string
	for i := range 100 {
		pruned = append(pruned, fmt.Sprintf("%s/%04d.snap", strings.Repeat("p", 150), i))
	}
	for _, tc := range []struct {
		name string
		r    Result
	}{
		{"many pruned", Result{Key: "c/1.snap", Pruned: pruned, PrunedCount: len(pruned)}},
		{"long message", Result{Key: "c/1.snap", Error: &ResultError{Reason: backupstore.ReasonSnapshotFailed, Message: strings.Repeat("é<\"", 3000)}}},
		{"long key, message and pruned", Result{Key: longKey, Location: "s3://" + strings.Repeat("b", 63) + "/" + longKey, Pruned: pruned, PrunedCount: 100,
			Error: &ResultError{Reason: backupstore.ReasonStorageUnreachable, Message: strings.Repeat("x", 5000)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.r.Encode()
			if len(b) > MaxResultBytes {
				t.Fatalf("%d bytes, over %d", len(b), MaxResultBytes)
			}
			got := decodeResult(t, b)
			if got.Key != tc.r.Key || got.Location != tc.r.Location || got.PrunedCount != tc.r.PrunedCount {
				t.Errorf("key %q location %q count %d lost", got.Key, got.Location, got.PrunedCount)
			}
			if len(got.Pruned) > MaxResultPruned {
				t.Errorf("%d pruned keys listed, over %d", len(got.Pruned), MaxResultPruned)
			}
			for i, k := range got.Pruned {
				if k != tc.r.Pruned[i] {
					t.Errorf("pruned[%d] = %q, want %q", i, k, tc.r.Pruned[i])
				}
			}
			if tc.r.Error != nil {
				if got.Error == nil || got.Error.Reason != tc.r.Error.Reason || !utf8.ValidString(got.Error.Message) ||
					!strings.HasSuffix(got.Error.Message, "...") {
					t.Errorf("error = %+v, want the reason kept and the message cut", got.Error)
				}
				if len(tc.r.Error.Message) < 1000 {
					t.Fatal("the case's message is too short to need a cut")
				}
			}
		})
	}
	if len(pruned) != 100 || pruned[99] != strings.Repeat("p", 150)+"/0099.snap" {
		t.Fatal("Encode changed its receiver's slice")
	}
}
