package image

import "github.com/raftkube/raftkube/hack/imagetool/layer"

// NonRootUser is the images' user, as UID:GID: the same numbers as
// distroless's "nonroot", which the chart's securityContext also names.
const NonRootUser = "65532:65532"

// AccountFiles are /etc/passwd and /etc/group naming root and nonroot
// (65532). Without them the numeric user still runs, but tools that look the
// user up (id, a Go program's os/user) find nothing. The home directory is /:
// the root filesystem is read-only, so a writable home would be pointless.
func AccountFiles() []layer.File {
	return []layer.File{
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/:/sbin/nologin\n")},
		{Path: "etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nonroot:x:65532:\n")},
	}
}
