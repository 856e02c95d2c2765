package k8stools

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var (
	// requireKubernetes matches the k8s.io/kubernetes requirement in our go.mod,
	// on a require line or inside a require block.
	requireKubernetes = regexp.MustCompile(`(?m)^(?:require\s+|\s+)k8s\.io/kubernetes\s+(v1\.(\d+)\.(\d+))\s*$`)
	// stagingReplace matches a replace line of k8s.io/kubernetes's go.mod:
	// "k8s.io/api => ./staging/src/k8s.io/api".
	stagingReplace = regexp.MustCompile(`^\s*(?:replace\s+)?(\S+)\s+=>\s+\./staging/src/(\S+)\s*$`)
	// ourReplace matches a replace line of our go.mod: "k8s.io/api => k8s.io/api v0.37.2".
	ourReplace = regexp.MustCompile(`^\s*(?:replace\s+)?(\S+)\s+=>\s+(\S+)\s+(\S+)\s*$`)
)

// TestStagingReplaces checks that go.mod replaces every staging module of the
// pinned k8s.io/kubernetes, and only those, each with the same path at the
// v0.MINOR.PATCH matching v1.MINOR.PATCH: a release bump that forgets one fails
// here rather than as a confusing build error.
func TestStagingReplaces(t *testing.T) {
	ours, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	m := requireKubernetes.FindSubmatch(ours)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/kubernetes at a v1.MINOR.PATCH release")
	}
	version := string(m[1])
	stagingVersion := fmt.Sprintf("v0.%s.%s", m[2], m[3])

	theirs, err := os.ReadFile(kubernetesGoMod(t, version))
	if err != nil {
		t.Fatalf("read k8s.io/kubernetes@%s go.mod: %v", version, err)
	}
	want := map[string]bool{}
	for _, line := range lines(theirs) {
		if s := stagingReplace.FindStringSubmatch(line); s != nil {
			if s[1] != s[2] {
				t.Fatalf("k8s.io/kubernetes@%s: unexpected staging replace %q", version, line)
			}
			want[s[1]] = true
		}
	}
	if len(want) == 0 {
		t.Fatalf("k8s.io/kubernetes@%s: no staging replaces found in its go.mod", version)
	}

	got := map[string]bool{}
	for _, line := range lines(ours) {
		r := ourReplace.FindStringSubmatch(line)
		if r == nil {
			continue
		}
		from, to, v := r[1], r[2], r[3]
		if !want[from] {
			t.Errorf("go.mod replaces %s, which is not a staging module of k8s.io/kubernetes@%s", from, version)
			continue
		}
		if to != from || v != stagingVersion {
			t.Errorf("go.mod: %s => %s %s, want %s => %s %s", from, to, v, from, from, stagingVersion)
		}
		got[from] = true
	}
	var missing []string
	for mod := range want {
		if !got[mod] {
			missing = append(missing, mod)
		}
	}
	sort.Strings(missing)
	for _, mod := range missing {
		t.Errorf("go.mod lacks: %s => %s %s", mod, mod, stagingVersion)
	}
}

// kubernetesGoMod returns the path of k8s.io/kubernetes@version's go.mod in the
// module cache, downloading it if needed.
func kubernetesGoMod(t *testing.T, version string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+version).Output()
	if err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: %v", version, err)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: decode %q: %v", version, out, err)
	}
	if info.Error != "" || info.GoMod == "" {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: no go.mod (error %q)", version, info.Error)
	}
	return info.GoMod
}

func lines(b []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		out = append(out, strings.TrimSpace(strings.SplitN(s.Text(), "//", 2)[0]))
	}
	return out
}
