package controlplane

import (
	"encoding/base64"
	"fmt"
)

// Kubeconfig renders an admin kubeconfig for server, trusting caPEM inline so
// the file stays valid wherever it is copied.
func Kubeconfig(server string, caPEM []byte, token string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: localkube
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: localkube
  context:
    cluster: localkube
    user: admin
current-context: localkube
`, server, base64.StdEncoding.EncodeToString(caPEM), token)
}
