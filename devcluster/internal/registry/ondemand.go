package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

var manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// selfHeader marks the registry's pushes to itself, which must not wait for
// the build they are part of (a push asks whether the manifest exists).
const selfHeader = "X-Devcluster-Registry-Push"

type selfTransport struct {
	token string
	next  http.RoundTripper
}

func (t selfTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(selfHeader, t.token)
	return t.next.RoundTrip(r)
}

// ServeHTTP answers token requests with the token service, and everything
// else as distribution's registry does, after building a missing catalogue
// image that a manifest request authorised to pull it asks for.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == token.Path {
		s.tokens.ServeHTTP(w, r)
		return
	}
	// Only plain HTTP is served: the challenge's realm says so (whatever a
	// client claims).
	r.Header.Set("X-Forwarded-Proto", "http")
	self := r.Header.Get(selfHeader) == s.token
	if s.builder != nil && !self && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// A request without a pull token is answered 401 at once: the build
		// waits for the client's retry with one.
		if m := manifestPath.FindStringSubmatch(r.URL.Path); m != nil && images.Buildable(m[1], m[2]) && s.mayPull(r, m[1]) {
			if err := s.ensure(r.Context(), m[1], m[2]); err != nil {
				s.log.Error("on-demand build failed", "repo", m[1], "tag", m[2], "err", err)
				_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithMessage(fmt.Sprintf("build %s:%s: %v", m[1], m[2], err)))
				return
			}
		}
	}
	s.app.ServeHTTP(w, r)
}

// ensure makes repo:tag present, building and pushing it once however many
// requests ask for it meanwhile; a request that gives up does not stop the
// build.
func (s *Server) ensure(ctx context.Context, repo, tag string) error {
	if s.has(repo, tag) {
		return nil
	}
	ch := s.builds.DoChan(repo+":"+tag, func() (any, error) {
		if s.has(repo, tag) {
			return nil, nil
		}
		return nil, s.buildAndPush(repo, tag)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mayPull says whether the request carries a token that lets it pull repo.
func (s *Server) mayPull(r *http.Request, repo string) bool {
	_, err := s.access.Authorized(r, auth.Access{Resource: auth.Resource{Type: "repository", Name: repo}, Action: token.Pull})
	return err == nil
}

// has asks the registry itself whether it holds repo:tag.
func (s *Server) has(repo, tag string) bool {
	pull, err := s.tokens.Issue(token.Admin, []token.Scope{{Type: "repository", Name: repo, Actions: []string{token.Pull}}})
	if err != nil {
		return false
	}
	req := httptest.NewRequestWithContext(s.ctx, http.MethodHead, "/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Authorization", "Bearer "+pull.Token)
	for _, mt := range []types.MediaType{types.OCIManifestSchema1, types.OCIImageIndex, types.DockerManifestSchema2, types.DockerManifestList} {
		req.Header.Add("Accept", string(mt))
	}
	rec := httptest.NewRecorder()
	s.app.ServeHTTP(rec, req)
	return rec.Code == http.StatusOK
}

func (s *Server) buildAndPush(repo, tag string) error {
	start := time.Now()
	s.log.Info("on-demand build", "repo", repo, "tag", tag)
	img, err := s.builder.Build(s.ctx, repo, s.logOut)
	if err != nil {
		return err
	}
	built := time.Since(start)
	ref, err := name.NewTag(s.self+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return err
	}
	// As any writer does: admin's credentials at the token service, which
	// the registry's challenge names.
	push := selfTransport{token: s.token, next: remote.DefaultTransport}
	admin := &authn.Basic{Username: string(token.Admin), Password: s.admin}
	if err := remote.Write(ref, img, remote.WithContext(s.ctx), remote.WithTransport(push), remote.WithAuth(admin)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	digest, _ := img.Digest()
	s.log.Info("on-demand build done", "repo", repo, "tag", tag, "digest", digest.String(),
		"build", built.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	return nil
}
