package server

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/toolquota"
)

// usage is a tool's registry storage: used and allowed bytes.
type usage struct {
	used, limit int64
	images      []Image
}

// repositories are the tool's repositories: those the registry lists, and
// those its builds name (a registry that does not let the platform list
// its catalog still has them).
func (s *Service) repositories(ctx context.Context, tool string, bs []v1alpha1.Build) ([]string, error) {
	prefix := "tool-" + tool + "/"
	listed, err := s.Registry.Catalog(ctx, prefix)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, r := range listed {
		set[r] = true
	}
	for _, b := range bs {
		set[builds.Repository(tool, b.Spec.ImageName)] = true
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// quota is what the tool's images take in the registry: every distinct
// blob (config and layers) of every tagged manifest of its repositories,
// counted once, as Harbor counts a project.
func (s *Service) quota(ctx context.Context, tool string, bs []v1alpha1.Build) (usage, error) {
	u := usage{limit: s.limit(ctx, tool)}
	repos, err := s.repositories(ctx, tool, bs)
	if err != nil {
		return u, err
	}
	imgs, err := s.Registry.Images(ctx, repos)
	if err != nil {
		return u, err
	}
	u.images = imgs
	seen := map[string]bool{}
	for _, img := range imgs {
		for d, size := range img.Blobs {
			if !seen[d] {
				seen[d] = true
				u.used += size
			}
		}
	}
	return u, nil
}

// limit is the tool's registry quota: an admin's override
// (registry.storage on the tool's namespace) or the default.
func (s *Service) limit(ctx context.Context, tool string) int64 {
	var ns corev1.Namespace
	if err := s.Reader.Get(ctx, client.ObjectKey{Name: tenancy.Namespace(tool)}, &ns); err == nil {
		if over, err := toolquota.Decode(ns.Annotations[tenancy.AnnotationQuota]); err == nil {
			if q, ok := over[toolquota.RegistryStorage]; ok {
				return q.Value()
			}
		}
	}
	return DefaultQuota
}

// Quota reports the tool's registry storage in the original's terms.
func (s *Service) Quota(ctx context.Context, tool string) (builds.Quota, error) {
	bs, err := s.list(ctx, tool)
	if err != nil {
		return builds.Quota{}, err
	}
	u, err := s.quota(ctx, tool, bs)
	if err != nil {
		return builds.Quota{}, fmt.Errorf("registry usage of %s: %w", tool, err)
	}
	avail := max(u.limit-u.used, 0)
	return builds.Quota{Categories: []builds.QuotaCategory{{
		Name: "Registry",
		Items: []builds.QuotaItem{{
			Name: "Storage", Limit: formatBytes(u.limit), Used: formatBytes(u.used), Available: formatBytes(avail),
			Capacity: fmt.Sprintf("%.0f%%", 100*float64(u.used)/float64(max(u.limit, 1))),
		}},
	}}}, nil
}

// Clean deletes every image of the tool, and says how many per
// repository.
func (s *Service) Clean(ctx context.Context, tool string) ([]string, error) {
	bs, err := s.list(ctx, tool)
	if err != nil {
		return nil, err
	}
	repos, err := s.repositories(ctx, tool, bs)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range repos {
		imgs, err := s.Registry.Images(ctx, []string{r})
		if err != nil {
			return lines, err
		}
		for _, img := range imgs {
			if err := s.Registry.Delete(ctx, r, img.Digest); err != nil {
				return lines, err
			}
		}
		if len(imgs) > 0 {
			lines = append(lines, fmt.Sprintf("Deleted %d images from repository %s", len(imgs), r))
		}
	}
	if len(lines) == 0 {
		lines = []string{"Nothing to clean up"}
	}
	return lines, nil
}

// deleteImageUnlessLatest deletes a build's manifest unless the name's
// latest tag points at it.
func (s *Service) deleteImageUnlessLatest(ctx context.Context, repo, digest string) error {
	imgs, err := s.Registry.Images(ctx, []string{repo})
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if img.Digest == digest {
			for _, t := range img.Tags {
				if t == "latest" {
					return nil
				}
			}
			return s.Registry.Delete(ctx, repo, digest)
		}
	}
	return nil
}

// retainImages keeps the newest KeepImages images of a repository (and
// the one tagged latest) and deletes the others' manifests.
func (s *Service) retainImages(ctx context.Context, repo string) error {
	imgs, err := s.Registry.Images(ctx, []string{repo})
	if err != nil {
		return err
	}
	kept := 0
	for _, img := range imgs { // newest first
		latest := false
		for _, t := range img.Tags {
			latest = latest || t == "latest"
		}
		if latest || kept < KeepImages {
			kept++
			continue
		}
		if err := s.Registry.Delete(ctx, repo, img.Digest); err != nil {
			return err
		}
		s.Log.Info("deleted an old image (retention)", "repository", repo, "digest", img.Digest)
	}
	return nil
}

func formatBytes(n int64) string {
	units := []string{"Ti", "Gi", "Mi", "Ki"}
	values := []int64{1 << 40, 1 << 30, 1 << 20, 1 << 10}
	for i, u := range units {
		if n >= values[i] {
			return fmt.Sprintf("%.2f%s", float64(n)/float64(values[i]), u)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// ToolImages lists the tool's own images for `toolforge jobs images`:
// each name's latest, by the short name jobs take.
func (s *Service) ToolImages(ctx context.Context, tool string) ([]jobs.ImageInfo, error) {
	bs, err := s.list(ctx, tool)
	if err != nil {
		return nil, err
	}
	repos, err := s.repositories(ctx, tool, bs)
	if err != nil {
		return nil, err
	}
	imgs, err := s.Registry.Images(ctx, repos)
	if err != nil {
		return nil, err
	}
	var out []jobs.ImageInfo
	for _, img := range imgs {
		for _, t := range img.Tags {
			if t == "latest" {
				out = append(out, jobs.ImageInfo{Shortname: img.Repository + ":latest", Image: s.Registry.Host + "/" + img.Repository + "@" + img.Digest, Aliases: []string{}, State: "stable"})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shortname < out[j].Shortname })
	return out, nil
}
