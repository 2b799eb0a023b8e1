// Package client connects to an apiary queen: plaintext on loopback, or mutual TLS verifying the
// server's SPIFFE ID (spiffe://apiary/queen/<name>) against the cluster's CA, with an optional
// bearer token, as apiary's own CLI does.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// QueenIDPrefix is the SPIFFE ID prefix every queen's certificate carries.
const QueenIDPrefix = "spiffe://apiary/queen/"

// Options says how to reach a queen.
type Options struct {
	// Address: "http://127.0.0.1:7833", "https://queen.example:7833" or "host:port" (TLS when CAFile is set).
	Address string
	// CA bundle that issued the server's certificate; setting it means TLS.
	CAFile string
	// Client certificate and key for mutual TLS.
	CertFile, KeyFile string
	// Bearer token sent with every call (over plaintext only to loopback).
	Token string
	// SPIFFE ID the server must present, or a prefix ending in "/"; default QueenIDPrefix.
	ServerID string
}

// Dial opens a connection to the queen; it connects lazily, on the first call.
func Dial(opts Options) (*grpc.ClientConn, error) {
	target, useTLS, err := parseAddress(opts.Address, opts.CAFile != "")
	if err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{}
	if useTLS {
		cfg, err := tlsConfig(opts)
		if err != nil {
			return nil, err
		}
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		if opts.Token != "" && !isLoopback(target) {
			return nil, fmt.Errorf("refusing to send a token over plaintext to %s: use https", target)
		}
		dialOpts = append(dialOpts, grpc.WithInsecure())
	}
	if opts.Token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{token: opts.Token, secure: useTLS}))
	}
	return grpc.Dial(target, dialOpts...)
}

func parseAddress(address string, haveCA bool) (target string, useTLS bool, err error) {
	if !strings.Contains(address, "://") {
		return address, haveCA, nil
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("address %q: not a URL or host:port", address)
	}
	switch u.Scheme {
	case "http":
		return u.Host, false, nil
	case "https":
		return u.Host, true, nil
	}
	return "", false, fmt.Errorf("address %q: scheme must be http or https", address)
}

func isLoopback(target string) bool {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig verifies the chain against the CA and the SPIFFE ID in the URI SAN instead of a host
// name: apiary's server certificates need not name the address they are reached by.
func tlsConfig(opts Options) (*tls.Config, error) {
	if opts.CAFile == "" {
		return nil, errors.New("TLS needs CAFile (the cluster's CA)")
	}
	pem, err := os.ReadFile(opts.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", opts.CAFile)
	}
	want := opts.ServerID
	if want == "" {
		want = QueenIDPrefix
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate below, which checks chain and identity
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyServer(raw, roots, want)
		},
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func verifyServer(raw [][]byte, roots *x509.CertPool, want string) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	var ids []string
	for _, u := range certs[0].URIs {
		id := u.String()
		if id == want || (strings.HasSuffix(want, "/") && strings.HasPrefix(id, want) && len(id) > len(want)) {
			return nil
		}
		ids = append(ids, id)
	}
	return fmt.Errorf("server identity %v is not %s", ids, want)
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
