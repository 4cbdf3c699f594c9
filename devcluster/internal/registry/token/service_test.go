package token

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	dtoken "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"

	"github.com/toolforge-go/toolforge/devcluster/internal/pki"
)

// tokenServer is a token service with the devcluster PKI's signer.
func tokenServer(t *testing.T) (*httptest.Server, Credentials, dtoken.VerifyOptions) {
	t.Helper()
	d := pki.Dir(t.TempDir())
	if err := pki.Ensure(d); err != nil {
		t.Fatal(err)
	}
	key, err := pki.LoadKey(d.Key(pki.RegistryToken))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := EnsureCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(key, creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	data, err := os.ReadFile(d.Cert(pki.RegistryToken))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	// What distribution's access controller checks.
	verify := dtoken.VerifyOptions{
		TrustedIssuers: []string{Issuer}, AcceptedAudiences: []string{ServiceName}, Roots: roots,
		TrustedKeys: map[string]crypto.PublicKey{dtoken.GetJWKThumbprint(cert.PublicKey): cert.PublicKey},
	}
	return srv, creds, verify
}

func ask(t *testing.T, srv *httptest.Server, method, user, pass string, scopes ...string) (*http.Response, Token) {
	t.Helper()
	q := url.Values{"service": {ServiceName}, "scope": scopes}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+Path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok Token
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			t.Fatal(err)
		}
	}
	return resp, tok
}

func claims(t *testing.T, raw string, verify dtoken.VerifyOptions) *dtoken.ClaimSet {
	t.Helper()
	tok, err := dtoken.NewToken(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tok.Verify(verify)
	if err != nil {
		t.Fatalf("the registry would refuse the token: %v", err)
	}
	return c
}

func access(c *dtoken.ClaimSet) string {
	var out []Scope
	for _, a := range c.Access {
		out = append(out, Scope{Type: a.Type, Name: a.Name, Actions: a.Actions})
	}
	return fmt.Sprint(out)
}

func TestTheServiceIssuesVerifiableTokensForWhatEachIdentityMayDo(t *testing.T) {
	srv, creds, verify := tokenServer(t)
	tests := []struct {
		name       string
		user, pass string
		scope      string
		want       string
		life       time.Duration
	}{
		{"anonymous asking to push gets pull only", "", "", "repository:toolforge-bookworm-sssd:pull,push", "[repository:toolforge-bookworm-sssd:pull]", 5 * time.Minute},
		{"builds asking to push a catalogue image gets pull only", "builds", creds[Builds], "repository:toolforge-bookworm-sssd:pull,push", "[repository:toolforge-bookworm-sssd:pull]", time.Hour},
		{"builds pushes a tool's image, for an hour", "builds", creds[Builds], "repository:tool-demo/web:pull,push", "[repository:tool-demo/web:pull,push]", time.Hour},
		{"admin pushes anything, for five minutes", "admin", creds[Admin], "repository:toolforge-bookworm-sssd:pull,push", "[repository:toolforge-bookworm-sssd:pull,push]", 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, tok := ask(t, srv, http.MethodGet, tc.user, tc.pass, tc.scope)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if tok.Token == "" || tok.AccessToken != tok.Token || tok.ExpiresIn != int(tc.life.Seconds()) {
				t.Fatalf("response %+v, want token = access_token, expires_in %v", tok, tc.life)
			}
			if _, err := time.Parse(time.RFC3339, tok.IssuedAt); err != nil {
				t.Errorf("issued_at: %v", err)
			}
			c := claims(t, tok.Token, verify)
			if got := access(c); got != tc.want {
				t.Errorf("access %s, want %s", got, tc.want)
			}
			if d := time.Duration(c.Expiration-c.IssuedAt) * time.Second; d != tc.life {
				t.Errorf("lives %s, want %s", d, tc.life)
			}
		})
	}
}

func TestTheServiceRefusesBadRequests(t *testing.T) {
	srv, creds, _ := tokenServer(t)
	for _, tc := range []struct {
		name       string
		method     string
		user, pass string
		want       int
	}{
		{"a wrong password is not taken for anonymous", http.MethodGet, "builds", creds[Admin], http.StatusUnauthorized},
		{"an unknown user is refused", http.MethodGet, "root", creds[Admin], http.StatusUnauthorized},
		{"an empty password is refused", http.MethodGet, "admin", "", http.StatusUnauthorized},
		{"the OAuth2 POST form is not served (clients fall back to GET)", http.MethodPost, "admin", creds[Admin], http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := ask(t, srv, tc.method, tc.user, tc.pass, "repository:x:push")
			if resp.StatusCode != tc.want {
				t.Errorf("status %s, want %d", resp.Status, tc.want)
			}
		})
	}
	resp, err := srv.Client().Get(srv.URL + Path + "?service=another&scope=repository:x:pull")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token for another service: %s, want 400", resp.Status)
	}
}

func TestCredentialsAreKeptAcrossRestartsAndPrivate(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := EnsureCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range Identities {
		if first[who] == "" || first[who] != again[who] {
			t.Errorf("%s: %q then %q", who, first[who], again[who])
		}
		st, err := os.Stat(CredentialsFile(dir, who))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is mode %v, want 0600", CredentialsFile(dir, who), st.Mode().Perm())
		}
		user, pass, err := ReadCredentialsFile(CredentialsFile(dir, who))
		if err != nil || user != string(who) || pass != first[who] {
			t.Errorf("%s reads %q:%q, %v", who, user, pass, err)
		}
	}
	if first[Admin] == first[Builds] {
		t.Error("admin and builds share a password")
	}
}
