package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/route"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Annotations of the token Secret.
const (
	annCreated = "toolforge.org/created"
	annExpires = "toolforge.org/expires"
	tokenKey   = "token"
)

// newToken is a random UUID (version 4), as the original's tokens.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Service) tokenSecret(ctx context.Context, tool string) (*corev1.Secret, error) {
	sec, err := s.Kube.CoreV1().Secrets(tenancy.Namespace(tool)).Get(ctx, v1alpha1.TokenSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, route.NotFound("Unable to find a deploy token for tool %s: create one with `toolforge components deploy-token create`", tool)
	}
	if err != nil {
		return nil, fmt.Errorf("read the deploy token of %s: %w", tool, err)
	}
	return sec, nil
}

func tokenOf(sec *corev1.Secret) components.Token {
	return components.Token{Token: string(sec.Data[tokenKey]), CreationDate: sec.Annotations[annCreated], ExpirationDate: sec.Annotations[annExpires]}
}

// fill puts a new token and its dates on sec.
func (s *Service) fill(sec *corev1.Secret) {
	now := s.now().UTC()
	sec.Data = map[string][]byte{tokenKey: []byte(newToken())}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[annCreated] = now.Format(time.RFC3339)
	sec.Annotations[annExpires] = now.Add(s.tokenLifetime()).Format(time.RFC3339)
}

// CheckToken accepts token for tool's deployments: the tool's own, not
// expired. What it says is what the original says, and nothing about the
// token itself.
func (s *Service) CheckToken(ctx context.Context, tool, token string) error {
	sec, err := s.Kube.CoreV1().Secrets(tenancy.Namespace(tool)).Get(ctx, v1alpha1.TokenSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return route.Errorf(http.StatusUnauthorized, "The given token does not match the tool's token (tool %s has no deploy token)", tool)
	}
	if err != nil {
		return fmt.Errorf("read the deploy token of %s: %w", tool, err)
	}
	want := sec.Data[tokenKey]
	if len(want) == 0 || subtle.ConstantTimeCompare(want, []byte(token)) != 1 {
		return route.Errorf(http.StatusUnauthorized, "The given token does not match the tool's token")
	}
	exp, err := time.Parse(time.RFC3339, sec.Annotations[annExpires])
	if err != nil || !s.now().Before(exp) {
		return route.Errorf(http.StatusUnauthorized, "The tool's deploy token expired (%s): refresh it with `toolforge components deploy-token refresh`", sec.Annotations[annExpires])
	}
	return nil
}

func (s *Service) handleTokenCreate(w http.ResponseWriter, r *route.Request) error {
	ctx := r.Context()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.TokenSecret, Namespace: tenancy.Namespace(r.Tool), Labels: map[string]string{v1alpha1.LabelTool: r.Tool}}}
	s.fill(sec)
	made, err := s.Kube.CoreV1().Secrets(sec.Namespace).Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return route.Conflict("Tool %s already has a deploy token: see it with `toolforge components deploy-token show`, replace it with `refresh`", r.Tool)
	}
	if err != nil {
		return fmt.Errorf("create the deploy token of %s: %w", r.Tool, err)
	}
	return route.WriteJSON(w, http.StatusOK, components.TokenResponse{Data: tokenOf(made), Messages: route.NewMessages()})
}

func (s *Service) handleTokenGet(w http.ResponseWriter, r *route.Request) error {
	sec, err := s.tokenSecret(r.Context(), r.Tool)
	if err != nil {
		return err
	}
	return route.WriteJSON(w, http.StatusOK, components.TokenResponse{Data: tokenOf(sec), Messages: route.NewMessages()})
}

func (s *Service) handleTokenRefresh(w http.ResponseWriter, r *route.Request) error {
	ctx := r.Context()
	sec, err := s.tokenSecret(ctx, r.Tool)
	if err != nil {
		return err
	}
	s.fill(sec)
	made, err := s.Kube.CoreV1().Secrets(sec.Namespace).Update(ctx, sec, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("refresh the deploy token of %s: %w", r.Tool, err)
	}
	return route.WriteJSON(w, http.StatusOK, components.TokenResponse{Data: tokenOf(made), Messages: route.NewMessages()})
}

func (s *Service) handleTokenDelete(w http.ResponseWriter, r *route.Request) error {
	ctx := r.Context()
	sec, err := s.tokenSecret(ctx, r.Tool)
	if err != nil {
		return err
	}
	if err := s.Kube.CoreV1().Secrets(sec.Namespace).Delete(ctx, sec.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the deploy token of %s: %w", r.Tool, err)
	}
	m := route.NewMessages()
	m.Infof("Deploy token for %s deleted successfully.", r.Tool)
	return route.WriteJSON(w, http.StatusOK, components.TokenResponse{Data: tokenOf(sec), Messages: m})
}
