package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/toolforge-go/toolforge/devcluster/internal/images"
	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
	"github.com/toolforge-go/toolforge/devcluster/internal/registry"
	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

// syncBuffer collects the registry's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// creds are the identities' credentials of the registry start made last.
var creds token.Credentials

func start(t *testing.T, b *images.Builder, addrs ...string) (*registry.Server, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	d := pki.Dir(t.TempDir())
	if err := pki.Ensure(d); err != nil {
		t.Fatal(err)
	}
	credDir := t.TempDir()
	s, err := registry.Start(context.Background(), registry.Config{
		Dir: t.TempDir(), Addrs: addrs, Builder: b, Log: log,
		TokenCert: d.Cert(pki.RegistryToken), TokenKey: d.Key(pki.RegistryToken), CredentialsDir: credDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if creds, err = token.EnsureCredentials(credDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("registry log:\n%s", log)
		}
	})
	return s, log
}

func ref(t *testing.T, addr, repo string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pull(t *testing.T, r name.Reference) v1.Image {
	t.Helper()
	// The image reads its layers later, with this context.
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", r, err)
	}
	return img
}

// as is an identity's credentials, for go-containerregistry.
func as(who token.Identity) authn.Authenticator {
	return &authn.Basic{Username: string(who), Password: creds[who]}
}

func requireBuildHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("building images on demand needs root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Fatal("building images on demand needs mmdebstrap: apt-get install mmdebstrap")
	}
}

func TestTheRegistryServesAPushedImageOnEveryAddress(t *testing.T) {
	s, _ := start(t, nil, "127.0.0.1:0", "127.0.0.2:0")
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, s.Addrs()[0], "tests/random:v1"), img, remote.WithAuth(as(token.Admin))); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	for _, addr := range s.Addrs() {
		got := pull(t, ref(t, addr, "tests/random:v1"))
		if err := validate.Image(got); err != nil {
			t.Errorf("pulled from %s: %v", addr, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("pulled %s from %s, pushed %s", d, addr, want)
		}
	}
}

func TestAnUnknownImageIsNotFoundAndNotBuilt(t *testing.T) {
	s, log := start(t, images.NewBuilder(t.TempDir()), "127.0.0.1:0")
	for _, repo := range []string{"tests/absent:v1", "toolforge-python311-sssd-base:not-a-catalogue-tag"} {
		_, err := remote.Image(ref(t, s.Addrs()[0], repo))
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
			t.Errorf("pull %s: %v, want 404", repo, err)
		}
	}
	if strings.Contains(log.String(), "on-demand build") {
		t.Errorf("something was built:\n%s", log)
	}
}

func TestTheRegistryBuildsAMissingImageOnceForConcurrentPulls(t *testing.T) {
	requireBuildHost(t)
	// A fresh cache: the pause image is really built, once.
	s, log := start(t, images.NewBuilder(t.TempDir()), "127.0.0.1:0")
	r := ref(t, s.Addrs()[0], images.PauseRepo+":"+images.PauseTag)
	digests := make([]v1.Hash, 3)
	var wg sync.WaitGroup
	for i := range digests {
		wg.Go(func() { digests[i], _ = pull(t, r).Digest() })
	}
	wg.Wait()
	if n := strings.Count(log.String(), "msg=\"on-demand build\""); n != 1 {
		t.Errorf("%d on-demand builds, want 1:\n%s", n, log)
	}
	if !strings.Contains(log.String(), "msg=\"on-demand build done\"") {
		t.Errorf("the build's duration is not logged:\n%s", log)
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("pulls got different images: %v", digests)
		}
	}
	if err := validate.Image(pull(t, r)); err != nil {
		t.Error(err)
	}
}

func TestTheRegistryServesACatalogueImageUnderItsName(t *testing.T) {
	requireBuildHost(t)
	// The machine's cache, as devcluster uses it.
	s, _ := start(t, images.NewBuilder(""), "127.0.0.1:0")
	img := pull(t, ref(t, s.Addrs()[0], "toolforge-bookworm-sssd:latest"))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || !strings.Contains(strings.Join(cf.Config.Env, " "), "LANG=C.UTF-8") {
		t.Errorf("config %+v", cf)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	// Reading a layer through the registry checks its digest.
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
}
