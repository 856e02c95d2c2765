package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.uber.org/goleak"

	"github.com/raftkube/raftkube/hack/imagetool/push"
)

// bins holds the imagetool and pause binaries that TestMain builds.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imagetool-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins = dir
	code := 1
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
			}
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds imagetool for this machine and pause, static, for
// amd64 and arm64 (the payload of the test images).
func buildBinaries(dir string) error {
	builds := [][]string{
		{"", "-o", filepath.Join(dir, "imagetool"), "."},
		{"amd64", "-o", filepath.Join(dir, "rootfs-amd64/usr/local/bin/pause"), "../pause"},
		{"arm64", "-o", filepath.Join(dir, "rootfs-arm64/usr/local/bin/pause"), "../pause"},
	}
	for _, b := range builds {
		cmd := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags=-s -w"}, b[1:]...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b[0] != "" {
			cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+b[0])
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %v: %w\n%s", b[1:], err, out)
		}
	}
	return nil
}

// imagetool runs the binary and returns its trimmed standard output.
func imagetool(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bins, "imagetool"), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("imagetool %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// buildPause writes the pause image for both architectures to a tarball.
func buildPause(t *testing.T, ref string) (tarball, digest string) {
	t.Helper()
	tarball = filepath.Join(t.TempDir(), "pause.tar")
	digest = imagetool(t, "build", "--ref", ref, "--out", tarball,
		"--platform", "linux/amd64="+filepath.Join(bins, "rootfs-amd64"),
		"--platform", "linux/arm64="+filepath.Join(bins, "rootfs-arm64"),
		"--entrypoint", "/usr/local/bin/pause", "--nonroot-passwd",
		"--created", "2026-01-02T03:04:05Z", "--label", "org.opencontainers.image.title=pause")
	return tarball, digest
}

// TestBuildTwice: the same inputs give the same tarball, byte for byte, and
// the digest printed is the one `digest` reads back; SOURCE_DATE_EPOCH stands
// for --created.
func TestBuildTwice(t *testing.T) {
	dir := t.TempDir()
	var outs [3]bytes.Buffer
	var digests [3]string
	for i := range outs {
		out := filepath.Join(dir, fmt.Sprintf("%d.tar", i))
		args := []string{"build", "--ref", "example.com/pause:1", "--out", out,
			"--platform", "linux/amd64=" + filepath.Join(bins, "rootfs-amd64"), "--entrypoint", "/usr/local/bin/pause"}
		if i < 2 {
			args = append(args, "--created", "2026-01-02T03:04:05Z")
		} else {
			t.Setenv("SOURCE_DATE_EPOCH", fmt.Sprint(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix()))
		}
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &outs[i], &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		digests[i] = strings.TrimSpace(outs[i].String())
		if got := imagetool(t, "digest", out); got != digests[i] {
			t.Errorf("digest reads %s, build printed %s", got, digests[i])
		}
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Errorf("digests differ: %v", digests)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "0.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "1.tar"))
	if !bytes.Equal(a, b) {
		t.Error("the two tarballs differ")
	}
}

func TestBuildNeedsCreationTime(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"build", "--ref", "example.com/x:1", "--out", filepath.Join(t.TempDir(), "x.tar"),
		"--platform", "linux/amd64=" + filepath.Join(bins, "rootfs-amd64")}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("build without a time: %v, want an error naming SOURCE_DATE_EPOCH", err)
	}
}

// registryProcess starts `imagetool registry` on a free loopback port and
// returns its address; the test's cleanup stops it with SIGTERM and wants a
// clean exit.
func registryProcess(t *testing.T) string {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bins, "imagetool"), "registry", "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--blobs", t.TempDir())
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("registry: %v\n%s", err, stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			return strings.TrimSpace(string(b))
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("registry exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the registry did not write its address")
		}
	}
}

