package accounts_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An admin reads everything but changes nothing unless they say sudo; a
// tool cannot say sudo; a removed admin keeps nothing.
func TestAdminsViewAndMustSaySudo(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "adm-tool", uid: 52001}, account{name: "alice", uid: 42001, admin: true})
	f.mustOnce()
	alice := filepath.Join(f.admins, "alice")

	if _, err := asTool(alice, "get", "pods", "-A"); err != nil {
		t.Fatalf("an admin reads pods everywhere: %v", err)
	}
	if _, err := asTool(alice, "get", "secrets", "-A"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("plain kubectl get secrets -A must be forbidden to an admin, got %v", err)
	}
	if _, err := asTool(alice, "delete", "namespace", "tool-adm-tool"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("an admin must not delete without sudo, got %v", err)
	}
	if _, err := asTool(alice, "sudo", "get", "pods", "-A"); err != nil {
		t.Fatalf("kubectl sudo get pods -A: %v", err)
	}
	if _, err := asTool(alice, "sudo", "get", "secrets", "-A"); err != nil {
		t.Fatalf("kubectl sudo get secrets -A: %v", err)
	}
	if _, err := asTool(alice, "sudo", "create", "configmap", "by-alice", "-n", "tool-adm-tool"); err != nil {
		t.Fatalf("kubectl sudo create: %v", err)
	}
	// The admin's certificate identifies them: O=admins, CN=alice.
	who, err := asTool(alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if err != nil || !strings.HasPrefix(who, "alice ") || !strings.Contains(who, "admins") {
		t.Fatalf("whoami = %q, %v", who, err)
	}

	t.Run("a tool cannot impersonate its way out", func(t *testing.T) {
		// kubectl's first call (discovery) is refused: 403.
		_, err := asTool(f.home("adm-tool"), "sudo", "get", "pods", "-A")
		if !isForbidden(err) {
			t.Fatalf("want impersonation forbidden, got %v", err)
		}
	})

	t.Run("a removed admin loses view and impersonation", func(t *testing.T) {
		f.write(account{name: "adm-tool", uid: 52001})
		f.mustOnce()
		if _, err := asTool(alice, "get", "pods", "-A"); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("view after removal: %v", err)
		}
		if _, err := asTool(alice, "sudo", "get", "pods", "-A"); !isForbidden(err) {
			t.Fatalf("sudo after removal: %v", err)
		}
		crbs, err := cluster.Client.RbacV1().ClusterRoleBindings().List(context.Background(), metav1.ListOptions{LabelSelector: "toolforge.org/admin=alice"})
		if err != nil {
			t.Fatal(err)
		}
		if len(crbs.Items) != 0 {
			t.Fatalf("%d bindings left for a removed admin", len(crbs.Items))
		}
	})
}

// isForbidden says kubectl failed with a 403.
func isForbidden(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "forbidden")
}
