package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Volumes live under the pod directory (emptyDir, configMap, secret,
// downwardAPI, projected) or under STATE/pvc/NAMESPACE/CLAIM for
// persistentVolumeClaims, so a claim's data outlives its pod, as it does
// in a cluster. They are bind-mounted at their mountPath inside the
// container's mount namespace; mount points that do not exist on the host
// are created there (empty directories left on the host).

// TokenSource issues service-account tokens for projected volumes (the
// TokenRequest API in the kubelet; a fake in tests).
type TokenSource interface {
	Token(ctx context.Context, namespace, serviceAccount, podName string, podUID string, audience string, expirationSeconds int64) (string, error)
}

// Mount is a bind mount into a container's mount namespace.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// volumeDir is where pod volume name lives on the host.
func (p *Provider) volumeDir(ps *podState, pod *corev1.Pod, v corev1.Volume) string {
	if v.PersistentVolumeClaim != nil {
		return filepath.Join(p.cfg.StateDir, "pvc", pod.Namespace, v.PersistentVolumeClaim.ClaimName)
	}
	return filepath.Join(ps.dir, "volumes", v.Name)
}

// prepareVolumes creates every volume of the pod on the host and returns
// where each is, by volume name.
func (p *Provider) prepareVolumes(ctx context.Context, ps *podState, pod *corev1.Pod) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := p.volumeDir(ps, pod, v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		files, err := p.volumeFiles(ctx, ps, pod, v)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		for name, content := range files {
			path := filepath.Join(dir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		dirs[v.Name] = dir
	}
	return dirs, nil
}

// volumeFiles returns the files a content volume holds, by relative path;
// nil for directory volumes (emptyDir, persistentVolumeClaim).
func (p *Provider) volumeFiles(ctx context.Context, ps *podState, pod *corev1.Pod, v corev1.Volume) (map[string][]byte, error) {
	switch {
	case v.EmptyDir != nil, v.PersistentVolumeClaim != nil:
		return nil, nil
	case v.ConfigMap != nil:
		return p.configMapFiles(pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
	case v.Secret != nil:
		return p.secretFiles(pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items, podFacts{PodIP: ps.ip.String(), HostIP: ps.hostIP})
	case v.Projected != nil:
		out := map[string][]byte{}
		for _, src := range v.Projected.Sources {
			var files map[string][]byte
			var err error
			switch {
			case src.ConfigMap != nil:
				files, err = p.configMapFiles(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
			case src.Secret != nil:
				files, err = p.secretFiles(pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
			case src.DownwardAPI != nil:
				files, err = downwardFiles(pod, src.DownwardAPI.Items, podFacts{PodIP: ps.ip.String(), HostIP: ps.hostIP})
			case src.ServiceAccountToken != nil:
				files, err = p.tokenFiles(ctx, pod, src.ServiceAccountToken)
			default:
				err = fmt.Errorf("projected source not supported by the local kubelet")
			}
			if err != nil {
				return nil, err
			}
			for k, b := range files {
				out[k] = b
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("volume type not supported by the local kubelet (emptyDir, persistentVolumeClaim, configMap, secret, downwardAPI, projected are)")
}

func (p *Provider) configMapFiles(ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	opt := optional != nil && *optional
	if p.cfg.Objects == nil {
		return nil, optionalMissing(opt, "configmap %s: no object source", name)
	}
	cm, err := p.cfg.Objects.ConfigMap(ns, name)
	if err != nil {
		return nil, optionalMissing(opt, "configmap %s: %v", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(data, items, "configmap "+name)
}

func (p *Provider) secretFiles(ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	opt := optional != nil && *optional
	if p.cfg.Objects == nil {
		return nil, optionalMissing(opt, "secret %s: no object source", name)
	}
	s, err := p.cfg.Objects.Secret(ns, name)
	if err != nil {
		return nil, optionalMissing(opt, "secret %s: %v", name, err)
	}
	return keyFiles(s.Data, items, "secret "+name)
}

// keyFiles maps an object's keys to files: every key by its own name, or
// only the listed items at their paths.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, what string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = v
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %s", what, it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

// downwardFiles renders downward API volume items. Label and annotation
// maps are written as sorted key="value" lines, as the kubelet does.
func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, facts podFacts) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downward API file %s: only fieldRef is supported", it.Path)
		}
		var v string
		switch it.FieldRef.FieldPath {
		case "metadata.labels":
			v = formatMap(pod.Labels)
		case "metadata.annotations":
			v = formatMap(pod.Annotations)
		default:
			var err error
			if v, err = fieldRefValue(pod, it.FieldRef.FieldPath, facts); err != nil {
				return nil, fmt.Errorf("downward API file %s: %w", it.Path, err)
			}
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

func formatMap(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// tokenFiles asks the TokenRequest API for a token bound to the pod.
func (p *Provider) tokenFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (map[string][]byte, error) {
	if p.cfg.Tokens == nil {
		return nil, fmt.Errorf("service account token: no token source")
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	tok, err := p.cfg.Tokens.Token(ctx, pod.Namespace, sa, pod.Name, string(pod.UID), src.Audience, exp)
	if err != nil {
		return nil, fmt.Errorf("service account token for %s/%s: %w", pod.Namespace, sa, err)
	}
	return map[string][]byte{src.Path: []byte(tok)}, nil
}

// containerMounts turns the container's volumeMounts into bind mounts.
func containerMounts(c *corev1.Container, dirs map[string]string) ([]Mount, error) {
	var mounts []Mount
	for _, vm := range c.VolumeMounts {
		dir, ok := dirs[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s: no volume of that name", vm.Name)
		}
		src := dir
		if vm.SubPath != "" {
			src = filepath.Join(dir, filepath.Clean("/"+vm.SubPath))
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, fmt.Errorf("volume mount %s: %w", vm.Name, err)
				}
			}
		}
		mounts = append(mounts, Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return mounts, nil
}
