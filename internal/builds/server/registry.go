package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry is the platform's registry of tools' images, as the platform
// reaches it: Host is its name in image references (what nodes pull and
// admission allows), Endpoint where its API answers (the same host in
// production; devcluster's registry answers on the nodes' gateway).
// Credentials are the `builds` identity's, which may push, pull and
// delete tool-<tool>/<name> repositories (and nothing else).
type Registry struct {
	Host        string
	Endpoint    *url.URL
	Credentials authn.Authenticator
	Transport   http.RoundTripper
}

// ReadCredentials reads a credentials file: one line username:password.
func ReadCredentials(file string) (authn.Authenticator, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user == "" || pass == "" {
		return nil, fmt.Errorf("registry credentials %s: want one line username:password", file)
	}
	return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
}

func (r *Registry) transport() http.RoundTripper {
	if r.Transport != nil {
		return r.Transport
	}
	return remote.DefaultTransport
}

func (r *Registry) auth() authn.Authenticator {
	if r.Credentials == nil {
		return authn.Anonymous
	}
	return r.Credentials
}

// registry is the endpoint as go-containerregistry names it (plain HTTP
// when the endpoint says http).
func (r *Registry) registry() (name.Registry, error) {
	var opts []name.Option
	if r.Endpoint.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	return name.NewRegistry(r.Endpoint.Host, opts...)
}

// repo is a repository at the endpoint.
func (r *Registry) repo(repository string) (name.Repository, error) {
	reg, err := r.registry()
	if err != nil {
		return name.Repository{}, err
	}
	return reg.Repo(repository), nil
}

// Token is a token for scopes (repository:<name>:<actions>), minted as the
// Docker Registry v2 token specification says: the registry's challenge
// names the realm and service, and the token service there authenticates
// the credentials. "" means the registry asks for no authentication.
func (r *Registry) Token(ctx context.Context, scopes []string) (token string, expires time.Time, err error) {
	reg, err := r.registry()
	if err != nil {
		return "", time.Time{}, err
	}
	ch, err := transport.Ping(ctx, reg, r.transport())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("registry %s: %w", r.Endpoint.Host, err)
	}
	switch strings.ToLower(ch.Scheme) {
	case "":
		return "", time.Time{}, nil
	case "bearer":
	default:
		return "", time.Time{}, fmt.Errorf("registry %s asks for %q authentication; the build service needs token authentication", r.Endpoint.Host, ch.Scheme)
	}
	if r.Credentials == nil {
		return "", time.Time{}, fmt.Errorf("registry %s requires a token and the platform has no credentials for it (--builds-registry-credentials)", r.Endpoint.Host)
	}
	start := time.Now()
	tok, err := transport.Exchange(ctx, reg, r.Credentials, r.transport(), scopes, ch)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token for %s from %s: %w", strings.Join(scopes, " "), ch.Parameters["realm"], err)
	}
	t := tok.Token
	if t == "" {
		t = tok.AccessToken
	}
	if t == "" {
		return "", time.Time{}, errors.New("the token service answered without a token")
	}
	// The spec's default lifetime is 60 s.
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Minute
	}
	return t, start.Add(life), nil
}

// PushScopes are the scopes a build of tool's image name gets: push to its
// own repository, and pull of the base images it may build on (bases are
// image references; their layers are mounted into the build's repository,
// which needs pull on theirs). Nothing else.
func PushScopes(repository string, bases ...string) []string {
	out := []string{"repository:" + repository + ":push,pull"}
	for _, b := range bases {
		ref, err := name.ParseReference(b)
		if err != nil {
			continue
		}
		s := "repository:" + ref.Context().RepositoryStr() + ":pull"
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Image is one manifest of a tool's repository.
type Image struct {
	Repository string
	Digest     string
	Tags       []string
	Created    time.Time
	// Blobs are the digests and sizes of its config and layers.
	Blobs map[string]int64
}

// Images lists every tagged manifest of the repositories, newest first.
func (r *Registry) Images(ctx context.Context, repositories []string) ([]Image, error) {
	var out []Image
	for _, rp := range repositories {
		imgs, err := r.repoImages(ctx, rp)
		if err != nil {
			return nil, err
		}
		out = append(out, imgs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

func (r *Registry) repoImages(ctx context.Context, repository string) ([]Image, error) {
	repo, err := r.repo(repository)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(r.auth()), remote.WithTransport(r.transport())}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list tags of %s: %w", repository, err)
	}
	byDigest := map[string]*Image{}
	var order []string
	for _, tag := range tags {
		img, err := remote.Image(repo.Tag(tag), opts...)
		if err != nil {
			if isNotFound(err) {
				continue // deleted meanwhile
			}
			return nil, fmt.Errorf("read %s:%s: %w", repository, tag, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		if e, ok := byDigest[d.String()]; ok {
			e.Tags = append(e.Tags, tag)
			continue
		}
		e, err := describe(repository, d, img)
		if err != nil {
			return nil, fmt.Errorf("read %s:%s: %w", repository, tag, err)
		}
		e.Tags = []string{tag}
		byDigest[d.String()] = e
		order = append(order, d.String())
	}
	out := make([]Image, 0, len(order))
	for _, d := range order {
		out = append(out, *byDigest[d])
	}
	return out, nil
}

func describe(repository string, d v1.Hash, img v1.Image) (*Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	e := &Image{Repository: repository, Digest: d.String(), Created: cfg.Created.Time, Blobs: map[string]int64{m.Config.Digest.String(): m.Config.Size}}
	for _, l := range m.Layers {
		e.Blobs[l.Digest.String()] = l.Size
	}
	return e, nil
}

// Delete removes a manifest (every tag pointing at it goes with it).
func (r *Registry) Delete(ctx context.Context, repository, digest string) error {
	repo, err := r.repo(repository)
	if err != nil {
		return err
	}
	err = remote.Delete(repo.Digest(digest), remote.WithContext(ctx), remote.WithAuth(r.auth()), remote.WithTransport(r.transport()))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s@%s: %w", repository, digest, err)
	}
	return nil
}

// Catalog lists the registry's repositories whose names start with
// prefix. A registry that does not let the platform list (its token gives
// no catalog scope) answers nil without an error: callers know names from
// the builds.
func (r *Registry) Catalog(ctx context.Context, prefix string) ([]string, error) {
	reg, err := r.registry()
	if err != nil {
		return nil, err
	}
	var out []string
	// Pages of distribution's default maximum (100): a larger n is an
	// error there.
	for last := ""; ; {
		page, err := remote.CatalogPage(reg, last, catalogPage, remote.WithContext(ctx), remote.WithAuth(r.auth()), remote.WithTransport(r.transport()))
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
				return nil, nil
			}
			return nil, fmt.Errorf("list repositories: %w", err)
		}
		for _, rp := range page {
			if strings.HasPrefix(rp, prefix) {
				out = append(out, rp)
			}
		}
		if len(page) < catalogPage {
			return out, nil
		}
		last = page[len(page)-1]
	}
}

// catalogPage is the catalog's page size.
const catalogPage = 100

func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
			return true
		}
	}
	return false
}
