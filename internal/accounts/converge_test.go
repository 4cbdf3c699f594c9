package accounts_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// The API server's audit log, not the controller's word, proves that a
// pass over a converged cluster writes nothing.
func TestAConvergedRerunMakesZeroWrites(t *testing.T) {
	f := newFixture(t)
	var accounts []account
	for i := 0; i < 20; i++ {
		accounts = append(accounts, account{name: fmt.Sprintf("conv-%d", i), uid: int64(55000 + i)})
	}
	accounts = append(accounts, account{name: "conv-disabled", uid: 55100, disabled: true}, account{name: "conv-admin", uid: 45000, admin: true})
	f.write(accounts...)
	mark := markAudit(t)
	f.mustOnce()
	first := writesSince(t, mark)
	if len(first) < 20*10 {
		t.Fatalf("the first pass made only %d writes: is the audit log (or the user-agent filter) working?", len(first))
	}

	mark = markAudit(t)
	out := f.mustOnce()
	if w := writesSince(t, mark); len(w) != 0 {
		t.Fatalf("a converged re-run made %d writes:\n%s", len(w), strings.Join(w, "\n"))
	}
	if !strings.Contains(out, "writes=0") {
		t.Fatalf("the controller's own count disagrees:\n%s", out)
	}
}

// Between passes the controller watches what it owns and repairs hand edits
// at once.
func TestTheDaemonRepairsHandEditsWithoutWaitingForAPass(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "watch-a", uid: 56001}, account{name: "watch-admin", uid: 46001, admin: true})
	d := f.start("--interval", "1h")
	ns := "tool-watch-a"
	testcluster.Eventually(t, time.Minute, func() error {
		_, err := asTool(f.home("watch-a"), "get", "pods")
		return err
	})
	before := fingerprint(certificate(t, f.home("watch-a")))
	var deletedClaim types.UID
	var deletedAt time.Time

	repairs := []struct {
		name   string
		break_ func() error
		check  func() error
	}{
		{"a deleted marker regenerates the credentials",
			func() error {
				return cluster.Client.CoreV1().ConfigMaps(ns).Delete(ctx(), "maintain-kubeusers", metav1.DeleteOptions{})
			},
			func() error {
				if fingerprint(certificate(t, f.home("watch-a"))) == before {
					return fmt.Errorf("certificate not regenerated yet")
				}
				_, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx(), "maintain-kubeusers", metav1.GetOptions{})
				return err
			}},
		{"an edited quota is reverted",
			func() error {
				_, err := kubectl(cluster.Kubeconfig, "patch", "resourcequota", "-n", ns, ns, "--type=merge", "-p", `{"spec":{"hard":{"pods":"50"}}}`)
				return err
			},
			func() error {
				q, err := cluster.Client.CoreV1().ResourceQuotas(ns).Get(ctx(), ns, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if p := q.Spec.Hard[corev1.ResourcePods]; p.Value() != 4 {
					return fmt.Errorf("pods quota %s", p.String())
				}
				return nil
			}},
		{"a deleted role binding is made again",
			func() error {
				return cluster.Client.RbacV1().RoleBindings(ns).Delete(ctx(), "watch-a-tool-binding", metav1.DeleteOptions{})
			},
			func() error {
				_, err := asTool(f.home("watch-a"), "get", "pods")
				return err
			}},
		{"a deleted limit range is made again",
			func() error {
				return cluster.Client.CoreV1().LimitRanges(ns).Delete(ctx(), ns, metav1.DeleteOptions{})
			},
			func() error {
				_, err := cluster.Client.CoreV1().LimitRanges(ns).Get(ctx(), ns, metav1.GetOptions{})
				return err
			}},
		{"a deleted home claim is made again and bound to its volume",
			func() error {
				pvc, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx(), "tool-home", metav1.GetOptions{})
				if err != nil {
					return err
				}
				deletedClaim, deletedAt = pvc.UID, time.Now()
				return cluster.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx(), "tool-home", metav1.DeleteOptions{})
			},
			func() error {
				pvc, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx(), "tool-home", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if pvc.UID == deletedClaim {
					return fmt.Errorf("the deleted claim is still there")
				}
				if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName != "tool-watch-a-home" {
					return fmt.Errorf("claim %s, volume %q", pvc.Status.Phase, pvc.Spec.VolumeName)
				}
				t.Logf("the home claim is bound again %s after its deletion", time.Since(deletedAt).Round(time.Millisecond))
				return nil
			}},
		{"a deleted admin binding is made again",
			func() error {
				return cluster.Client.RbacV1().ClusterRoleBindings().Delete(ctx(), "toolforge-admin-watch-admin-view", metav1.DeleteOptions{})
			},
			func() error {
				_, err := cluster.Client.RbacV1().ClusterRoleBindings().Get(ctx(), "toolforge-admin-watch-admin-view", metav1.GetOptions{})
				return err
			}},
		{"a deleted namespace is provisioned again once it is gone",
			func() error {
				return cluster.Client.CoreV1().Namespaces().Delete(ctx(), ns, metav1.DeleteOptions{})
			},
			func() error {
				got, err := cluster.Client.CoreV1().Namespaces().Get(ctx(), ns, metav1.GetOptions{})
				if apierrors.IsNotFound(err) || (err == nil && got.DeletionTimestamp != nil) {
					return fmt.Errorf("namespace not back yet")
				}
				if err != nil {
					return err
				}
				_, err = asTool(f.home("watch-a"), "get", "pods")
				return err
			}},
	}
	for _, r := range repairs {
		t.Run(r.name, func(t *testing.T) {
			if err := r.break_(); err != nil {
				t.Fatal(err)
			}
			testcluster.Eventually(t, 90*time.Second, r.check)
		})
	}

	t.Run("the metrics the SPEC names are exported", func(t *testing.T) {
		for _, m := range []struct {
			name   string
			labels map[string]string
		}{
			{"maintain_kubeusers_run_seconds", nil},
			{"maintain_kubeusers_run_finished", nil},
			{"maintain_kubeusers_accounts_created", map[string]string{"account_type": "tool"}},
			{"maintain_kubeusers_accounts_created", map[string]string{"account_type": "admin"}},
			{"maintain_kubeusers_accounts_renewed", map[string]string{"account_type": "tool"}},
		} {
			v, err := d.metric(m.name, m.labels)
			if err != nil {
				t.Error(err)
				continue
			}
			if v <= 0 {
				t.Errorf("%s%v = %v, want > 0", m.name, m.labels, v)
			}
		}
		if finished, err := d.metric("maintain_kubeusers_run_finished", nil); err != nil || time.Since(time.Unix(int64(finished), 0)) > 10*time.Minute {
			t.Errorf("run_finished = %v (%v), want a recent unix time", finished, err)
		}
	})
}

