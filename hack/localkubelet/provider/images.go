package provider

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// HostCommand is the binary a table entry names when the container's own
// command[0] is to be looked up on the host's PATH (useful for generic images
// such as busybox in tests: `busybox=@command`).
const HostCommand = "@command"

// ImageTable maps container images to local binaries: there is no container
// runtime and no registry, so an image is only a name for a program on this
// machine.
//
// An entry's key is either a full image reference with tag
// ("raftkube/raftnode:dev") or a repository without tag ("raftkube/raftnode"),
// which matches any tag. Exact references win over repository entries.
type ImageTable map[string]string

// ParseImageEntry parses one "IMAGE=BINARY" entry.
func ParseImageEntry(s string) (image, binary string, err error) {
	image, binary, ok := strings.Cut(strings.TrimSpace(s), "=")
	image, binary = strings.TrimSpace(image), strings.TrimSpace(binary)
	if !ok || image == "" || binary == "" {
		return "", "", fmt.Errorf("image entry %q: want IMAGE=BINARY", s)
	}
	return image, binary, nil
}

// Add parses entries of the form IMAGE=BINARY into the table.
func (t ImageTable) Add(entries ...string) error {
	for _, e := range entries {
		image, binary, err := ParseImageEntry(e)
		if err != nil {
			return err
		}
		t[image] = binary
	}
	return nil
}

// Load reads IMAGE=BINARY lines from r; blank lines and lines starting with
// '#' are skipped.
func (t ImageTable) Load(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := t.Add(line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// LoadFile reads an image table file (see Load).
func (t ImageTable) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open image table: %w", err)
	}
	defer f.Close()
	if err := t.Load(f); err != nil {
		return fmt.Errorf("image table %s: %w", path, err)
	}
	return nil
}

// Lookup returns the binary for image, or false when the table has no entry.
func (t ImageTable) Lookup(image string) (string, bool) {
	if b, ok := t[image]; ok {
		return b, true
	}
	b, ok := t[repository(image)]
	return b, ok
}

// repository strips the tag or digest from an image reference. A colon
// before the last '/' belongs to a registry host:port, not to a tag.
func repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image = image[:i]
	}
	return image
}
