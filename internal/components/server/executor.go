package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/toolforge-go/toolforge/internal/builds"
	buildsv1 "github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/route"
)

// poll is how often a deployment waiting on builds or rollouts looks
// again.
const poll = 3 * time.Second

// Reconcile moves a deployment on from what its status says, one step at
// a time (level-based: after a restart of the platform it carries on
// from there). Every component is built (or a build reused) before any
// runs, so a failed build leaves every component's previous version
// running.
func (s *Service) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d v1alpha1.ComponentDeployment
	if err := s.Client.Get(ctx, req.NamespacedName, &d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if d.Status.Finished() {
		return reconcile.Result{}, nil
	}
	before := d.DeepCopy().Status
	res, err := s.step(ctx, &d)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !jsonEqual(before, d.Status) {
		if err := s.Client.Status().Update(ctx, &d); err != nil {
			if apierrors.IsNotFound(err) {
				return reconcile.Result{}, nil // deleted meanwhile
			}
			// A conflict is retried (with backoff) from the new status.
			return reconcile.Result{}, fmt.Errorf("update deployment %s: %w", d.Name, err)
		}
	}
	return res, nil
}

func (s *Service) fail(d *v1alpha1.ComponentDeployment, format string, args ...any) {
	d.Status.Phase = v1alpha1.PhaseFailed
	d.Status.Message = fmt.Sprintf(format, args...)
	d.Status.CompletionTime = &metav1.Time{Time: s.now()}
}

// step does what the deployment's status says comes next.
func (s *Service) step(ctx context.Context, d *v1alpha1.ComponentDeployment) (reconcile.Result, error) {
	st := &d.Status
	cfg := &d.Spec.Config
	if st.Phase == "" || st.Phase == v1alpha1.PhasePending {
		st.Phase, st.Message = v1alpha1.PhaseRunning, "building"
		st.StartTime = &metav1.Time{Time: s.now()}
		st.Components = map[string]v1alpha1.ComponentStatus{}
		for name := range cfg.Components {
			st.Components[name] = v1alpha1.ComponentStatus{BuildStatus: components.StatusPending, RunStatus: components.StatusPending}
		}
	}
	if st.StartTime != nil && s.now().Sub(st.StartTime.Time) > s.deadline() {
		s.fail(d, "the deployment did not finish within %s; every component not yet run keeps its previous version", s.deadline())
		return reconcile.Result{}, nil
	}
	if s.Builds == nil {
		s.fail(d, "this platform has no build service (toolforged runs without --builds-registry): components cannot be built")
		return reconcile.Result{}, nil
	}
	waiting := false
	for _, name := range cfg.Names() {
		cs := st.Components[name]
		done, err := s.buildStep(ctx, d, name, &cs)
		st.Components[name] = cs
		if err != nil {
			var re *route.Error
			if errors.As(err, &re) {
				s.fail(d, "the build of component %s failed: %s; the previous version keeps running", name, re.Message)
				return reconcile.Result{}, nil
			}
			return reconcile.Result{}, err
		}
		if cs.BuildStatus == components.StatusFailed {
			s.fail(d, "the build of component %s failed: %s; the previous version keeps running", name, cs.BuildMessage)
			return reconcile.Result{}, nil
		}
		waiting = waiting || !done
	}
	if waiting {
		return reconcile.Result{RequeueAfter: poll}, nil
	}
	st.Message = "running"
	for _, name := range cfg.Names() {
		cs := st.Components[name]
		if cs.RunStatus == components.StatusSuccessful || cs.RunStatus == components.StatusRunning {
			continue // written; its rollout is checked below
		}
		comp := cfg.Components[name]
		result, _, warnings, err := s.Jobs.Apply(ctx, d.Spec.Tool, comp.Job(name, cs.Image))
		if err == nil && result == jobs.Unchanged && d.Spec.ForceRun {
			_, err = s.Jobs.Restart(ctx, d.Spec.Tool, name)
			result = "restarted"
		}
		if err != nil {
			var re *route.Error
			if !errors.As(err, &re) {
				return reconcile.Result{}, fmt.Errorf("run component %s: %w", name, err)
			}
			cs.RunStatus, cs.RunMessage = components.StatusFailed, re.Message
			st.Components[name] = cs
			s.fail(d, "component %s could not be run: %s", name, re.Message)
			return reconcile.Result{}, nil
		}
		cs.RunStatus, cs.RunMessage = components.StatusRunning, "job "+result
		if len(warnings) > 0 {
			cs.RunMessage += " (" + fmt.Sprint(warnings) + ")"
		}
		st.Components[name] = cs
	}
	// Every job is written; the deployment is done once each runs its
	// new version (a web service's old pods serve until then).
	for _, name := range cfg.Names() {
		cs := st.Components[name]
		if cs.RunStatus == components.StatusSuccessful {
			continue
		}
		state, msg, err := s.Jobs.Rollout(ctx, d.Spec.Tool, name)
		if err != nil {
			var re *route.Error
			if !errors.As(err, &re) {
				return reconcile.Result{}, fmt.Errorf("component %s: %w", name, err)
			}
			state, msg = jobsserver.RolloutFailed, re.Message
		}
		base, _, _ := strings.Cut(cs.RunMessage, "; ")
		switch state {
		case jobsserver.RolloutReady:
			cs.RunStatus, cs.RunMessage = components.StatusSuccessful, base
		case jobsserver.RolloutFailed:
			cs.RunStatus, cs.RunMessage = components.StatusFailed, base+"; "+msg
			st.Components[name] = cs
			s.fail(d, "component %s: %s; its previous version keeps running", name, msg)
			return reconcile.Result{}, nil
		default:
			cs.RunMessage = base + "; " + msg
			waiting = true
		}
		st.Components[name] = cs
	}
	if waiting {
		st.Message = "waiting for the new versions to be ready"
		return reconcile.Result{RequeueAfter: poll}, nil
	}
	if d.Spec.Prune {
		pruned, err := s.prune(ctx, d)
		if err != nil {
			s.fail(d, "every component runs, but pruning failed: %v", err)
			return reconcile.Result{}, nil
		}
		if len(pruned) > 0 {
			st.Message = fmt.Sprintf("pruned %v; ", pruned)
		}
	} else {
		st.Message = ""
	}
	st.Phase = v1alpha1.PhaseSuccessful
	st.Message += fmt.Sprintf("deployed %d components", len(cfg.Components))
	st.CompletionTime = &metav1.Time{Time: s.now()}
	return reconcile.Result{}, nil
}

