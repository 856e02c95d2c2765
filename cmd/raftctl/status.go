package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftkube/raftkube/raftnode/client"
	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// statusRow is the JSON form of one endpoint's status.
type statusRow struct {
	Endpoint     string `json:"endpoint"`
	ID           string `json:"id,omitempty"`
	Name         string `json:"name,omitempty"`
	Role         string `json:"role,omitempty"`
	Term         uint64 `json:"term,omitempty"`
	Leader       string `json:"leader,omitempty"`
	CommitIndex  uint64 `json:"commit_index,omitempty"`
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	// LastLog is the last entry of the member's log as term/index: the
	// highest is the most up-to-date member (see member force-new-cluster).
	LastLog string `json:"last_log,omitempty"`
	Config  string `json:"config,omitempty"`
	Removed bool   `json:"removed,omitempty"`
	// TLS is the TLS material in force (JSON output only), to follow a
	// certificate or CA rotation.
	TLS   *tlsRow `json:"tls,omitempty"`
	Error string  `json:"error,omitempty"`
}

// tlsRow is serverpb.TLSStatus: SHA-256 fingerprints, as tlsconfig.Fingerprint.
type tlsRow struct {
	PeerTrustedCAs    []string `json:"peer_trusted_cas,omitempty"`
	ClientTrustedCAs  []string `json:"client_trusted_cas,omitempty"`
	PeerCertificate   string   `json:"peer_certificate,omitempty"`
	ClientCertificate string   `json:"client_certificate,omitempty"`
}

func roleName(r serverpb.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

func toStatusRow(s client.EndpointStatus) statusRow {
	if s.Err != nil {
		return statusRow{Endpoint: s.Endpoint, Error: s.Err.Error()}
	}
	st := s.Status
	r := statusRow{Endpoint: s.Endpoint, ID: hexID(st.GetHeader().GetMemberId()), Name: st.GetSelf().GetName(),
		Role: roleName(st.GetRole()), Term: st.GetHeader().GetTerm(), CommitIndex: st.GetCommitIndex(),
		AppliedIndex: st.GetAppliedIndex(), Config: configString(st.GetConfiguration()), Removed: st.GetRemoved(),
		LastLog: fmt.Sprintf("%d/%d", st.GetLastLogTerm(), st.GetLastLogIndex())}
	if l := st.GetHeader().GetLeaderId(); l != 0 {
		r.Leader = hexID(l)
	}
	if t := st.GetTls(); t != nil {
		r.TLS = &tlsRow{PeerTrustedCAs: t.GetPeerTrustedCas(), ClientTrustedCAs: t.GetClientTrustedCas(),
			PeerCertificate: t.GetPeerCertificate(), ClientCertificate: t.GetClientCertificate()}
	}
	return r
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show every endpoint's status; exits 1 if any endpoint failed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				sts, err := c.ClusterStatus(ctx)
				if err != nil {
					return err
				}
				out := make([]statusRow, 0, len(sts))
				rows := [][]string{{"ENDPOINT", "ID", "NAME", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST_LOG", "CONFIG", "ERROR"}}
				failed := 0
				for _, s := range sts {
					r := toStatusRow(s)
					out = append(out, r)
					if r.Error != "" {
						failed++
						rows = append(rows, []string{r.Endpoint, "-", "-", "-", "-", "-", "-", "-", "-", "-", r.Error})
						continue
					}
					if r.Removed {
						r.Role += " (removed)"
					}
					rows = append(rows, []string{r.Endpoint, r.ID, r.Name, r.Role, u(r.Term), r.Leader, u(r.CommitIndex), u(r.AppliedIndex), r.LastLog, r.Config, ""})
				}
				if err := a.emit(out, rows); err != nil {
					return err
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d endpoints failed", failed, len(sts))
				}
				return nil
			})
		},
	}
}

func (a *app) transferLeaderCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader ID",
		Short: "Hand leadership to the voter with this hex id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				resp, err := c.TransferLeadership(ctx, id)
				if err != nil {
					return err
				}
				v := struct {
					Leader string `json:"leader"`
					Term   uint64 `json:"term"`
				}{hexID(resp.GetHeader().GetLeaderId()), resp.GetHeader().GetTerm()}
				return a.emit(v, [][]string{{"LEADER", "TERM"}, {v.Leader, u(v.Term)}})
			})
		},
	}
}

// addEndpoint adds ep ("" for none) to --endpoints unless it is there.
func (a *app) addEndpoint(ep string) {
	if ep != "" && !containsEndpoint(a.endpoints, ep) {
		a.endpoints = append(a.endpoints, ep)
	}
}

func containsEndpoint(eps []string, ep string) bool {
	for _, e := range eps {
		if strings.TrimSpace(e) == ep {
			return true
		}
	}
	return false
}
