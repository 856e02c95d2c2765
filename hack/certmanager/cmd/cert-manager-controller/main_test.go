package main

import (
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    config
		wantErr bool
	}{
		{
			name: "defaults are cert-manager's",
			args: []string{"--kubeconfig", "kc"},
			want: config{kubeconfig: "kc", clusterResourceNamespace: "kube-system", readyzAddress: "127.0.0.1:0",
				workers: 5, minBackoff: time.Hour, maxBackoff: 32 * time.Hour},
		},
		{
			name: "every flag",
			args: []string{"--kubeconfig", "kc", "--cluster-resource-namespace", "certs", "--readyz-address", "127.0.0.1:9",
				"--address-file", "f", "--workers", "2", "--certificate-request-minimum-backoff", "1s",
				"--certificate-request-maximum-backoff", "2s", "-v", "4"},
			want: config{kubeconfig: "kc", clusterResourceNamespace: "certs", readyzAddress: "127.0.0.1:9",
				addressFile: "f", workers: 2, minBackoff: time.Second, maxBackoff: 2 * time.Second},
		},
		{name: "no kubeconfig", args: nil, wantErr: true},
		{name: "stray argument", args: []string{"--kubeconfig", "kc", "extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error %v, want error %v", tt.args, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseFlags(%q) = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}
