// Package credentials keeps an account's client certificate in its home:
// an ECDSA P-256 key and a certificate from the cluster's
// kube-apiserver-client signer, obtained through a CertificateSigningRequest
// that the controller approves and deletes, renewed before it expires.
package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/accounts/account"
	"github.com/toolforge-go/toolforge/internal/homefs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Credential file modes: only the owner may read the key and certificate.
const credentialMode = 0o400

// Identity is whom a certificate is for.
type Identity struct {
	CN, Org     string
	AccountType string
	Labels      map[string]string // put on the CSR, for garbage collection
}

// Credentials are a certificate and its key as found in, or written to, a
// credentials directory.
type Credentials struct {
	NotBefore   time.Time
	NotAfter    time.Time
	Fingerprint string // sha256 of the certificate's DER
}

// Issuer keeps accounts' credentials.
type Issuer struct {
	// W reads the CSRs it waits for from the cache.
	W    account.Writer
	Kube kubernetes.Interface
	Log  *slog.Logger
	// Lifetime of issued certificates; they are renewed when less than
	// RenewBefore is left.
	Lifetime, RenewBefore time.Duration
}

// Ensure keeps valid credentials in <home>/<dirName> or issues new ones;
// issued says which. fingerprint is the certificate issued last (from the
// account's marker).
func (i *Issuer) Ensure(ctx context.Context, home *homefs.Dir, dirName string, id Identity, fingerprint string) (creds Credentials, issued bool, err error) {
	dir, err := home.Subdir(dirName, 0o700)
	if err != nil {
		return Credentials{}, false, err
	}
	defer dir.Close()
	if err := dir.RemoveTemporaries(); err != nil {
		return Credentials{}, false, err
	}
	creds, reason, err := i.check(dir, id, fingerprint)
	if err != nil || reason == "" {
		return creds, false, err
	}
	i.Log.Debug("issuing certificate", "account", id.CN, "type", id.AccountType, "reason", reason)
	creds, err = i.issue(ctx, dir, id)
	if err != nil {
		return Credentials{}, false, err
	}
	return creds, true, nil
}

// UntilRenewal is how long c is good for before it is renewed (at least a
// minute).
func (i *Issuer) UntilRenewal(c Credentials) time.Duration {
	return max(time.Until(c.NotAfter)-i.RenewBefore, time.Minute)
}

// checkCredentials reads the key and certificate in dir and says why they
// must be replaced, or "" when they can stay: they parse, match each other
// and the identity, are the certificate this controller issued last
// (fingerprint, from the marker), and are not due for renewal. Files with
// the wrong mode, owner or links are rewritten with the same content.
func (i *Issuer) check(dir *homefs.Dir, id Identity, fingerprint string) (Credentials, string, error) {
	certPEM, certInfo, err := dir.Read(tenancy.CertFile)
	if err != nil {
		return Credentials{}, "no readable certificate", nil
	}
	keyPEM, keyInfo, err := dir.Read(tenancy.KeyFile)
	if err != nil {
		return Credentials{}, "no readable key", nil
	}
	cert, reason := parseMatching(certPEM, keyPEM)
	if reason != "" {
		return Credentials{}, reason, nil
	}
	c := Credentials{NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Fingerprint: sha256Hex(cert.Raw)}
	switch {
	case fingerprint == "":
		return c, "no record of the issued certificate", nil
	case c.Fingerprint != fingerprint:
		return c, "not the certificate issued last", nil
	case cert.Subject.CommonName != id.CN || strings.Join(cert.Subject.Organization, ",") != id.Org:
		return c, "issued to someone else", nil
	case time.Until(cert.NotAfter) < i.RenewBefore:
		return c, "due for renewal", nil
	}
	for name, info := range map[string]homefs.FileInfo{tenancy.CertFile: certInfo, tenancy.KeyFile: keyInfo} {
		if dir.Drifted(info, credentialMode) {
			data := certPEM
			if name == tenancy.KeyFile {
				data = keyPEM
			}
			if err := dir.Write(name, data, credentialMode); err != nil {
				return c, "", err
			}
		}
	}
	return c, "", nil
}

