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

	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
)

// idAlphabet makes build IDs <tool>-<8 characters> (a Job's and a pod
// label's name: at most 63 characters with a 53-character tool).
const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func newID(tool string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return tool + "-" + string(b)
}

// ImageRef is the tag a build of tool's image name pushes.
func (s *Service) ImageRef(tool, name string) string {
	return s.Registry.Host + "/" + builds.Repository(tool, name) + ":latest"
}

// list is the tool's builds, newest first.
func (s *Service) list(ctx context.Context, tool string) ([]v1alpha1.Build, error) {
	var l v1alpha1.BuildList
	if err := s.Reader.List(ctx, &l, client.InNamespace(v1alpha1.Namespace), client.MatchingLabels{v1alpha1.LabelTool: tool}); err != nil {
		return nil, fmt.Errorf("list builds of %s: %w", tool, err)
	}
	out := l.Items
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if ti.Equal(&tj) {
			return out[i].Name > out[j].Name
		}
		return tj.Before(&ti)
	})
	return out, nil
}

// get is the tool's build id. Another tool's ID is refused by its name
// alone, before anything is looked up (nothing is told about it).
func (s *Service) get(ctx context.Context, tool, id string) (*v1alpha1.Build, error) {
	if !strings.HasPrefix(id, tool+"-") {
		return nil, route.Errorf(http.StatusForbidden, "build %s is not one of tool %s's builds", id, tool)
	}
	var b v1alpha1.Build
	key := client.ObjectKey{Namespace: v1alpha1.Namespace, Name: id}
	err := s.Reader.Get(ctx, key, &b)
	if apierrors.IsNotFound(err) {
		// A build just started (`build start` follows its log at once)
		// may not be in the cache yet: only the API server says it is not.
		err = s.Writer.Get(ctx, key, &b)
	}
	if apierrors.IsNotFound(err) || (err == nil && b.Labels[v1alpha1.LabelTool] != tool) {
		return nil, route.NotFound("Build with id %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// latest is the tool's newest build.
func (s *Service) latest(ctx context.Context, tool string) (*v1alpha1.Build, error) {
	l, err := s.list(ctx, tool)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, route.NotFound("No builds exist yet.")
	}
	return &l[0], nil
}

// Start validates the parameters and makes a Build for the controller to
// run. It refuses a tool's fifth running build and a full quota.
func (s *Service) Start(ctx context.Context, tool string, p builds.Parameters) (*v1alpha1.Build, route.Messages, error) {
	msgs := route.NewMessages()
	p.Normalize(tool)
	if err := p.Validate(); err != nil {
		return nil, msgs, route.BadRequest("%s", err.Error())
	}
	if err := checkRepository(ctx, s.gitClient(), p.SourceURL, p.Ref); err != nil {
		return nil, msgs, err
	}
	existing, err := s.list(ctx, tool)
	if err != nil {
		return nil, msgs, err
	}
	running := 0
	for _, b := range existing {
		if !b.Status.Finished() {
			running++
		}
	}
	if running >= MaxRunning {
		return nil, msgs, route.Conflict("There are already %d builds running for tool %s (at most %d may run at once); wait for one to finish or cancel it with `toolforge build cancel`", running, tool, MaxRunning)
	}
	q, err := s.quota(ctx, tool, existing)
	if err != nil {
		s.Log.Error("registry usage unknown; the build is not refused for it", "tool", tool, "err", err)
	} else {
		if q.used >= q.limit {
			return nil, msgs, route.Conflict("Tool %s has used all of its registry quota (%s of %s): run `toolforge build clean` to delete its images, or ask the admins for more", tool, formatBytes(q.used), formatBytes(q.limit))
		}
		if float64(q.used) > QuotaWarning*float64(q.limit) {
			msgs.Warnf("Warning: Tool %s has used up %.0f%% of its allotted quota. To avoid the possibility of your build failing, run \"toolforge build clean\" to free up quota.", tool, 100*float64(q.used)/float64(q.limit))
		}
	}
	b := &v1alpha1.Build{
		ObjectMeta: metav1.ObjectMeta{
			Name: newID(tool), Namespace: v1alpha1.Namespace,
			Labels: map[string]string{v1alpha1.LabelTool: tool},
		},
		Spec: v1alpha1.BuildSpec{
			Tool: tool, SourceURL: p.SourceURL, Ref: p.Ref, ImageName: p.ImageName,
			Envvars: p.Envvars, UseLatestVersions: p.UseLatestVersions,
		},
	}
	b.Labels[v1alpha1.LabelBuild] = b.Name
	if err := s.Writer.Create(ctx, b); err != nil {
		return nil, msgs, fmt.Errorf("create build: %w", err)
	}
	return b, msgs, nil
}

// Cancel asks the controller to stop a running build.
func (s *Service) Cancel(ctx context.Context, tool, id string) error {
	b, err := s.get(ctx, tool, id)
	if err != nil {
		return err
	}
	switch b.Status.Phase {
	case v1alpha1.PhaseCancelled:
		return route.Conflict("Build %s cannot be cancelled again. It has already been cancelled", id)
	case v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed, v1alpha1.PhaseTimedOut:
		return route.Conflict("Build %s cannot be cancelled because it has already completed", id)
	}
	patch := client.MergeFrom(b.DeepCopy())
	b.Spec.Cancelled = true
	if err := s.Writer.Patch(ctx, b, patch); err != nil {
		return fmt.Errorf("cancel build %s: %w", id, err)
	}
	return nil
}

// Delete removes a build (its Job and pod go with it) and its image,
// unless that image is also the name's latest, which stays until
// `build clean`: running jobs and web services use it.
func (s *Service) Delete(ctx context.Context, tool, id string) error {
	b, err := s.get(ctx, tool, id)
	if err != nil {
		return err
	}
	if b.Status.Digest != "" {
		if err := s.deleteImageUnlessLatest(ctx, builds.Repository(tool, b.Spec.ImageName), b.Status.Digest); err != nil {
			return err
		}
	}
	if err := s.Writer.Delete(ctx, b, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete build %s: %w", id, err)
	}
	return nil
}

// report is a Build as the API shows it.
func (s *Service) report(b *v1alpha1.Build) builds.Build {
	out := builds.Build{
		ID: b.Name, Message: b.Status.Message,
		Parameters: builds.Parameters{
			SourceURL: b.Spec.SourceURL, Ref: b.Spec.Ref, ImageName: b.Spec.ImageName,
			Envvars: b.Spec.Envvars, UseLatestVersions: b.Spec.UseLatestVersions,
		},
		DestinationImage: s.ImageRef(b.Spec.Tool, b.Spec.ImageName),
	}
	if b.Status.Digest != "" {
		out.DestinationImage = s.Registry.Host + "/" + builds.Repository(b.Spec.Tool, b.Spec.ImageName) + "@" + b.Status.Digest
	}
	if t := b.Status.StartTime; t != nil {
		out.StartTime = t.UTC().Format(time.RFC3339)
	}
	if t := b.Status.CompletionTime; t != nil {
		out.EndTime = t.UTC().Format(time.RFC3339)
	}
	switch b.Status.Phase {
	case "", v1alpha1.PhasePending:
		out.Status = builds.StatusPending
		if out.Message == "" {
			out.Message = "waiting for the build to start"
		}
	case v1alpha1.PhaseRunning:
		out.Status = builds.StatusRunning
	case v1alpha1.PhaseSucceeded:
		out.Status = builds.StatusSuccess
	case v1alpha1.PhaseFailed:
		out.Status = builds.StatusFailure
	case v1alpha1.PhaseCancelled:
		out.Status = builds.StatusCancelled
	case v1alpha1.PhaseTimedOut:
		out.Status = builds.StatusTimeout
	default:
		out.Status = builds.StatusUnknown
	}
	return out
}

func clientKey(b *v1alpha1.Build) client.ObjectKey {
	return client.ObjectKey{Namespace: b.Namespace, Name: b.Name}
}

// List is the tool's builds, newest first (components reuse them).
func (s *Service) List(ctx context.Context, tool string) ([]v1alpha1.Build, error) {
	return s.list(ctx, tool)
}

// PushedImage is the image a succeeded build pushed, by digest (a job
// running it changes when a new build is deployed, even of the same
// tag); "" before the build has pushed.
func (s *Service) PushedImage(b *v1alpha1.Build) string {
	if b.Status.Digest == "" {
		return ""
	}
	return s.Registry.Host + "/" + builds.Repository(b.Spec.Tool, b.Spec.ImageName) + "@" + b.Status.Digest
}
