package controlplane

import (
	"encoding/base64"
	"fmt"
)

// Kubeconfig renders an admin kubeconfig for server, trusting caPEM inline so
// the file stays valid wherever it is copied.
func Kubeconfig(server string, caPEM []byte, token string) []byte {
	return kubeconfig(server, caPEM, "admin", "    token: "+token+"\n")
}

// ClientCertKubeconfig renders a kubeconfig for user that authenticates
// with a client certificate (the kubelet's system:node:NAME), everything
// inline.
func ClientCertKubeconfig(server string, caPEM, certPEM, keyPEM []byte, user string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return kubeconfig(server, caPEM, user, fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", b64(certPEM), b64(keyPEM)))
}

// kubeconfig is a one-cluster, one-user kubeconfig; credentials are the
// user's fields, indented under `user:`.
func kubeconfig(server string, caPEM []byte, user, credentials string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: localkube
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
%scontexts:
- name: localkube
  context:
    cluster: localkube
    user: %s
current-context: localkube
`, server, base64.StdEncoding.EncodeToString(caPEM), user, credentials, user)
}
