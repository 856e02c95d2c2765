package node

import (
	"encoding/json"
	"fmt"
)

// cniNetworkName names the node's CNI network (and host-local's data directory).
const cniNetworkName = "localkube"

// cniConfig is what the node's CNI network depends on.
type cniConfig struct {
	Bridge      string
	PodCIDR     string
	Gateway     string // the bridge's (node's) address
	ServiceCIDR string
	DataDir     string // host-local's allocations, under the state directory
}

// renderConflist renders the conflist: bridge (reusing the bridge the node
// made, as the pods' gateway; no masquerade and no default route, so pod
// traffic stays on the machine; hairpin so a pod reaches itself through a
// Service), host-local IPAM (a route only to the service range beside the pod range's own),
// and portmap for hostPort.
func renderConflist(c cniConfig) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cniNetworkName,
		"plugins": []any{
			map[string]any{
				"type":             "bridge",
				"bridge":           c.Bridge,
				"isGateway":        true,
				"isDefaultGateway": false,
				"ipMasq":           false,
				"hairpinMode":      true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": c.DataDir,
					"ranges": [][]map[string]string{{{
						"subnet":  c.PodCIDR,
						"gateway": c.Gateway,
					}}},
					// The pod range is the interface's own (connected) route.
					"routes": []map[string]string{{"dst": c.ServiceCIDR}},
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
			},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode CNI config: %w", err)
	}
	return append(data, '\n'), nil
}
