package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/raftkube/raftkube/hack/imagetool/archive"
	"github.com/raftkube/raftkube/hack/imagetool/image"
	"github.com/raftkube/raftkube/hack/imagetool/layer"
	"github.com/raftkube/raftkube/hack/imagetool/push"
)

// createdLabel is the OCI label of the creation time, which build sets from
// --created so that the two never disagree.
const createdLabel = "org.opencontainers.image.created"

func runBuild(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetool build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var platforms, entrypoint, env, labels repeated
	ref := fs.String("ref", "", "the image's name, `NAME:TAG` (required)")
	out := fs.String("out", "", "the tarball to write, `FILE.tar` (required)")
	fs.Var(&platforms, "platform", "`OS/ARCH[/VARIANT]=DIR`: a platform and the tree of its layer (repeatable; at least one)")
	fs.Var(&entrypoint, "entrypoint", "one `ARG` of the entrypoint (repeatable, in order)")
	fs.Var(&env, "env", "an environment variable `K=V` (repeatable; default PATH=/usr/local/bin)")
	fs.Var(&labels, "label", "a label `K=V`, also an annotation of the manifests and the index (repeatable)")
	user := fs.String("user", image.NonRootUser, "the user, `UID:GID`")
	workdir := fs.String("workdir", "/", "the working `DIR`")
	created := fs.String("created", "", "the creation `TIME` (RFC 3339), also every file's mtime; default $SOURCE_DATE_EPOCH (required, one or the other)")
	nonroot := fs.Bool("nonroot-passwd", false, "add /etc/passwd and /etc/group naming root and nonroot (65532)")
	docker := fs.String("docker-platform", "", "the `OS/ARCH` of the image that manifest.json names for `docker load` (default: this machine's if built, else the first --platform)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("build: unexpected arguments %q", fs.Args())
	}
	if *ref == "" || *out == "" || len(platforms) == 0 {
		return errors.New("build: --ref, --out and at least one --platform are required")
	}
	tag, err := push.ParseRef(*ref)
	if err != nil {
		return fmt.Errorf("build: --ref: %w", err)
	}
	when, err := creationTime(*created, os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	labelMap, err := keyValues(labels)
	if err != nil {
		return fmt.Errorf("build: --label: %w", err)
	}
	labelMap[createdLabel] = when.Format(time.RFC3339)
	if len(env) == 0 {
		env = repeated{"PATH=/usr/local/bin"}
	}
	var extra []layer.File
	if *nonroot {
		extra = image.AccountFiles()
	}

	spec := image.Spec{
		Created:    when,
		Entrypoint: entrypoint,
		User:       *user,
		WorkingDir: *workdir,
		Env:        env,
		Labels:     labelMap,
		CreatedBy:  "imagetool build",
	}
	for _, p := range platforms {
		plat, dir, ok := strings.Cut(p, "=")
		if !ok || dir == "" {
			return fmt.Errorf("build: --platform %q: want OS/ARCH=DIR", p)
		}
		pl, err := v1.ParsePlatform(plat)
		if err != nil {
			return fmt.Errorf("build: --platform %q: %w", p, err)
		}
		l, err := layer.Build(dir, extra, when)
		if err != nil {
			return fmt.Errorf("build: %s: %w", plat, err)
		}
		spec.Platforms = append(spec.Platforms, image.Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant, Layer: l})
	}
	idx, err := image.Index(spec)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	dp, err := dockerPlatform(*docker, spec.Platforms)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := archive.WriteFile(*out, tag, idx, dp, when); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Fprintln(stdout, d)
	return nil
}

// creationTime is --created, else SOURCE_DATE_EPOCH (seconds since 1970, the
// reproducible-builds convention). There is no default: the clock would make
// every build differ.
func creationTime(flagValue, epoch string) (time.Time, error) {
	switch {
	case flagValue != "":
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("--created: %w", err)
		}
		return t.UTC(), nil
	case epoch != "":
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(s, 0).UTC(), nil
	default:
		return time.Time{}, errors.New("no creation time: give --created or set SOURCE_DATE_EPOCH")
	}
}

func keyValues(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not K=V", kv)
		}
		m[k] = v
	}
	return m, nil
}

// dockerPlatform picks the platform for manifest.json: the flag's, else this
// machine's when built, else the first. Docker's loader takes one image per
// tag, and a machine runs its own architecture's best.
func dockerPlatform(flagValue string, built []image.Platform) (v1.Platform, error) {
	has := func(p v1.Platform) bool {
		for _, b := range built {
			if (v1.Platform{OS: b.OS, Architecture: b.Architecture, Variant: b.Variant}).Equals(p) {
				return true
			}
		}
		return false
	}
	if flagValue != "" {
		p, err := v1.ParsePlatform(flagValue)
		if err != nil {
			return v1.Platform{}, fmt.Errorf("--docker-platform: %w", err)
		}
		if !has(*p) {
			return v1.Platform{}, fmt.Errorf("--docker-platform %s is not among the --platform values", flagValue)
		}
		return *p, nil
	}
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if has(host) {
		return host, nil
	}
	b := built[0]
	return v1.Platform{OS: b.OS, Architecture: b.Architecture, Variant: b.Variant}, nil
}