func parseMatching(certPEM, keyPEM []byte) (*x509.Certificate, string) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, "certificate or key is not PEM"
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, "certificate does not parse"
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, "key does not parse"
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, "key does not match the certificate"
	}
	return cert, ""
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// issue obtains a new client certificate from the cluster's signer: a fresh
// ECDSA P-256 key, a CertificateSigningRequest for
// kubernetes.io/kube-apiserver-client, approved by this controller and
// signed by the controller-manager. The CSR is deleted afterwards, however
// the attempt ends. Key then certificate are written to dir.
func (i *Issuer) issue(ctx context.Context, dir *homefs.Dir, id Identity) (Credentials, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credentials{}, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: id.CN, Organization: []string{id.Org}},
	}, key)
	if err != nil {
		return Credentials{}, fmt.Errorf("create CSR: %w", err)
	}
	seconds := int32(i.Lifetime.Seconds())
	csr := &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("toolforge-%s-%s-%s", id.AccountType, id.CN, utilrand.String(6)),
			Labels: id.Labels,
		},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        certv1.KubeAPIServerClientSignerName,
			ExpirationSeconds: &seconds,
			Usages:            []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}
	csrs := i.Kube.CertificatesV1().CertificateSigningRequests()
	csr, err = csrs.Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return Credentials{}, fmt.Errorf("create CertificateSigningRequest for %s: %w", id.CN, err)
	}
	defer func() {
		// Not ctx: a cancelled pass must still clean up after itself.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := csrs.Delete(dctx, csr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			i.Log.Warn("delete CSR", "csr", csr.Name, "err", err)
		}
	}()
	csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type:    certv1.CertificateApproved,
		Status:  corev1.ConditionTrue,
		Reason:  "ToolforgeAccount",
		Message: "approved by toolforged accounts for a provisioned account",
	})
	if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return Credentials{}, fmt.Errorf("approve CSR %s: %w", csr.Name, err)
	}
	certPEM, err := i.waitSigned(ctx, csr.Name)
	if err != nil {
		return Credentials{}, err
	}
	cert, reason := parseMatching(certPEM, pemKey(key))
	if reason != "" {
		return Credentials{}, fmt.Errorf("signed certificate for %s: %s", id.CN, reason)
	}
	// Key first: a crash between the two writes leaves a key that matches
	// no certificate, which the next check replaces.
	if err := dir.Write(tenancy.KeyFile, pemKey(key), credentialMode); err != nil {
		return Credentials{}, err
	}
	if err := dir.Write(tenancy.CertFile, certPEM, credentialMode); err != nil {
		return Credentials{}, err
	}
	return Credentials{NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Fingerprint: sha256Hex(cert.Raw)}, nil
}

func pemKey(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// signTimeout bounds the wait for the controller-manager's signer.
const signTimeout = 2 * time.Minute

// waitSigned polls the (cached) CSR until the signer has issued it.
func (i *Issuer) waitSigned(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, signTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		var csr certv1.CertificateSigningRequest
		if err := i.W.Client.Get(ctx, client.ObjectKey{Name: name}, &csr); err == nil {
			for _, c := range csr.Status.Conditions {
				if c.Type == certv1.CertificateFailed || c.Type == certv1.CertificateDenied {
					return nil, fmt.Errorf("CSR %s %s: %s", name, c.Type, c.Message)
				}
			}
			if len(csr.Status.Certificate) > 0 {
				return csr.Status.Certificate, nil
			}
		} else if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("get CSR %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("CSR %s not signed after %s; is the controller-manager's kube-apiserver-client signer running?", name, signTimeout)
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// CollectCSRs deletes CSRs the controller created that no attempt is
// waiting for: leftovers of a crash (their keys died with the process).
// Call it before any attempt starts.
func (i *Issuer) CollectCSRs(ctx context.Context) error {
	var list certv1.CertificateSigningRequestList
	if err := i.W.APIReader.List(ctx, &list, client.MatchingLabels(account.Owned())); err != nil {
		return fmt.Errorf("list leftover CSRs: %w", err)
	}
	var errs []error
	for k := range list.Items {
		if err := i.W.Client.Delete(ctx, &list.Items[k]); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(list.Items) > 0 {
		i.Log.Info("deleted leftover CSRs", "count", len(list.Items))
	}
	return errors.Join(errs...)
}