// buildStep moves a component's build on; done says it has its image.
func (s *Service) buildStep(ctx context.Context, d *v1alpha1.ComponentDeployment, name string, cs *v1alpha1.ComponentStatus) (bool, error) {
	if cs.BuildStatus == components.StatusSuccessful {
		return true, nil
	}
	cfg := &d.Spec.Config
	tool := d.Spec.Tool
	if from := cfg.BuildSource(name); from != name {
		src := d.Status.Components[from]
		if src.BuildStatus != components.StatusSuccessful {
			return false, nil
		}
		cs.BuildID, cs.Commit, cs.Image = src.BuildID, src.Commit, src.Image
		cs.BuildStatus, cs.BuildMessage = components.StatusSuccessful, "reuses the build of component "+from
		return true, nil
	}
	b := cfg.Components[name].Build
	if cs.Commit == "" {
		commit, err := s.Builds.ResolveRef(ctx, b.Repository, b.Ref)
		if err != nil {
			return false, err
		}
		cs.Commit = commit
	}
	params := builds.Parameters{SourceURL: b.Repository, Ref: cs.Commit, ImageName: name, Envvars: b.Envvars, UseLatestVersions: b.UseLatestVersions}
	if cs.BuildID == "" {
		if !d.Spec.ForceBuild {
			found, err := s.reusable(ctx, tool, params)
			if err != nil {
				return false, err
			}
			if found != nil {
				cs.BuildID, cs.Image = found.Name, s.Builds.PushedImage(found)
				cs.BuildStatus, cs.BuildMessage = components.StatusSuccessful, fmt.Sprintf("reuses build %s of commit %.12s", found.Name, cs.Commit)
				return true, nil
			}
		}
		nb, _, err := s.Builds.Start(ctx, tool, params)
		if err != nil {
			return false, err
		}
		cs.BuildID, cs.BuildStatus, cs.BuildMessage = nb.Name, components.StatusRunning, fmt.Sprintf("building %s at commit %.12s", b.Repository, cs.Commit)
		return false, nil
	}
	all, err := s.Builds.List(ctx, tool)
	if err != nil {
		return false, err
	}
	for i := range all {
		bd := &all[i]
		if bd.Name != cs.BuildID {
			continue
		}
		switch bd.Status.Phase {
		case buildsv1.PhaseSucceeded:
			cs.Image = s.Builds.PushedImage(bd)
			cs.BuildStatus, cs.BuildMessage = components.StatusSuccessful, fmt.Sprintf("built commit %.12s", cs.Commit)
			return true, nil
		case buildsv1.PhaseFailed, buildsv1.PhaseCancelled, buildsv1.PhaseTimedOut:
			cs.BuildStatus = components.StatusFailed
			cs.BuildMessage = fmt.Sprintf("build %s: %s (see `toolforge build logs %s`)", bd.Name, bd.Status.Message, bd.Name)
			return false, nil
		}
		if bd.Status.StartTime != nil && s.now().Sub(bd.Status.StartTime.Time) > s.stepDeadline() {
			cs.BuildStatus, cs.BuildMessage = components.StatusFailed, fmt.Sprintf("build %s did not finish within %s", bd.Name, s.stepDeadline())
		}
		return false, nil
	}
	cs.BuildStatus, cs.BuildMessage = components.StatusFailed, fmt.Sprintf("build %s is gone (deleted?)", cs.BuildID)
	return false, nil
}