// Two replicas: one leads and provisions; when it stops, the other takes
// over.
func TestReplicasElectOneLeader(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "lead-a", uid: 56101})
	a := f.start("--leader-elect", "--interval", "1s")
	b := f.start("--leader-elect", "--interval", "1s")
	leader := func() (*daemon, *daemon, error) {
		va, erra := a.metric("leader_election_master_status", nil)
		vb, errb := b.metric("leader_election_master_status", nil)
		switch {
		case erra == nil && va == 1 && (errb != nil || vb == 0):
			return a, b, nil
		case errb == nil && vb == 1 && (erra != nil || va == 0):
			return b, a, nil
		}
		return nil, nil, fmt.Errorf("leader status a=%v (%v) b=%v (%v)", va, erra, vb, errb)
	}
	var lead, other *daemon
	testcluster.Eventually(t, time.Minute, func() (err error) { lead, other, err = leader(); return err })
	testcluster.Eventually(t, time.Minute, func() error { _, err := asTool(f.home("lead-a"), "get", "pods"); return err })

	if err := lead.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = lead.cmd.Wait()
	f.write(account{name: "lead-a", uid: 56101}, account{name: "lead-b", uid: 56102})
	testcluster.Eventually(t, time.Minute, func() error {
		if v, err := other.metric("leader_election_master_status", nil); err != nil || v != 1 {
			return fmt.Errorf("the other replica is not leading: %v %v", v, err)
		}
		_, err := asTool(f.home("lead-b"), "get", "pods")
		return err
	})
}

// roleRef is immutable, so a binding re-made by hand with another role
// (here a tool given edit, an admin given cluster-admin) can only be
// replaced; one pass does it.
func TestABindingRemadeWithAnotherRoleIsBoundToItsRoleAgain(t *testing.T) {
	f := newFixture(t)
	f.write(account{name: "role-a", uid: 56201}, account{name: "role-admin", uid: 46201, admin: true})
	f.mustOnce()
	rbac := cluster.Client.RbacV1()
	tb, err := rbac.RoleBindings("tool-role-a").Get(ctx(), "role-a-tool-binding", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ab, err := rbac.ClusterRoleBindings().Get(ctx(), "toolforge-admin-role-admin-view", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rbac.RoleBindings(tb.Namespace).Delete(ctx(), tb.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rbac.ClusterRoleBindings().Delete(ctx(), ab.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.ObjectMeta = metav1.ObjectMeta{Name: tb.Name, Namespace: tb.Namespace, Labels: tb.Labels}
	tb.RoleRef.Name = "edit"
	if _, err := rbac.RoleBindings(tb.Namespace).Create(ctx(), tb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ab.ObjectMeta = metav1.ObjectMeta{Name: ab.Name, Labels: ab.Labels}
	ab.RoleRef.Name = "cluster-admin"
	if _, err := rbac.ClusterRoleBindings().Create(ctx(), ab, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f.mustOnce()
	if got, err := rbac.RoleBindings(tb.Namespace).Get(ctx(), tb.Name, metav1.GetOptions{}); err != nil || got.RoleRef.Name != "tools-user" {
		t.Errorf("the tool's binding after a pass: %v, role %q; want tools-user", err, got.RoleRef.Name)
	}
	if got, err := rbac.ClusterRoleBindings().Get(ctx(), ab.Name, metav1.GetOptions{}); err != nil || got.RoleRef.Name != "view" {
		t.Errorf("the admin's view binding after a pass: %v, role %q; want view", err, got.RoleRef.Name)
	}
}
