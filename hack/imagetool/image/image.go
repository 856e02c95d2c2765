// Package image assembles an OCI image index from one layer per platform:
// each platform's image config (entrypoint, user, labels, a fixed creation
// time), its manifest, and the index over them. Nothing in it reads the
// clock or the environment, so the same inputs give the same digests.
package image

import (
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platform is one platform's image: its single layer.
type Platform struct {
	OS, Architecture, Variant string
	Layer                     v1.Layer
}

// Spec describes the images of an index; all platforms share everything but
// the layer.
type Spec struct {
	// Created is the images' creation time, also their history's.
	Created    time.Time
	Entrypoint []string
	Cmd        []string
	// User is "UID:GID".
	User       string
	WorkingDir string
	Env        []string
	// Labels go into each image's config and, as annotations, into each
	// manifest and the index: registries show the latter, runtimes the former.
	Labels map[string]string
	// CreatedBy describes, in the history, what wrote the layer.
	CreatedBy string
	Platforms []Platform
}

// Index builds the images and their index.
func Index(spec Spec) (v1.ImageIndex, error) {
	if len(spec.Platforms) == 0 {
		return nil, errors.New("image: no platforms")
	}
	created := v1.Time{Time: spec.Created.UTC().Truncate(time.Second)}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, p := range spec.Platforms {
		plat := v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("image: platform %q lacks an OS or architecture", plat.String())
		}
		if seen[plat.String()] {
			return nil, fmt.Errorf("image: platform %s given twice", plat.String())
		}
		seen[plat.String()] = true
		img, err := platformImage(spec, p, created)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", plat.String(), err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat},
		})
	}
	if len(spec.Labels) > 0 {
		idx = mutate.Annotations(idx, spec.Labels).(v1.ImageIndex)
	}
	// Computing the digest now surfaces any error of the pieces here rather
	// than in whoever writes the index.
	if _, err := idx.Digest(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return idx, nil
}

func platformImage(spec Spec, p Platform, created v1.Time) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     p.Layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: spec.CreatedBy},
	})
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Config = v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		User:       spec.User,
		WorkingDir: spec.WorkingDir,
		Env:        spec.Env,
		Labels:     spec.Labels,
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting the config: %w", err)
	}
	if len(spec.Labels) > 0 {
		img = mutate.Annotations(img, spec.Labels).(v1.Image)
	}
	return img, nil
}