// reusable is the newest succeeded build of the same repository, commit
// and build options, or nil.
func (s *Service) reusable(ctx context.Context, tool string, p builds.Parameters) (*buildsv1.Build, error) {
	all, err := s.Builds.List(ctx, tool)
	if err != nil {
		return nil, err
	}
	for i := range all { // newest first
		b := &all[i]
		if b.Status.Phase != buildsv1.PhaseSucceeded || s.Builds.PushedImage(b) == "" {
			continue
		}
		sp := b.Spec
		if sp.SourceURL == p.SourceURL && sp.Ref == p.Ref && sp.ImageName == p.ImageName && sp.UseLatestVersions == p.UseLatestVersions && jsonEqual(sp.Envvars, p.Envvars) {
			return b, nil
		}
	}
	return nil, nil
}

// prune removes the jobs of components that earlier successful
// deployments ran and this file no longer has.
func (s *Service) prune(ctx context.Context, d *v1alpha1.ComponentDeployment) ([]string, error) {
	all, err := s.deployments(ctx, d.Spec.Tool)
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, old := range all {
		if old.Name == d.Name || old.Status.Phase != v1alpha1.PhaseSuccessful {
			continue
		}
		for name := range old.Spec.Config.Components {
			if _, still := d.Spec.Config.Components[name]; !still {
				gone[name] = true
			}
		}
	}
	var pruned []string
	for _, name := range sortedKeys(gone) {
		err := s.Jobs.Delete(ctx, d.Spec.Tool, name)
		var re *route.Error
		if err != nil && !(errors.As(err, &re) && re.Status == 404) {
			return pruned, err
		}
		if err == nil {
			pruned = append(pruned, name)
		}
	}
	return pruned, nil
}

// plan is what a deployment would do, without doing it.
func (s *Service) plan(ctx context.Context, tool string, cfg *components.Config, req components.DeploymentRequest) ([]components.Change, error) {
	if s.Builds == nil {
		return nil, route.Errorf(503, "this platform has no build service: components cannot be built")
	}
	images := map[string]string{}
	var out []components.Change
	for _, name := range cfg.Names() {
		ch := components.Change{Component: name}
		src := cfg.BuildSource(name)
		if src != name {
			ch.Build = "reuse the build of component " + src
		} else {
			b := cfg.Components[name].Build
			commit, err := s.Builds.ResolveRef(ctx, b.Repository, b.Ref)
			if err != nil {
				return nil, err
			}
			found, err := s.reusable(ctx, tool, builds.Parameters{SourceURL: b.Repository, Ref: commit, ImageName: name, Envvars: b.Envvars, UseLatestVersions: b.UseLatestVersions})
			if err != nil {
				return nil, err
			}
			if found != nil && !req.ForceBuild {
				ch.Build = fmt.Sprintf("reuse build %s of commit %.12s", found.Name, commit)
				images[name] = s.Builds.PushedImage(found)
			} else {
				ch.Build = fmt.Sprintf("build %s at commit %.12s", b.Repository, commit)
			}
		}
		img, ok := images[src]
		if !ok {
			ch.Run = "create or update the job once built"
		} else {
			comp := cfg.Components[name]
			result, _, _, err := s.Jobs.CheckApply(ctx, tool, comp.Job(name, img))
			if err != nil {
				return nil, err
			}
			ch.Run = "job " + result
			if result == jobs.Unchanged && req.ForceRun {
				ch.Run = "job restarted"
			}
		}
		out = append(out, ch)
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
