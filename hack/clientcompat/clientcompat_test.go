package clientcompat_test

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/client/clienttest"
	// Linked for their registrations only: the peer protocol and the Raft
	// wire types are not reached through the client.
	_ "github.com/raftkube/raftkube/raftnode/raft/raftpb/wirepb"
	_ "github.com/raftkube/raftkube/raftnode/transport/transportpb"
)

// conflictEnv, when set, turns a duplicate registration from a panic into a
// warning and would hide what this test exists to catch.
const conflictEnv = "GOLANG_PROTOBUF_REGISTRATION_CONFLICT"

// TestMain fails before any test when the environment hides conflicts. Reaching
// it at all means every package's init, raftkube's and etcd's, has run.
func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(conflictEnv); ok {
		os.Stderr.WriteString(conflictEnv + "=" + v + " is set: unset it, it hides the conflict this test checks\n")
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

// TestFilesRegisteredUnderOwnPaths checks that each raftkube proto is in the
// global registry under its versioned path with its own package, and that
// etcd's kv.proto is still etcd's.
func TestFilesRegisteredUnderOwnPaths(t *testing.T) {
	for path, pkg := range map[string]string{
		"raftkube/kv/v1/kv.proto":               "raftkube.kv.v1",
		"raftkube/node/v1/node.proto":           "raftkube.node.v1",
		"raftkube/raftpb/v1/raft.proto":         "raftkube.raftpb.v1",
		"raftkube/transport/v1/transport.proto": "raftkube.transport.v1",
		"kv.proto":                              "mvccpb",
	} {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			t.Errorf("file %q: %v", path, err)
			continue
		}
		if got := string(fd.Package()); got != pkg {
			t.Errorf("file %q: package %q, want %q", path, got, pkg)
		}
	}
}

// TestBothClientsWork makes an etcd client (it does not connect until used)
// and a raftkube client, and puts and gets a key through the latter against
// in-process members serving the real KV service, so the generated code of
// both libraries is exercised in one process.
func TestBothClientsWork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	defer func() { _ = etcd.Close() }()

	cluster := clienttest.Start(t, 1)
	c, err := client.New(ctx, client.Config{Endpoints: cluster.Endpoints()})
	if err != nil {
		t.Fatalf("raftkube client: %v", err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("put: %v", err)
	}
	kv, found, err := c.Get(ctx, []byte("k"))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !found || string(kv.GetValue()) != "v" {
		t.Fatalf("get k = %v (found %t), want value %q", kv, found, "v")
	}
}
