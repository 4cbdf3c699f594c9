package server

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
)

// The webhook's check: the tool's own token while it is valid; the
// original's words for a wrong one; an expired one says to refresh.
func TestOnlyTheToolsUnexpiredTokenIsAccepted(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Service{Kube: kubefake.NewClientset(), Now: func() time.Time { return now }}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.TokenSecret, Namespace: "tool-alpha"}}
	s.fill(sec)
	if _, err := s.Kube.CoreV1().Secrets("tool-alpha").Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	good := string(sec.Data[tokenKey])
	if len(good) != 36 || good[14] != '4' {
		t.Fatalf("token %q is not a version 4 UUID", good)
	}
	ctx := context.Background()
	if err := s.CheckToken(ctx, "alpha", good); err != nil {
		t.Fatalf("the tool's token: %v", err)
	}
	for _, tc := range []struct{ name, tool, token, want string }{
		{"a wrong token", "alpha", "3fae991e-193c-4b86-9f6a-im1nv4l1d", "does not match the tool's token"},
		{"an empty token", "alpha", "", "does not match the tool's token"},
		{"the token on another tool's path", "beta", good, "does not match the tool's token"},
	} {
		if err := s.CheckToken(ctx, tc.tool, tc.token); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	now = now.Add(366 * 24 * time.Hour)
	if err := s.CheckToken(ctx, "alpha", good); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a token past 365 days: %v", err)
	}
}
