package provider

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ObjectSource looks up the ConfigMaps and Secrets that env vars refer to.
// It is satisfied by the informer listers virtual-kubelet hands the provider.
type ObjectSource interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
}

// podFacts are the runtime values the downward API can expose that are not in
// the pod object the API server sent (the pod IP is ours to choose).
type podFacts struct {
	PodIP  string
	HostIP string
}

// containerEnv builds a container's environment the way the kubelet does:
// envFrom first, then env in order, each value able to refer to earlier ones
// with $(NAME). The result is a list of NAME=VALUE pairs in a stable order,
// later duplicates replacing earlier ones.
func containerEnv(pod *corev1.Pod, c *corev1.Container, facts podFacts, objs ObjectSource) ([]string, error) {
	var names []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			names = append(names, k)
		}
		vals[k] = v
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(pod.Namespace, from, objs)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(data) {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v, err := envValue(pod, e, facts, objs, vals)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		set(e.Name, v)
	}
	out := make([]string, 0, len(names))
	for _, k := range names {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func envFromData(ns string, from corev1.EnvFromSource, objs ObjectSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		optional := from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
		if objs == nil {
			return nil, optionalMissing(optional, "configmap %s: no object source", from.ConfigMapRef.Name)
		}
		cm, err := objs.ConfigMap(ns, from.ConfigMapRef.Name)
		if err != nil {
			return nil, optionalMissing(optional, "configmap %s: %v", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		optional := from.SecretRef.Optional != nil && *from.SecretRef.Optional
		if objs == nil {
			return nil, optionalMissing(optional, "secret %s: no object source", from.SecretRef.Name)
		}
		s, err := objs.Secret(ns, from.SecretRef.Name)
		if err != nil {
			return nil, optionalMissing(optional, "secret %s: %v", from.SecretRef.Name, err)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// optionalMissing returns nil for an optional reference and an error otherwise.
func optionalMissing(optional bool, format string, args ...any) error {
	if optional {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func envValue(pod *corev1.Pod, e corev1.EnvVar, facts podFacts, objs ObjectSource, earlier map[string]string) (string, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, earlier), nil
	}
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		return fieldRefValue(pod, vf.FieldRef.FieldPath, facts)
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		if objs == nil {
			return "", optionalMissing(optional, "configmap %s: no object source", ref.Name)
		}
		cm, err := objs.ConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			return "", optionalMissing(optional, "configmap %s: %v", ref.Name, err)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return "", optionalMissing(optional, "configmap %s has no key %s", ref.Name, ref.Key)
		}
		return v, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		if objs == nil {
			return "", optionalMissing(optional, "secret %s: no object source", ref.Name)
		}
		s, err := objs.Secret(pod.Namespace, ref.Name)
		if err != nil {
			return "", optionalMissing(optional, "secret %s: %v", ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return "", optionalMissing(optional, "secret %s has no key %s", ref.Name, ref.Key)
		}
		return string(v), nil
	case vf.ResourceFieldRef != nil:
		return "", fmt.Errorf("resourceFieldRef %s is not supported by the local kubelet", vf.ResourceFieldRef.Resource)
	}
	return "", nil
}

// fieldRefValue resolves the downward API field paths the kubelet supports
// for env vars.
func fieldRefValue(pod *corev1.Pod, path string, facts podFacts) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return facts.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return facts.HostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// expand replaces $(NAME) with NAME's value when it is defined, leaves it as
// written otherwise, and turns $$ into $, as Kubernetes does for env values,
// command and args.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// envMap turns NAME=VALUE pairs into a map for expansion.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
