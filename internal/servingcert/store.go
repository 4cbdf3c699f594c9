package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

// Source serves a server's certificate and tells who publishes the CA
// bundle (webhook configurations, the API's ConfigMap) what to trust. It
// is a controller-runtime Runnable that every replica runs.
type Source interface {
	Start(ctx context.Context) error
	NeedLeaderElection() bool
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// CABundle is the PEM bundle clients must trust, nil until known (or
	// when the certificate comes from a public CA).
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

// SecretStore generates and rotates a CA and serving certificate and keeps
// them in a Secret, so replicas and restarts share one CA and clients never
// see it flip. Only the elected replica writes (with optimistic
// concurrency: when replicas run without an election, the first write
// wins and the others serve it at their next sync); every replica serves
// what the Secret holds.
type SecretStore struct {
	notifier
	client    client.Client
	namespace string
	name      string
	labels    map[string]string
	rotation  Rotation
	elected   <-chan struct{}
	interval  time.Duration
	now       func() time.Time
	log       *slog.Logger

	cert   atomic.Pointer[tls.Certificate]
	mu     sync.Mutex
	bundle []byte
}

// SecretStoreOptions configure a SecretStore.
type SecretStoreOptions struct {
	// Client reads and writes the Secret directly (not from a cache).
	Client client.Client
	// Namespace and Name of the Secret; Labels it is made with.
	Namespace, Name string
	Labels          map[string]string
	Rotation        Rotation
	// Elected is closed when this replica may write (a manager's
	// Elected()); nil means always.
	Elected <-chan struct{}
	// Interval between syncs (re-reads, and rotation when due).
	Interval time.Duration
	Log      *slog.Logger
}

// NewSecretStore is a store of the certificate in a Secret.
func NewSecretStore(o SecretStoreOptions) *SecretStore {
	elected := o.Elected
	if elected == nil {
		always := make(chan struct{})
		close(always)
		elected = always
	}
	return &SecretStore{
		notifier: newNotifier(), client: o.Client, namespace: o.Namespace, name: o.Name, labels: o.Labels,
		rotation: o.Rotation, elected: elected, interval: o.Interval, now: time.Now, log: o.Log,
	}
}

func (s *SecretStore) NeedLeaderElection() bool { return false }

func (s *SecretStore) Start(ctx context.Context) error {
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

func (s *SecretStore) leader() bool {
	select {
	case <-s.elected:
		return true
	default:
		return false
	}
}

// sync reads the Secret, rotates what is due (leader only), and serves
// the result.
func (s *SecretStore) sync(ctx context.Context) error {
	var secret corev1.Secret
	key := client.ObjectKey{Namespace: s.namespace, Name: s.name}
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
				secret.ObjectMeta = metav1.ObjectMeta{Name: s.name, Namespace: s.namespace, Labels: s.labels}
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

func (s *SecretStore) serve(st *state) error {
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

func (s *SecretStore) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no serving certificate yet")
}

func (s *SecretStore) CABundle() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bundle
}

// DirStore serves a certificate someone else manages (cert-manager, a
// mounted Secret): tls.crt, tls.key and the CA that signed them, ca.crt,
// reloaded when they change.
type DirStore struct {
	notifier
	dir      string
	interval time.Duration
	watcher  *certwatcher.CertWatcher
	log      *slog.Logger

	mu     sync.Mutex
	bundle []byte
}

// NewDirStore serves the certificate in dir, re-reading ca.crt every
// interval (the key pair is watched).
func NewDirStore(dir string, interval time.Duration, log *slog.Logger) (*DirStore, error) {
	w, err := certwatcher.New(filepath.Join(dir, keyCert), filepath.Join(dir, keyKey))
	if err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	d := &DirStore{notifier: newNotifier(), dir: dir, interval: interval, watcher: w, log: log}
	if err := d.readBundle(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DirStore) NeedLeaderElection() bool { return false }

func (d *DirStore) Start(ctx context.Context) error {
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

func (d *DirStore) readBundle() error {
	data, err := os.ReadFile(filepath.Join(d.dir, keyCACert))
	if err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	if _, err := ParseCert(data); err != nil {
		return fmt.Errorf("certificate directory: %s: %w", keyCACert, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !bytes.Equal(d.bundle, data) {
		d.bundle = data
		d.notify()
	}
	return nil
}

func (d *DirStore) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return d.watcher.GetCertificate(h)
}

func (d *DirStore) CABundle() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bundle
}
