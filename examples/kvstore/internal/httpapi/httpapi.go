// Package httpapi is the store's client API over HTTP:
//
//	PUT    /keys/{key}     body: the value      204 once applied here
//	GET    /keys/{key}                          200 with the value, or 404
//	POST   /members/{id}   body: its peer URL   204 once the change is applied here
//	DELETE /members/{id}                        204 once the change is applied here
//	GET    /status                              200 with the member's status as JSON
//
// Reads are linearizable. A 503 means no leader could take the request, or
// its outcome is unknown (the leader changed, the request timed out): retry,
// writes are idempotent. A 409 means a membership change was refused.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/raftkube/raftkube/examples/kvstore/internal/member"
)

// maxValueSize bounds a value or a peer URL in a request body.
const maxValueSize = 1 << 20

// Cluster is what the API asks of the member it serves.
type Cluster interface {
	Put(ctx context.Context, key, value string) error
	Get(ctx context.Context, key string) (value string, found bool, err error)
	AddMember(ctx context.Context, id uint64, peerURL string) error
	RemoveMember(ctx context.Context, id uint64) error
	Status(ctx context.Context) (member.Status, error)
}

// New returns the API's handler; each request is given at most timeout.
func New(c Cluster, timeout time.Duration) http.Handler {
	a := &api{c: c, timeout: timeout}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /keys/{key}", a.put)
	mux.HandleFunc("GET /keys/{key}", a.get)
	mux.HandleFunc("POST /members/{id}", a.addMember)
	mux.HandleFunc("DELETE /members/{id}", a.removeMember)
	mux.HandleFunc("GET /status", a.status)
	return mux
}

type api struct {
	c       Cluster
	timeout time.Duration
}

func (a *api) put(w http.ResponseWriter, r *http.Request) {
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	reply(w, a.c.Put(ctx, r.PathValue("key"), string(value)))
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	value, found, err := a.c.Get(ctx, r.PathValue("key"))
	switch {
	case err != nil:
		reply(w, err)
	case !found:
		http.Error(w, "no such key", http.StatusNotFound)
	default:
		_, _ = io.WriteString(w, value)
	}
}

func (a *api) addMember(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	peerURL := strings.TrimSpace(string(body))
	if !strings.HasPrefix(peerURL, "http://") && !strings.HasPrefix(peerURL, "https://") {
		http.Error(w, "the body must be the new member's peer URL (http://host:port)", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	reply(w, a.c.AddMember(ctx, id, peerURL))
}

func (a *api) removeMember(w http.ResponseWriter, r *http.Request) {
	id, ok := memberID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	reply(w, a.c.RemoveMember(ctx, id))
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	st, err := a.c.Status(ctx)
	if err != nil {
		reply(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func memberID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		http.Error(w, "member id must be a positive integer", http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

// reply answers a request that has no body on success.
func reply(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Error(w, err.Error(), statusCode(err))
}

func statusCode(err error) int {
	switch {
	case errors.Is(err, member.ErrRefused):
		return http.StatusConflict
	case errors.Is(err, member.ErrUnavailable), errors.Is(err, member.ErrOutcomeUnknown),
		errors.Is(err, member.ErrStopped), errors.Is(err, member.ErrRemoved),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
