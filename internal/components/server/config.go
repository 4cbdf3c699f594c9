package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

func configKey(tool string) client.ObjectKey {
	return client.ObjectKey{Namespace: tenancy.Namespace(tool), Name: v1alpha1.ConfigName}
}

// config is the tool's components file, or a 404 saying how to make one.
func (s *Service) config(ctx context.Context, tool string) (*v1alpha1.ComponentConfig, error) {
	var c v1alpha1.ComponentConfig
	err := s.Client.Get(ctx, configKey(tool), &c)
	if apierrors.IsNotFound(err) {
		return nil, route.NotFound("Unable to find a components config for tool %s: create one with `toolforge components config create FILE`", tool)
	}
	if err != nil {
		return nil, fmt.Errorf("read the components config of %s: %w", tool, err)
	}
	return &c, nil
}

// SaveConfig creates or replaces the tool's file.
func (s *Service) SaveConfig(ctx context.Context, tool string, cfg *components.Config) error {
	var cur v1alpha1.ComponentConfig
	err := s.Client.Get(ctx, configKey(tool), &cur)
	switch {
	case apierrors.IsNotFound(err):
		c := &v1alpha1.ComponentConfig{
			ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ConfigName, Namespace: tenancy.Namespace(tool), Labels: map[string]string{v1alpha1.LabelTool: tool}},
			Spec:       *cfg,
		}
		if err := s.Client.Create(ctx, c); err != nil {
			return fmt.Errorf("save the components config of %s: %w", tool, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read the components config of %s: %w", tool, err)
	}
	cur.Spec = *cfg
	if err := s.Client.Update(ctx, &cur); err != nil {
		return fmt.Errorf("save the components config of %s: %w", tool, err)
	}
	return nil
}

// parseBody reads a components file sent as JSON, as strictly as the CLI
// reads the file (unknown keys named by path).
func parseBody(r *route.Request) (*components.Config, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, route.BadRequest("request body: %v", err)
	}
	if len(body) > maxBody {
		return nil, route.BadRequest("the components file is larger than %d bytes", maxBody)
	}
	c, err := components.Parse(body)
	if err != nil {
		return nil, route.BadRequest("%s", err.Error())
	}
	return c, nil
}

func (s *Service) handleConfigCreate(w http.ResponseWriter, r *route.Request) error {
	cfg, err := parseBody(r)
	if err != nil {
		return err
	}
	if err := s.SaveConfig(r.Context(), r.Tool, cfg); err != nil {
		return err
	}
	m := route.NewMessages()
	m.Infof("Configuration for %s created successfully.", r.Tool)
	return route.WriteJSON(w, http.StatusOK, components.ConfigResponse{Data: *cfg, Messages: m})
}

func (s *Service) handleConfigGet(w http.ResponseWriter, r *route.Request) error {
	c, err := s.config(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, components.ConfigResponse{Data: c.Spec, Messages: route.NewMessages()})
}

func (s *Service) handleConfigDelete(w http.ResponseWriter, r *route.Request) error {
	c, err := s.config(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	if err := s.Client.Delete(r.Context(), c); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the components config of %s: %w", r.Tool, err)
	}
	m := route.NewMessages()
	m.Infof("Configuration for %s deleted successfully.", r.Tool)
	return route.WriteJSON(w, http.StatusOK, components.ConfigResponse{Data: c.Spec, Messages: m})
}

// refreshFromSource fetches the file again from its source_url, if it
// has one, and saves it: a deployment deploys the file as it is now.
func (s *Service) refreshFromSource(ctx context.Context, tool string, cfg *components.Config) (*components.Config, error) {
	if cfg.SourceURL == "" {
		return cfg, nil
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.SourceURL, nil)
	if err != nil {
		return nil, route.BadRequest("source_url %q: %v", cfg.SourceURL, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, route.BadRequest("cannot fetch the components file from source_url %s: %v", cfg.SourceURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, route.BadRequest("cannot fetch the components file from source_url %s: %s", cfg.SourceURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, route.BadRequest("cannot read the components file at source_url %s (at most %d bytes)", cfg.SourceURL, maxBody)
	}
	fresh, err := components.Parse(body)
	if err != nil {
		return nil, route.BadRequest("the components file at source_url %s: %v", cfg.SourceURL, err)
	}
	if fresh.SourceURL == "" {
		fresh.SourceURL = cfg.SourceURL
	}
	if err := s.SaveConfig(ctx, tool, fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}

// jsonEqual compares two values by their JSON form.
func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
