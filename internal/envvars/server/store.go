package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/toolforge-go/toolforge/internal/envvars"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/keymutex"

	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// managedBy labels the Secret.
const managedBy = "toolforge-envvars"

// writeBackoff retries a write that lost a race with another writer of the
// same Secret. Every writer of one tool contends for one object, so it
// allows many quick, jittered tries rather than client-go's default five.
var writeBackoff = wait.Backoff{Steps: 40, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// Store reads and writes a tool's variables. It reads the Secret from the
// API server every time: variables change rarely and a stale read would
// show a deleted token.
type Store struct {
	Kube kubernetes.Interface
	// locks serialize one process's writes per tool; optimistic
	// concurrency covers other processes (replicas).
	locks keymutex.KeyMutex
}

// NewStore is a store of the variables of every tool, through kube.
func NewStore(kube kubernetes.Interface) *Store {
	// Hashed stripes: a few hundred tools writing at once rarely share one.
	return &Store{Kube: kube, locks: keymutex.NewHashed(256)}
}

func (s *Store) secrets(tool string) secretsClient {
	return s.Kube.CoreV1().Secrets(tenancy.Namespace(tool))
}

type secretsClient = interface {
	Get(context.Context, string, metav1.GetOptions) (*corev1.Secret, error)
	Create(context.Context, *corev1.Secret, metav1.CreateOptions) (*corev1.Secret, error)
	Update(context.Context, *corev1.Secret, metav1.UpdateOptions) (*corev1.Secret, error)
}

// read is the tool's Secret, or nil when it has none yet.
func (s *Store) read(ctx context.Context, tool string) (*corev1.Secret, error) {
	sec, err := s.secrets(tool).Get(ctx, tenancy.EnvvarsSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read envvars of tool %q: %w", tool, err)
	}
	return sec, nil
}

// List is every variable, by name; values only with withValues.
func (s *Store) List(ctx context.Context, tool string, withValues bool) ([]envvars.Envvar, error) {
	sec, err := s.read(ctx, tool)
	if err != nil {
		return nil, err
	}
	out := []envvars.Envvar{}
	if sec == nil {
		return out, nil
	}
	for k, v := range sec.Data {
		e := envvars.Envvar{Name: k}
		if withValues {
			e.Value = string(v)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get is one variable.
func (s *Store) Get(ctx context.Context, tool, name string) (*envvars.Envvar, error) {
	sec, err := s.read(ctx, tool)
	if err != nil {
		return nil, err
	}
	if sec != nil {
		if v, ok := sec.Data[name]; ok {
			return &envvars.Envvar{Name: name, Value: string(v)}, nil
		}
	}
	return nil, route.NotFound("envvar %s does not exist", name)
}

// Set creates or replaces a variable and says whether it is new.
// Concurrent writers do not lose each other's variables: every write is
// conditional on the version read (optimistic concurrency), and retried.
func (s *Store) Set(ctx context.Context, tool, name, value string) (bool, error) {
	if err := envvars.ValidateName(name); err != nil {
		return false, route.BadRequest("%s", err.Error())
	}
	if err := envvars.ValidateValue(value); err != nil {
		return false, route.BadRequest("%s", err.Error())
	}
	s.locks.LockKey(tool)
	defer func() { _ = s.locks.UnlockKey(tool) }() // fails only for a key that is not locked
	var created bool
	err := retry.OnError(writeBackoff, conflictOrExists, func() error {
		sec, err := s.read(ctx, tool)
		if err != nil {
			return err
		}
		if sec == nil {
			created = true
			_, err := s.secrets(tool).Create(ctx, newSecret(tool, name, value), metav1.CreateOptions{})
			if apierrors.IsForbidden(err) {
				// Concurrent creates of the one Secret are each charged to
				// the quota before all but one fail as existing: if it
				// exists now, this was such a race; update it instead.
				if again, rerr := s.read(ctx, tool); rerr == nil && again != nil {
					return apierrors.NewConflict(corev1.Resource("secrets"), tenancy.EnvvarsSecret, err)
				}
			}
			return err
		}
		_, exists := sec.Data[name]
		created = !exists
		if created && len(sec.Data) >= envvars.MaxCount {
			return route.BadRequest("the tool has %d envvars, the most allowed; delete one first", len(sec.Data))
		}
		if total := size(sec.Data) - len(sec.Data[name]) + len(name) + len(value); total > envvars.MaxTotal {
			return route.BadRequest("the tool's envvars would take %d bytes; together they may take at most %d", total, envvars.MaxTotal)
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		sec.Data[name] = []byte(value)
		_, err = s.secrets(tool).Update(ctx, sec, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return false, writeError(err)
	}
	return created, nil
}

// Delete removes a variable and returns it as it was (the CLI shows what
// went).
func (s *Store) Delete(ctx context.Context, tool, name string) (*envvars.Envvar, error) {
	s.locks.LockKey(tool)
	defer func() { _ = s.locks.UnlockKey(tool) }() // fails only for a key that is not locked
	var deleted *envvars.Envvar
	err := retry.RetryOnConflict(writeBackoff, func() error {
		sec, err := s.read(ctx, tool)
		if err != nil {
			return err
		}
		if sec == nil {
			return route.NotFound("envvar %s does not exist", name)
		}
		value, ok := sec.Data[name]
		if !ok {
			return route.NotFound("envvar %s does not exist", name)
		}
		deleted = &envvars.Envvar{Name: name, Value: string(value)}
		delete(sec.Data, name)
		_, err = s.secrets(tool).Update(ctx, sec, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, writeError(err)
	}
	return deleted, nil
}

// Quota reports the tool's use.
func (s *Store) Quota(ctx context.Context, tool string) (*envvars.Quota, error) {
	sec, err := s.read(ctx, tool)
	if err != nil {
		return nil, err
	}
	q := &envvars.Quota{MaxCount: envvars.MaxCount, MaxBytes: envvars.MaxTotal, MaxValue: envvars.MaxValue}
	if sec != nil {
		q.Count, q.Bytes = len(sec.Data), size(sec.Data)
	}
	return q, nil
}

func newSecret(tool, name, value string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      tenancy.EnvvarsSecret,
			Namespace: tenancy.Namespace(tool),
			Labels:    map[string]string{tenancy.LabelManagedBy: managedBy, tenancy.LabelToolforge: tenancy.ToolforgeTool},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{name: []byte(value)},
	}
}

func size(data map[string][]byte) int {
	n := 0
	for k, v := range data {
		n += len(k) + len(v)
	}
	return n
}

func conflictOrExists(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// writeError keeps route errors and explains Kubernetes' refusals; the
// value is never part of the message.
func writeError(err error) error {
	var re *route.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return re
	case apierrors.IsRequestEntityTooLargeError(err):
		return route.BadRequest("the tool's envvars are too large for one Kubernetes Secret")
	case apierrors.IsInvalid(err):
		// Secret validation names keys and sizes, never values.
		return route.BadRequest("Kubernetes refused the envvars: %v", err)
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		return route.BadRequest("the tool's Secret quota is used up, so its envvars cannot be stored; delete a Secret first")
	}
	return fmt.Errorf("write envvars: %w", err)
}
