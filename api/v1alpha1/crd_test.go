package v1alpha1_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestScaleSubresource: kubectl scale and a HorizontalPodAutoscaler read
// spec.replicas, status.replicas and status.selector through /scale, and
// write spec.replicas through it, under the same validation as the object.
func TestScaleSubresource(t *testing.T) {
	s := server(t)
	ctx := t.Context()
	ns := s.Namespace(t)
	if err := s.Client.Create(ctx, raftCluster(t, ns, "replicas: 3")); err != nil {
		t.Fatal(err)
	}
	rc := s.get(t, ns)
	rc.Status.Replicas = 2
	rc.Status.Selector = "app.kubernetes.io/instance=demo,raftkube.io/cluster=demo"
	if err := s.Client.Status().Update(ctx, rc); err != nil {
		t.Fatalf("status update: %v", err)
	}

	scale := &autoscalingv1.Scale{}
	if err := s.Client.SubResource("scale").Get(ctx, rc, scale); err != nil {
		t.Fatalf("GET .../raftclusters/demo/scale: %v", err)
	}
	if scale.Spec.Replicas != 3 || scale.Status.Replicas != 2 || scale.Status.Selector != rc.Status.Selector {
		t.Errorf("scale = spec %d, status %d %q; want 3, 2 %q",
			scale.Spec.Replicas, scale.Status.Replicas, scale.Status.Selector, rc.Status.Selector)
	}

	scale.Spec.Replicas = 5
	if err := s.Client.SubResource("scale").Update(ctx, rc, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("scale to 5: %v", err)
	}
	if got := s.get(t, ns); *got.Spec.Replicas != 5 || got.Generation != 2 {
		t.Errorf("after scaling to 5: spec.replicas %d generation %d, want 5 and 2", *got.Spec.Replicas, got.Generation)
	}

	for _, n := range []int32{10, 0} {
		if err := s.Client.SubResource("scale").Get(ctx, rc, scale); err != nil {
			t.Fatal(err)
		}
		scale.Spec.Replicas = n
		err := s.Client.SubResource("scale").Update(ctx, rc, client.WithSubResourceBody(scale))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas") {
			t.Errorf("scale to %d: error %v, want Invalid at spec.replicas", n, err)
		}
	}
	if got := s.get(t, ns); *got.Spec.Replicas != 5 {
		t.Errorf("refused scales changed spec.replicas to %d", *got.Spec.Replicas)
	}
}

func (s apiServer) crd(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := s.Client.Get(t.Context(), types.NamespacedName{Name: "raftclusters.raftkube.io"}, crd); err != nil {
		t.Fatalf("get the CRD: %v", err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
		t.Fatalf("CRD versions %+v, want only v1alpha1", crd.Spec.Versions)
	}
	return crd
}

func TestCRDNamesColumnsAndSubresources(t *testing.T) {
	s := server(t)
	crd := s.crd(t)
	n := crd.Spec.Names
	if crd.Spec.Group != "raftkube.io" || n.Kind != "RaftCluster" || n.Plural != "raftclusters" ||
		!slices.Equal(n.ShortNames, []string{"raft"}) || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("CRD group %q scope %q names %+v", crd.Spec.Group, crd.Spec.Scope, n)
	}

	v := crd.Spec.Versions[0]
	type column struct{ name, typ, path string }
	var got []column
	for _, c := range v.AdditionalPrinterColumns {
		got = append(got, column{c.Name, c.Type, c.JSONPath})
	}
	want := []column{
		{"Replicas", "integer", ".spec.replicas"},
		{"Ready", "integer", ".status.readyReplicas"},
		{"Leader", "string", ".status.leader"},
		{"Phase", "string", ".status.phase"},
		{"Age", "date", ".metadata.creationTimestamp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("printer columns\n%+v\nwant\n%+v", got, want)
	}

	sub := v.Subresources
	if sub == nil || sub.Status == nil || sub.Scale == nil {
		t.Fatalf("subresources %+v, want status and scale", sub)
	}
	if sub.Scale.SpecReplicasPath != ".spec.replicas" || sub.Scale.StatusReplicasPath != ".status.replicas" ||
		sub.Scale.LabelSelectorPath == nil || *sub.Scale.LabelSelectorPath != ".status.selector" {
		t.Errorf("scale subresource %+v", sub.Scale)
	}
}

// TestCRDDescribesEveryField: `kubectl explain` shows each property's
// description; every property of spec and status, at any depth, must have one.
func TestCRDDescribesEveryField(t *testing.T) {
	s := server(t)
	schema := s.crd(t).Spec.Versions[0].Schema.OpenAPIV3Schema
	var missing []string
	var walk func(path string, p apiextensionsv1.JSONSchemaProps)
	walk = func(path string, p apiextensionsv1.JSONSchemaProps) {
		if strings.TrimSpace(p.Description) == "" {
			missing = append(missing, path)
		}
		for name, child := range p.Properties {
			walk(path+"."+name, child)
		}
		if p.Items != nil && p.Items.Schema != nil {
			// An item's description is its list's; check the item's fields.
			for name, child := range p.Items.Schema.Properties {
				walk(path+"[]."+name, child)
			}
		}
		if p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil {
			for name, child := range p.AdditionalProperties.Schema.Properties {
				walk(path+"{}."+name, child)
			}
		}
	}
	for _, top := range []string{"spec", "status"} {
		p, ok := schema.Properties[top]
		if !ok {
			t.Fatalf("the schema has no %s", top)
		}
		walk(top, p)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d properties without a description (kubectl explain shows nothing for them):\n%s",
			len(missing), strings.Join(missing, "\n"))
	}
	spec := schema.Properties["spec"].Properties
	for _, field := range []string{"replicas", "image", "imagePullPolicy", "resources", "storage", "pod", "raft", "persistentVolumeClaimRetentionPolicy"} {
		if _, ok := spec[field]; !ok {
			t.Errorf("spec.%s is missing from the schema", field)
		}
	}
}

// TestKubectlExplain runs the pinned kubectl against the API server, through
// the short name, as a user would.
func TestKubectlExplain(t *testing.T) {
	s := server(t)
	tests := []struct {
		field string
		want  []string
	}{
		{"raft.spec.raft", []string{"electionTicks", "Ticks a follower waits", "Raft timing"}},
		{"raft.spec.replicas", []string{"Number of voting members", "odd number is recommended"}},
		{"raft.spec.persistentVolumeClaimRetentionPolicy.whenScaled", []string{"stale", "Delete", "Retain"}},
		{"raftclusters.status.members.id", []string{"hexadecimal"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			out, err := s.Kubectl("explain", tt.field)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
					t.Errorf("kubectl explain %s lacks %q:\n%s", tt.field, w, out)
				}
			}
		})
	}
}
