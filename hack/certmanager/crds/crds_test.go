package crds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "copy the CRDs from the pinned module into this directory")

// names are the CRD files copied, as named in the module's deploy/crds.
var names = []string{
	"cert-manager.io_certificaterequests.yaml",
	"cert-manager.io_certificates.yaml",
	"cert-manager.io_clusterissuers.yaml",
	"cert-manager.io_issuers.yaml",
}

// moduleDir is where the go command keeps the pinned cert-manager module,
// downloading it if needed.
func moduleDir(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		t.Fatalf("locate the cert-manager module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go list names no directory for the cert-manager module")
	}
	return dir
}

func TestCRDsMatchPinnedModule(t *testing.T) {
	src := filepath.Join(moduleDir(t.Context(), t), "deploy", "crds")
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatalf("read the module's CRD: %v", err)
		}
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("read the committed CRD (go test ./crds -update copies it): %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run `go test ./crds -update` in hack/certmanager", name, filepath.Join(src, name))
		}
	}
	// A file the module no longer ships must not linger here.
	committed, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != len(names) {
		t.Errorf("committed CRDs %v, want exactly %v", committed, names)
	}
}

// TestChartInstallsTheSameSchemas guards the choice of deploy/crds as the
// source: the Helm chart's templates, with their template lines dropped, must
// carry the same spec, or the tests would run against CRDs users never get.
func TestChartInstallsTheSameSchemas(t *testing.T) {
	dir := moduleDir(t.Context(), t)
	for _, name := range names {
		tmpl, err := os.ReadFile(filepath.Join(dir, "deploy", "charts", "cert-manager", "templates", "crd-"+name))
		if err != nil {
			t.Fatalf("read the chart's CRD template: %v", err)
		}
		plain, err := os.ReadFile(filepath.Join(dir, "deploy", "crds", name))
		if err != nil {
			t.Fatal(err)
		}
		gotSpec, err := specOf(stripTemplateLines(tmpl))
		if err != nil {
			t.Fatalf("%s: the chart's template: %v", name, err)
		}
		wantSpec, err := specOf(plain)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if gotSpec != wantSpec {
			t.Errorf("%s: the chart's CRD spec differs from deploy/crds", name)
		}
	}
}

// stripTemplateLines drops the lines that hold Helm template actions; what
// they guard (labels, a keep annotation) lies outside the spec.
func stripTemplateLines(tmpl []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(tmpl) {
		if !bytes.Contains(line, []byte("{{")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// specOf returns a CRD's spec in canonical JSON, so two YAML layouts of one
// spec compare equal.
func specOf(doc []byte) (string, error) {
	var crd struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &crd); err != nil {
		return "", fmt.Errorf("parse CRD: %w", err)
	}
	if crd.Spec == nil {
		return "", errors.New("the CRD has no spec")
	}
	b, err := json.Marshal(crd.Spec)
	if err != nil {
		return "", fmt.Errorf("encode spec: %w", err)
	}
	return string(b), nil
}
