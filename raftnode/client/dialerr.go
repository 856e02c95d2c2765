package client

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// dialOptions are the options of ep's connection: params, the recorder of
// requests that left the client (sendRecorder), a dialer that
// remembers why connecting failed (TCP errors) and, with Config.TLS,
// credentials that remember failed handshakes (a certificate the member
// refused, or one that does not name the endpoint); then Config.DialOptions,
// which win.
func (c *Client) dialOptions(ep string, params grpc.DialOption) []grpc.DialOption {
	record := func(err error) {
		c.mu.Lock()
		c.dialErr[ep] = err
		c.mu.Unlock()
	}
	opts := []grpc.DialOption{params, grpc.WithStatsHandler(sendRecorder{}), grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		record(err)
		return conn, err
	})}
	if c.cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(recordingCreds{credentials.NewTLS(c.cfg.TLS), record}))
	}
	return append(opts, c.cfg.DialOptions...)
}

// recordingCreds reports the outcome of every client handshake.
type recordingCreds struct {
	credentials.TransportCredentials
	record func(error)
}

func (r recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, conn)
	r.record(err)
	return c, info, err
}

func (r recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{r.TransportCredentials.Clone(), r.record}
}
