package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/member"
)

// fakeCluster records calls and answers with err.
type fakeCluster struct {
	calls []string
	kv    map[string]string
	err   error
}

func (f *fakeCluster) Put(_ context.Context, key, value string) error {
	f.calls = append(f.calls, fmt.Sprintf("put %s=%s", key, value))
	return f.err
}

func (f *fakeCluster) Get(_ context.Context, key string) (string, bool, error) {
	f.calls = append(f.calls, "get "+key)
	v, ok := f.kv[key]
	return v, ok, f.err
}

func (f *fakeCluster) AddMember(_ context.Context, id uint64, peerURL string) error {
	f.calls = append(f.calls, fmt.Sprintf("add %d %s", id, peerURL))
	return f.err
}

func (f *fakeCluster) RemoveMember(_ context.Context, id uint64) error {
	f.calls = append(f.calls, fmt.Sprintf("remove %d", id))
	return f.err
}

func (f *fakeCluster) Status(context.Context) (member.Status, error) {
	f.calls = append(f.calls, "status")
	return member.Status{ID: 7, Voters: []uint64{7}}, f.err
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path, body string
		err                error
		wantCode           int
		wantCall           string
	}{
		{"PUT", "/keys/a", "1", nil, http.StatusNoContent, "put a=1"},
		{"GET", "/keys/a", "", nil, http.StatusOK, "get a"},
		{"GET", "/keys/missing", "", nil, http.StatusNotFound, "get missing"},
		{"POST", "/members/4", "http://127.0.0.1:9004\n", nil, http.StatusNoContent, "add 4 http://127.0.0.1:9004"},
		{"POST", "/members/4", "127.0.0.1:9004", nil, http.StatusBadRequest, ""},
		{"POST", "/members/x", "http://127.0.0.1:9004", nil, http.StatusBadRequest, ""},
		{"DELETE", "/members/0", "", nil, http.StatusBadRequest, ""},
		{"DELETE", "/members/2", "", nil, http.StatusNoContent, "remove 2"},
		{"GET", "/status", "", nil, http.StatusOK, "status"},
		{"PUT", "/keys/a", "1", member.ErrUnavailable, http.StatusServiceUnavailable, "put a=1"},
		{"PUT", "/keys/a", "1", member.ErrOutcomeUnknown, http.StatusServiceUnavailable, "put a=1"},
		{"PUT", "/keys/a", "1", context.DeadlineExceeded, http.StatusServiceUnavailable, "put a=1"},
		{"DELETE", "/members/2", "", fmt.Errorf("wrapped: %w", member.ErrRefused), http.StatusConflict, "remove 2"},
		{"GET", "/keys/a", "", member.ErrStopped, http.StatusServiceUnavailable, "get a"},
		{"PUT", "/keys/a", "1", io.ErrUnexpectedEOF, http.StatusInternalServerError, "put a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			f := &fakeCluster{kv: map[string]string{"a": "1"}, err: tt.err}
			rec := httptest.NewRecorder()
			New(f, time.Second).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.wantCode {
				t.Fatalf("code %d (%s), want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if got := strings.Join(f.calls, "; "); got != tt.wantCall {
				t.Fatalf("calls %q, want %q", got, tt.wantCall)
			}
		})
	}
}

func TestStatusIsJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	New(&fakeCluster{}, time.Second).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var st member.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.ID != 7 {
		t.Fatalf("status body %q: %+v, %v", rec.Body, st, err)
	}
}