// TestPushToRegistryProcess pushes a two-platform index to `imagetool
// registry`, under another name than the tarball's, and pulls it back.
func TestPushToRegistryProcess(t *testing.T) {
	addr := registryProcess(t)
	tarball, digest := buildPause(t, "localhost/raftkube/pause:3.10")
	ref := addr + "/raftkube/pause:3.10"
	if got, want := imagetool(t, "push", tarball, ref), ref+"@"+digest; got != want {
		t.Errorf("push printed %q, want %q", got, want)
	}
	tag, err := push.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	idx, err := remote.Index(tag, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Digest(); got.String() != digest {
		t.Errorf("pulled %s, pushed %s", got, digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := img.ConfigFile(); err != nil {
			t.Errorf("%s: %v", m.Platform, err)
		}
	}
}

// containerd is a throwaway containerd of the test's own: its own root,
// state and socket, no CRI plugin.
type containerd struct {
	sock string
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("no containerd binary (make host-packages installs it)")
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("no ctr binary (it comes with containerd)")
	}
	// A short folder: the socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{sock: filepath.Join(dir, "sock")}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("stopping containerd: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Logf("containerd: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("containerd still running 20s after SIGTERM: killing it")
			if err := cmd.Process.Kill(); err != nil {
				t.Error(err)
			}
			if err := <-done; err != nil {
				t.Logf("containerd: %v", err)
			}
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("containerd's log:\n%s", b)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing containerd's folder: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.ctrErr("version"); err == nil {
			return c
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("containerd exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not answer in 30s")
		}
	}
}

func (c *containerd) ctrErr(args ...string) (string, error) {
	out, err := exec.Command("ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *containerd) ctr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.ctrErr(args...)
	if err != nil {
		t.Fatalf("ctr %v: %v\n%s", args, err, out)
	}
	return out
}

// imageDigest is the digest `ctr images ls` lists for ref, "" if none.
func (c *containerd) imageDigest(t *testing.T, ref string) string {
	t.Helper()
	for _, line := range strings.Split(c.ctr(t, "images", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == ref {
			return f[2]
		}
	}
	return ""
}

// TestContainerd imports a tarball of `imagetool build` into a real
// containerd as `ctr -n k8s.io images import` (what kind load image-archive
// runs) does, then pulls the same index from `imagetool registry` over plain
// HTTP as a node configured for a loopback registry would, and runs the image.
func TestContainerd(t *testing.T) {
	c := startContainerd(t)
	const name = "localhost/raftkube/pause:3.10"
	tarball, digest := buildPause(t, name)

	t.Log(strings.TrimSpace(c.ctr(t, "images", "import", "--all-platforms", tarball)))
	if got := c.imageDigest(t, name); got != digest {
		t.Fatalf("after the import, ctr lists %s as %q, want %s\n%s", name, got, digest, c.ctr(t, "images", "ls"))
	}

	addr := registryProcess(t)
	remoteRef := addr + "/raftkube/pause:3.10"
	imagetool(t, "push", tarball, remoteRef)
	c.ctr(t, "images", "pull", "--plain-http", "--all-platforms", remoteRef)
	if got := c.imageDigest(t, remoteRef); got != digest {
		t.Errorf("after the pull, ctr lists %s as %q, want %s", remoteRef, got, digest)
	}

	t.Run("run", func(t *testing.T) {
		if _, err := exec.LookPath("runc"); err != nil {
			t.Skip("no runc to run containers with")
		}
		if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
			t.Skipf("the test image has no %s binary", runtime.GOARCH)
		}
		const id = "imagetool-test-pause"
		c.ctr(t, "run", "-d", name, id)
		defer func() {
			// Each may fail when the test got that far already (a stopped
			// task cannot be killed): only the last one must succeed.
			if out, err := c.ctrErr("task", "kill", "-s", "SIGKILL", id); err != nil {
				t.Logf("ctr task kill: %v: %s", err, out)
			}
			if out, err := c.ctrErr("task", "delete", id); err != nil {
				t.Logf("ctr task delete: %v: %s", err, out)
			}
			c.ctr(t, "containers", "delete", id)
		}()
		var pid string
		for _, line := range strings.Split(c.ctr(t, "task", "ls"), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id {
				pid = f[1]
			}
		}
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatalf("the container's process %q: %v", pid, err)
		}
		for _, want := range []string{"Uid:\t65532\t65532\t65532\t65532", "Gid:\t65532\t65532\t65532\t65532"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("the container's process lacks %q:\n%s", want, status)
			}
		}
		c.ctr(t, "task", "kill", "-s", "SIGTERM", id)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(c.ctr(t, "task", "ls"), "STOPPED") {
			if time.Now().After(deadline) {
				t.Fatalf("pause still running 10s after SIGTERM:\n%s", c.ctr(t, "task", "ls"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
