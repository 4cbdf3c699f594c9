package registry_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

// The build service (its builds identity) finds a tool's repositories in
// the catalog, in pages of up to distribution's default maximum.
func TestTheRegistryListsItsRepositories(t *testing.T) {
	s, _ := start(t, nil, "127.0.0.1:0")
	addr := s.Addrs()[0]
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"tool-a/web", "tool-b/tool-b"} {
		if err := remote.Write(ref(t, addr, repo), img, remote.WithAuth(as(token.Builds))); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := name.NewRegistry(addr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 1000} {
		repos, err := remote.CatalogPage(reg, "", n, remote.WithContext(context.Background()), remote.WithAuth(as(token.Builds)))
		if err != nil {
			t.Fatalf("catalog (n=%d): %v", n, err)
		}
		if !slices.Equal(repos, []string{"tool-a/web", "tool-b/tool-b"}) {
			t.Errorf("catalog (n=%d): %v", n, repos)
		}
	}
}
