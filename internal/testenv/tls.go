package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSCerts is a throw-away certificate authority and a server certificate
// for 127.0.0.1 signed by it, as PEM files in a dir of the test.
type TLSCerts struct {
	// Dir holds the files.
	Dir string
	// CAFile is the CA's certificate (ca.pem): what a client verifies the
	// server against (tls_ca= of a rediss:// URL).
	CAFile string
	// CertFile and KeyFile are the server's certificate (server.pem, with
	// the IP address 127.0.0.1) and its private key (server.key).
	CertFile, KeyFile string
}

// NewTLSCerts makes a CA and a server certificate for 127.0.0.1 signed by
// it, valid for an hour, in a temporary dir of t.
func NewTLSCerts(t testing.TB) *TLSCerts {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, err := writeCert(dir, "ca", nil, nil)
	if err == nil {
		_, _, err = writeCert(dir, "server", ca, caKey)
	}
	if err != nil {
		t.Fatalf("testenv: certificates: %v", err)
	}
	return &TLSCerts{
		Dir:      dir,
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server.key"),
	}
}

// tlsConfig returns a TLS client configuration that trusts the CA and
// checks the name 127.0.0.1.
func (c *TLSCerts) tlsConfig() (*tls.Config, error) {
	pemCA, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("testenv: no certificate in %s", c.CAFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

// copyTo copies the three files into dir (a server's own dir, which its
// service account can read) and returns the copies.
func (c *TLSCerts) copyTo(dir, user string) (*TLSCerts, error) {
	out := &TLSCerts{Dir: dir}
	for _, f := range []struct {
		from string
		to   *string
	}{
		{c.CAFile, &out.CAFile}, {c.CertFile, &out.CertFile}, {c.KeyFile, &out.KeyFile},
	} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return nil, err
		}
		*f.to = filepath.Join(dir, filepath.Base(f.from))
		if err := os.WriteFile(*f.to, b, 0o600); err != nil {
			return nil, err
		}
		if err := chownToUser(*f.to, user); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeCert writes name.pem and name.key: a CA if parent is nil, else a
// server certificate for 127.0.0.1 signed by parent.
func writeCert(dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "phpsess test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}
