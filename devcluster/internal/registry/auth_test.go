package registry_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dtoken "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/toolforge-go/toolforge/devcluster/internal/registry/token"
)

// pushed is a registry holding one image, pushed as admin.
func pushed(t *testing.T, repo string) (addr string) {
	t.Helper()
	s, _ := start(t, nil, "127.0.0.1:0")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, s.Addrs()[0], repo), img, remote.WithAuth(as(token.Admin))); err != nil {
		t.Fatalf("admin push: %v", err)
	}
	return s.Addrs()[0]
}

func status(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

func TestAnyonePullsButOnlyCredentialsPushWhatTheyMay(t *testing.T) {
	const catalogue = "toolforge-python311-sssd-base:latest"
	addr := pushed(t, catalogue)
	if _, err := remote.Image(ref(t, addr, catalogue)); err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	img, _ := random.Image(256, 1)
	for _, tc := range []struct {
		name string
		auth authn.Authenticator
		repo string
		ok   bool
	}{
		{"anonymous cannot push a catalogue image", authn.Anonymous, catalogue, false},
		{"anonymous cannot push a tool's image", authn.Anonymous, "tool-demo/web:latest", false},
		{"builds cannot push a catalogue image", as(token.Builds), catalogue, false},
		{"builds pushes a tool's image", as(token.Builds), "tool-demo/web:latest", true},
		{"wrong credentials push nothing", &authn.Basic{Username: "admin", Password: "guess"}, "tool-demo/web:latest", false},
		{"admin pushes a catalogue image", as(token.Admin), catalogue, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := remote.Write(ref(t, addr, tc.repo), img, remote.WithAuth(tc.auth))
			if tc.ok && err != nil {
				t.Fatalf("push: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("pushed")
			}
			if !tc.ok && status(err) != http.StatusUnauthorized {
				t.Fatalf("push: %v, want 401", err)
			}
		})
	}
	// Delete: only with a delete grant.
	d, _ := img.Digest()
	target := ref(t, addr, "tool-demo/web@"+d.String())
	if err := remote.Delete(target); status(err) != http.StatusUnauthorized {
		t.Errorf("anonymous delete: %v, want 401", err)
	}
	if err := remote.Delete(ref(t, addr, "toolforge-python311-sssd-base@"+d.String()), remote.WithAuth(as(token.Builds))); status(err) != http.StatusUnauthorized {
		t.Errorf("builds deleting a catalogue manifest: %v, want 401", err)
	}
	if err := remote.Delete(target, remote.WithAuth(as(token.Builds))); err != nil {
		t.Errorf("builds deleting a tool's manifest: %v", err)
	}
}

// raw sends one request to the registry as a client that speaks HTTP
// itself would.
func raw(t *testing.T, method, u, bearer string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func anonymousToken(t *testing.T, addr, scope string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + token.Path + "?" + url.Values{"service": {token.ServiceName}, "scope": {scope}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok token.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %s, %v", resp.Status, err)
	}
	return tok.Token
}

func TestWritesWithoutAPushTokenAnswer401WithTheChallenge(t *testing.T) {
	const repo = "toolforge-python311-sssd-base"
	addr := pushed(t, repo+":latest")
	base := "http://" + addr + "/v2/" + repo
	pullOnly := anonymousToken(t, addr, "repository:"+repo+":push,pull")
	for _, tc := range []struct{ method, url string }{
		{http.MethodPost, base + "/blobs/uploads/"},
		{http.MethodPut, base + "/manifests/latest"},
		{http.MethodDelete, base + "/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000"},
	} {
		for _, bearer := range []string{"", pullOnly} {
			resp := raw(t, tc.method, tc.url, bearer)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s (token %v): %s, want 401", tc.method, tc.url, bearer != "", resp.Status)
			}
			want := `Bearer realm="http://` + addr + token.Path + `",service="` + token.ServiceName + `"`
			if c := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, want) {
				t.Errorf("challenge %q, want it to start %q", c, want)
			}
		}
	}
	if resp := raw(t, http.MethodGet, base+"/manifests/latest", pullOnly); resp.StatusCode != http.StatusOK {
		t.Errorf("a pull with the anonymous token: %s", resp.Status)
	}
}

// A token the registry's signer did not sign is refused, even one naming
// its own key by a JWK or carrying the registry's key ID.
func TestForgedTokensAreRefused(t *testing.T) {
	const repo = "toolforge-python311-sssd-base"
	addr := pushed(t, repo+":latest")
	legit := anonymousToken(t, addr, "repository:"+repo+":pull")
	header, _, _ := strings.Cut(legit, ".")
	hdr, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Kid == "" {
		t.Fatalf("the registry's tokens carry no key ID: %s", hdr)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	claims := dtoken.ClaimSet{Issuer: token.Issuer, Subject: "admin", Audience: dtoken.AudienceList{token.ServiceName},
		Expiration: now.Add(time.Minute).Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(),
		Access: []*dtoken.ResourceActions{{Type: "repository", Name: repo, Actions: []string{"push", "pull"}}}}
	for name, opts := range map[string]*jose.SignerOptions{
		"its own key in a JWK":  (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"),
		"the registry's key ID": (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", h.Kid),
	} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		if resp := raw(t, http.MethodPost, "http://"+addr+"/v2/"+repo+"/blobs/uploads/", forged); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("an upload with a token signed by %s: %s, want 401", name, resp.Status)
		}
	}
}
