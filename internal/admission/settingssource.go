package admission

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/images"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// settingsSource keeps the effective settings: defaults, under the file
// (--admission-config), under the ConfigMap toolforge-admission; the
// default registries follow the image catalogue ConfigMap. A ConfigMap that
// does not parse is logged and ignored (the last good settings stay), so a
// typo cannot open or close the platform.
type settingsSource struct {
	file       *Settings
	platformNS string
	// builtRegistry is toolforged's --builds-registry.
	builtRegistry string
	reader        client.Reader
	log           *slog.Logger

	current atomic.Pointer[Effective]
	mu      sync.Mutex
	subs    []chan struct{}
}

// domain (toolforged --domain) is the Ingress domain unless the file says
// otherwise.
func newSettingsSource(path, platformNS, domain, builtRegistry string, reader client.Reader, log *slog.Logger) (*settingsSource, error) {
	file := &Settings{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --admission-config: %w", err)
		}
		if file, err = ParseSettings(data); err != nil {
			return nil, fmt.Errorf("--admission-config %s: %w", path, err)
		}
	}
	if len(file.Domains) == 0 && domain != "" {
		file.Domains = []string{domain}
	}
	s := &settingsSource{file: file, platformNS: platformNS, builtRegistry: builtRegistry, reader: reader, log: log}
	e := file.effective(images.Builtin().Registries())
	e.BuiltRegistry = builtRegistry
	s.current.Store(e)
	return s, nil
}

// get returns the current settings; callers must not change them.
func (s *settingsSource) get() *Effective { return s.current.Load() }

// subscribe returns a channel that receives a value (coalesced) whenever
// the settings change.
func (s *settingsSource) subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs = append(s.subs, ch)
	s.mu.Unlock()
	return ch
}

// watch reloads the settings on every change of a platform ConfigMap.
func (s *settingsSource) watch(ctx context.Context, c cache.Cache) error {
	inf, err := c.GetInformer(ctx, &corev1.ConfigMap{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("informer for settings: %w", err)
	}
	reload := func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name != tenancy.AdmissionConfigMap && cm.Name != tenancy.ImagesConfigMap {
			return
		}
		s.reload(context.Background())
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    reload,
		UpdateFunc: func(_, obj any) { reload(obj) },
		DeleteFunc: func(any) { s.reload(context.Background()) },
	})
	return err
}

func (s *settingsSource) reload(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.load(ctx)
	if err != nil {
		s.log.Error("admission settings not applied; the previous ones stay", "err", err)
		return
	}
	s.current.Store(next)
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (s *settingsSource) load(ctx context.Context) (*Effective, error) {
	catalogue, err := images.Load(ctx, images.InNamespace(s.reader, s.platformNS))
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	err = s.reader.Get(ctx, client.ObjectKey{Namespace: s.platformNS, Name: tenancy.AdmissionConfigMap}, &cm)
	var over *Settings
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", s.platformNS, tenancy.AdmissionConfigMap, err)
	default:
		if over, err = ParseSettings([]byte(cm.Data[SettingsKey])); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", s.platformNS, tenancy.AdmissionConfigMap, SettingsKey, err)
		}
	}
	e := s.file.merge(over).effective(catalogue.Registries())
	e.BuiltRegistry = s.builtRegistry
	return e, nil
}
