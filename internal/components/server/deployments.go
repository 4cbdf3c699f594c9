package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID is <YYYYMMDD>-<HHMMSS>-<5 random>: sortable by creation, a valid
// object name.
func newID(now time.Time) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return now.UTC().Format("20060102-150405") + "-" + string(b)
}

// deployments are the tool's deployments, oldest first.
func (s *Service) deployments(ctx context.Context, tool string) ([]v1alpha1.ComponentDeployment, error) {
	var l v1alpha1.ComponentDeploymentList
	if err := s.Client.List(ctx, &l, client.InNamespace(tenancy.Namespace(tool))); err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", tool, err)
	}
	out := l.Items
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (s *Service) deployment(ctx context.Context, tool, id string) (*v1alpha1.ComponentDeployment, error) {
	var d v1alpha1.ComponentDeployment
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: tenancy.Namespace(tool), Name: id}, &d)
	if apierrors.IsNotFound(err) {
		return nil, route.NotFound("Unable to find deployment %s of tool %s", id, tool)
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment %s: %w", id, err)
	}
	return &d, nil
}

// Create starts a deployment of the tool's file as it is now (fetched
// again from its source_url). One runs at a time: a second is refused
// naming the running one. A dry run says what would change.
func (s *Service) Create(ctx context.Context, tool string, req components.DeploymentRequest) (*v1alpha1.ComponentDeployment, []components.Change, error) {
	cc, err := s.config(ctx, tool)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.refreshFromSource(ctx, tool, &cc.Spec)
	if err != nil {
		return nil, nil, err
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	existing, err := s.deployments(ctx, tool)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range existing {
		if !d.Status.Finished() {
			return nil, nil, route.Conflict("Tool %s already has a deployment in progress: %s (wait for it to end: `toolforge components deployment show %s`)", tool, d.Name, d.Name)
		}
	}
	if req.DryRun {
		changes, err := s.plan(ctx, tool, cfg, req)
		return nil, changes, err
	}
	d := &v1alpha1.ComponentDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: newID(s.now()), Namespace: tenancy.Namespace(tool), Labels: map[string]string{v1alpha1.LabelTool: tool}},
		Spec:       v1alpha1.DeploymentSpec{Tool: tool, Config: *cfg, ForceBuild: req.ForceBuild, ForceRun: req.ForceRun, Prune: req.Prune},
	}
	if err := s.Client.Create(ctx, d); err != nil {
		return nil, nil, fmt.Errorf("create deployment: %w", err)
	}
	// The oldest finished ones beyond Keep go.
	if extra := len(existing) + 1 - Keep; extra > 0 {
		for i := 0; i < extra && i < len(existing); i++ {
			if err := s.Client.Delete(ctx, &existing[i]); err != nil && !apierrors.IsNotFound(err) {
				s.Log.Warn("could not delete an old deployment", "tool", tool, "deployment", existing[i].Name, "err", err)
			}
		}
	}
	return d, nil, nil
}

// Report is a deployment as the API shows it.
func Report(d *v1alpha1.ComponentDeployment) components.Deployment {
	out := components.Deployment{
		DeployID: d.Name, CreationTime: d.CreationTimestamp.UTC().Format(time.RFC3339),
		Status: d.Status.Phase, LongStatus: d.Status.Message,
		ForceBuild: d.Spec.ForceBuild, ForceRun: d.Spec.ForceRun, Prune: d.Spec.Prune,
		Builds: map[string]components.BuildStep{}, Runs: map[string]components.RunStep{},
	}
	if out.Status == "" {
		out.Status, out.LongStatus = components.StatusPending, "waiting for the executor to start it"
	}
	for name := range d.Spec.Config.Components {
		cs := d.Status.Components[name]
		b := components.BuildStep{BuildID: cs.BuildID, BuildStatus: cs.BuildStatus, BuildLongStatus: cs.BuildMessage}
		if b.BuildID == "" {
			b.BuildID = components.NoBuildID
		}
		if b.BuildStatus == "" {
			b.BuildStatus = components.StatusPending
		}
		r := components.RunStep{RunStatus: cs.RunStatus, RunLongStatus: cs.RunMessage}
		if r.RunStatus == "" {
			r.RunStatus = components.StatusPending
		}
		out.Builds[name], out.Runs[name] = b, r
	}
	return out
}

func (s *Service) handleDeploymentCreate(w http.ResponseWriter, r *route.Request) error {
	var req components.DeploymentRequest
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if err := route.DecodeJSON(r, 4<<10, &req); err != nil && !strings.Contains(err.Error(), "empty JSON") {
			return err
		}
	}
	// A webhook says what it wants in the query.
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		v    *bool
	}{{"force_build", &req.ForceBuild}, {"force_run", &req.ForceRun}, {"prune", &req.Prune}, {"dry_run", &req.DryRun}} {
		if q.Get(f.name) == "true" {
			*f.v = true
		}
	}
	d, changes, err := s.Create(r.Context(), r.Tool, req)
	if err != nil {
		return err
	}
	m := route.NewMessages()
	if req.DryRun {
		return route.WriteJSON(w, http.StatusOK, components.DryRunResponse{Data: changes, Messages: m})
	}
	m.Infof("Deployment for %s created successfully.", r.Tool)
	return route.WriteJSON(w, http.StatusOK, components.DeploymentResponse{Data: Report(d), Messages: m})
}

func (s *Service) handleDeploymentList(w http.ResponseWriter, r *route.Request) error {
	l, err := s.deployments(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	out := components.DeploymentListResponse{Data: components.DeploymentList{Deployments: []components.Deployment{}}, Messages: route.NewMessages()}
	for i := range l {
		out.Data.Deployments = append(out.Data.Deployments, Report(&l[i]))
	}
	return route.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleDeploymentGet(w http.ResponseWriter, r *route.Request) error {
	d, err := s.deployment(r.Context(), r.Tool, r.Param("id"))
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, components.DeploymentResponse{Data: Report(d), Messages: route.NewMessages()})
}

func (s *Service) handleDeploymentDelete(w http.ResponseWriter, r *route.Request) error {
	d, err := s.deployment(r.Context(), r.Tool, r.Param("id"))
	if err != nil {
		return err
	}
	if err := s.Client.Delete(r.Context(), d); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s: %w", d.Name, err)
	}
	m := route.NewMessages()
	m.Infof("Deployment %s deleted successfully.", d.Name)
	return route.WriteJSON(w, http.StatusOK, components.DeploymentResponse{Data: Report(d), Messages: m})
}

func sortStrings(s []string) { sort.Strings(s) }
