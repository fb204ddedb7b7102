package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ECDSA P-256 everywhere: generating it takes microseconds where RSA takes
// a noticeable part of a cluster's start-up on a small machine.
const certValidity = 10 * 365 * 24 * time.Hour

// pki is the files of a cluster's certificate authority and server keys.
type pki struct{ dir string }

func (p pki) caCert() string            { return filepath.Join(p.dir, "ca.crt") }
func (p pki) caKey() string             { return filepath.Join(p.dir, "ca.key") }
func (p pki) servingCert() string       { return filepath.Join(p.dir, "apiserver.crt") }
func (p pki) servingKey() string        { return filepath.Join(p.dir, "apiserver.key") }
func (p pki) serviceAccountKey() string { return filepath.Join(p.dir, "service-account.key") }

// generate writes a fresh CA, a serving certificate for the API server (valid
// for 127.0.0.1, localhost and the in-cluster service names) and the key
// that signs service account tokens.
func (p pki) generate(clusterName string) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "flotilla-local-ca-" + clusterName},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := sign(caTemplate, caKey.Public(), nil, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	servingKey, err := newKey()
	if err != nil {
		return err
	}
	servingDER, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(kubernetesServiceIP)},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		},
	}, servingKey.Public(), caCert, caKey)
	if err != nil {
		return err
	}

	saKey, err := newKey()
	if err != nil {
		return err
	}
	return writeAll(
		fileContent{p.caCert(), pemCert(caDER), 0o644},
		fileContent{p.caKey(), pemKey(caKey), 0o600},
		fileContent{p.servingCert(), pemCert(servingDER), 0o644},
		fileContent{p.servingKey(), pemKey(servingKey), 0o600},
		fileContent{p.serviceAccountKey(), pemKey(saKey), 0o600},
	)
}

// clientCert issues a client certificate for user in groups, signed by the
// cluster's CA: the API server maps CN to the user and O to the groups.
func (p pki) clientCert(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	caCert, caKey, err := p.loadCA()
	if err != nil {
		return nil, nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, key.Public(), caCert, caKey)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), pemKey(key), nil
}

func (p pki) loadCA() (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(p.caCert())
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(p.caKey())
	if err != nil {
		return nil, nil, err
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, fmt.Errorf("malformed CA in %s", p.dir)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// sign issues template for pub; a nil parent self-signs.
func sign(template *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	// Backdated a little so that a clock a second behind does not refuse it.
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(certValidity)
	if parent == nil {
		parent = template
	}
	return x509.CreateCertificate(rand.Reader, template, parent, pub, parentKey)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err) // only fails for curves x509 does not know; P-256 it knows
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

type fileContent struct {
	path string
	data []byte
	mode os.FileMode
}

func writeAll(files ...fileContent) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, os.WriteFile(f.path, f.data, f.mode))
	}
	return errors.Join(errs...)
}
