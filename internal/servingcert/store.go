package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/servingcert"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TLSSecret holds the webhook server's CA and serving certificate in the
// platform namespace, shared by every replica.
const TLSSecret = "toolforge-admission-tls"

// certSource serves the webhook's certificate and tells the installer the
// CA bundle the API server must trust.
type certSource interface {
	Start(ctx context.Context) error
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// CABundle is the PEM bundle for the webhook configurations, nil
	// until known.
	CABundle() []byte
	// Changed receives a value when the bundle changes.
	Changed() <-chan struct{}
}

// notifier coalesces change notifications.
type notifier struct{ ch chan struct{} }

func newNotifier() notifier                 { return notifier{ch: make(chan struct{}, 1)} }
func (n notifier) Changed() <-chan struct{} { return n.ch }
func (n notifier) notify() {
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

// secretCerts generates and rotates the CA and serving certificate and
// keeps them in the Secret, so replicas and restarts share one CA. Only the
// leader writes; every replica serves what the Secret holds.
type secretCerts struct {
	notifier
	client    client.Client
	namespace string
	rotation  rotation
	elected   <-chan struct{}
	interval  time.Duration
	now       func() time.Time
	log       *slog.Logger

	cert   atomic.Pointer[tls.Certificate]
	mu     sync.Mutex
	bundle []byte
}

func (s *secretCerts) NeedLeaderElection() bool { return false }

func (s *secretCerts) Start(ctx context.Context) error {
	for {
		wait := s.interval
		if err := s.sync(ctx); err != nil {
			s.log.Error("serving certificate not synced; retrying", "err", err)
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *secretCerts) leader() bool {
	select {
	case <-s.elected:
		return true
	default:
		return false
	}
}

// sync reads the Secret, rotates what is due (leader only), and serves
// the result.
func (s *secretCerts) sync(ctx context.Context) error {
	var secret corev1.Secret
	key := client.ObjectKey{Namespace: s.namespace, Name: TLSSecret}
	err := s.client.Get(ctx, key, &secret)
	missing := apierrors.IsNotFound(err)
	if err != nil && !missing {
		return fmt.Errorf("read Secret %s: %w", key, err)
	}
	st := stateFromData(secret.Data)
	if s.leader() {
		changed, err := s.rotation.rotate(st, s.now())
		if err != nil {
			return err
		}
		if changed {
			secret.Data = st.toData()
			secret.Type = corev1.SecretTypeOpaque
			if missing {
				secret.ObjectMeta = metav1.ObjectMeta{Name: TLSSecret, Namespace: s.namespace, Labels: managedLabels()}
				err = s.client.Create(ctx, &secret)
			} else {
				err = s.client.Update(ctx, &secret)
			}
			if err != nil {
				// Another replica wrote first (AlreadyExists, Conflict):
				// the next sync serves what it wrote.
				return fmt.Errorf("write Secret %s: %w", key, err)
			}
			s.log.Info("serving certificate written", "secret", key.String())
		}
	} else if missing {
		return fmt.Errorf("Secret %s does not exist yet (the leader makes it)", key)
	}
	return s.serve(st)
}

func (s *secretCerts) serve(st *tlsState) error {
	pair, err := tls.X509KeyPair(st.Cert, st.Key)
	if err != nil {
		return fmt.Errorf("load serving certificate: %w", err)
	}
	if cur := s.cert.Load(); cur == nil || !bytes.Equal(cur.Certificate[0], pair.Certificate[0]) {
		s.cert.Store(&pair)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(s.bundle, st.Bundle) {
		s.bundle = bytes.Clone(st.Bundle)
		s.notify()
	}
	return nil
}

func (s *secretCerts) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no serving certificate yet")
}

func (s *secretCerts) CABundle() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bundle
}

// dirCerts serves a certificate someone else manages (cert-manager, a
// mounted Secret): tls.crt, tls.key and the CA that signed them, ca.crt,
// reloaded when they change.
type dirCerts struct {
	notifier
	dir      string
	interval time.Duration
	watcher  *certwatcher.CertWatcher
	log      *slog.Logger

	mu     sync.Mutex
	bundle []byte
}

func newDirCerts(dir string, interval time.Duration, log *slog.Logger) (*dirCerts, error) {
	w, err := certwatcher.New(filepath.Join(dir, keyCert), filepath.Join(dir, keyKey))
	if err != nil {
		return nil, fmt.Errorf("--admission-cert-dir: %w", err)
	}
	d := &dirCerts{notifier: newNotifier(), dir: dir, interval: interval, watcher: w, log: log}
	if err := d.readBundle(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *dirCerts) NeedLeaderElection() bool { return false }

func (d *dirCerts) Start(ctx context.Context) error {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.interval):
				if err := d.readBundle(); err != nil {
					d.log.Error("CA bundle not reloaded", "err", err)
				}
			}
		}
	}()
	return d.watcher.Start(ctx)
}

func (d *dirCerts) readBundle() error {
	data, err := os.ReadFile(filepath.Join(d.dir, keyCACert))
	if err != nil {
		return fmt.Errorf("--admission-cert-dir: %w", err)
	}
	if _, err := servingcert.ParseCert(data); err != nil {
		return fmt.Errorf("--admission-cert-dir: %s: %w", keyCACert, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !bytes.Equal(d.bundle, data) {
		d.bundle = data
		d.notify()
	}
	return nil
}

func (d *dirCerts) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return d.watcher.GetCertificate(h)
}

func (d *dirCerts) CABundle() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bundle
}
