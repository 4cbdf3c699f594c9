package token

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	dtoken "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The token service's names, which the registry checks in every token.
const (
	// Issuer is the tokens' iss.
	Issuer = "devcluster-registry-token-service"
	// ServiceName is the registry's name in tokens (aud) and requests.
	ServiceName = "devcluster-registry"
	// Path is where the token service answers, on the registry's own
	// addresses: the challenge's realm is this path at the address the
	// client reached the registry at.
	Path = "/token"
)

// Service issues tokens.
type Service struct {
	signer jose.Signer
	creds  Credentials
	log    *slog.Logger
	now    func() time.Time
}

// NewService signs with key (whose certificate the registry trusts) and
// authenticates creds' identities.
func NewService(key *ecdsa.PrivateKey, creds Credentials, log *slog.Logger) (*Service, error) {
	// The key ID is what distribution's access controller computes for
	// each certificate of its root bundle: it finds the key by it.
	kid := dtoken.GetJWKThumbprint(key.Public())
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{signer: signer, creds: creds, log: log, now: time.Now}, nil
}

// Token is a token response, as the specification has it (token and
// access_token are the same JWT: clients read one or the other).
type Token struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// Issue signs a token for who carrying exactly granted (already decided by
// Grant).
func (s *Service) Issue(who Identity, granted []Scope) (Token, error) {
	now := s.now()
	life := Lifetime(who)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return Token{}, err
	}
	subject := string(who)
	if who == Anonymous {
		subject = "anonymous"
	}
	claims := dtoken.ClaimSet{
		Issuer:     Issuer,
		Subject:    subject,
		Audience:   dtoken.AudienceList{ServiceName},
		Expiration: now.Add(life).Unix(),
		NotBefore:  now.Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      hex.EncodeToString(jti),
		Access:     []*dtoken.ResourceActions{},
	}
	for _, g := range granted {
		claims.Access = append(claims.Access, &dtoken.ResourceActions{Type: g.Type, Name: g.Name, Actions: g.Actions})
	}
	raw, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Token: raw, AccessToken: raw, ExpiresIn: int(life.Seconds()), IssuedAt: now.UTC().Format(time.RFC3339)}, nil
}

// authenticate says who the request's Basic credentials name: Anonymous
// without any, an error for wrong ones (never anonymous in their stead: a
// client with a typo must hear so).
func (s *Service) authenticate(r *http.Request) (Identity, bool) {
	if r.Header.Get("Authorization") == "" {
		return Anonymous, true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Anonymous, false
	}
	want, known := s.creds[Identity(user)]
	if !known {
		want = "\x00" // compare anyway: no timing difference for unknown users
	}
	if subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 || !known {
		return Anonymous, false
	}
	return Identity(user), true
}

// ServeHTTP answers GET <realm>?service=…&scope=… (the specification's
// token request). Other methods (the OAuth2 POST form) are refused with
// 405, after which clients such as containerd fall back to GET.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "the token service answers GET "+Path+"?service=…&scope=… with HTTP Basic credentials or none", http.StatusMethodNotAllowed)
		return
	}
	who, ok := s.authenticate(r)
	if !ok {
		s.log.Warn("token refused: bad credentials", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Basic realm="devcluster registry token service"`)
		http.Error(w, "bad credentials", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	if svc := q.Get("service"); svc != "" && svc != ServiceName {
		http.Error(w, fmt.Sprintf("unknown service %q (this token service issues tokens for %q)", svc, ServiceName), http.StatusBadRequest)
		return
	}
	requested, err := ParseScopes(q["scope"])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	granted := Grant(who, requested)
	tok, err := s.Issue(who, granted)
	if err != nil {
		s.log.Error("issue token", "err", err)
		http.Error(w, "cannot issue a token", http.StatusInternalServerError)
		return
	}
	// Anonymous pulls are every pod start: only what was asked and not
	// granted is worth a line then.
	if req, got := fmt.Sprint(requested), fmt.Sprint(granted); who != Anonymous || req != got {
		s.log.Info("token issued", "identity", string(who), "requested", req, "granted", got, "remote", r.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tok) //nolint:gosec // G117: answering with the token is what a token service is for
}
