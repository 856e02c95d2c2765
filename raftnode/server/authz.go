package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/raftkube/raftkube/raftnode/server/serverpb"
)

// When the client port verifies client certificates, calls are authorized
// by the verified certificate: any call needs one (codes.Unauthenticated,
// serverpb.ReasonUnauthenticated without), and every Admin method but
// Status needs the admin organization in it (codes.PermissionDenied,
// serverpb.ReasonPermissionDenied): those change the cluster or write to a
// member's disk. KV and Status are open to any certificate of the CA. A
// method added to Admin later is admin-only until listed here.
//
// The handshake lets callers without a certificate through
// (tlsconfig.Files.ClientCertOptional) so that they get this answer instead
// of a broken connection; a certificate of another CA still fails it.
var openToAnyIdentity = map[string]bool{serverpb.Admin_Status_FullMethodName: true}

// adminMethod reports whether method belongs to the Admin service.
func adminMethod(method string) bool {
	return strings.HasPrefix(method, "/"+serverpb.Admin_ServiceDesc.ServiceName+"/")
}

// authorize checks the caller of method; nil when the client port checks no
// identities (plaintext, or server-only TLS: an explicit opt-out).
func (s *Server) authorize(ctx context.Context, method string) error {
	if !s.creds.clientIdentity {
		return nil
	}
	p, _ := peer.FromContext(ctx)
	var info credentials.TLSInfo
	if p != nil {
		info, _ = p.AuthInfo.(credentials.TLSInfo)
	}
	chains := info.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return serverpb.ReasonError(codes.Unauthenticated, serverpb.ReasonUnauthenticated,
			fmt.Sprintf("member %x requires a client certificate signed by the cluster's CA, and the call came without one", s.id))
	}
	if !adminMethod(method) || openToAnyIdentity[method] {
		return nil
	}
	leaf := chains[0][0]
	org := s.cfg.ClientAdminOrganization
	if !slices.Contains(leaf.Subject.Organization, org) {
		return serverpb.ReasonError(codes.PermissionDenied, serverpb.ReasonPermissionDenied,
			fmt.Sprintf("%s needs a client certificate with organization %q; the caller's certificate %q has none such",
				strings.TrimPrefix(method, "/raftkube.node.v1."), org, leaf.Subject.String()))
	}
	return nil
}

// authorizeUnary and authorizeStream are the client port's first interceptors.
func (s *Server) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}
