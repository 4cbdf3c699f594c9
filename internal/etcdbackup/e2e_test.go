package etcdbackup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/etcdbackup"
	"github.com/toolforge-go/toolforge/internal/promtext"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

var (
	cluster                          *testcluster.Cluster
	admin, toolforged, devclusterBin string
)

func TestMain(m *testing.M) {
	var err error
	for name, p := range map[string]*string{"toolforge-admin": &admin, "toolforged": &toolforged, "devcluster": &devclusterBin} {
		if *p, err = testcluster.BuildBinary(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	testcluster.Main(m, testcluster.Options{Nodes: 1}, &cluster)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs toolforge-admin (no terminal: stdin is not one).
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, admin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("toolforge-admin %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// workload is a tool's Deployment as the tool writes it (Pod Security
// restricted; no admission server in this package).
func workload(name string, uid int64) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{Name: "main", Image: "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-base:latest",
						Command: []string{"sleep", "infinity"},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
				},
			},
		},
	}
}

// Backup, then delete a tool's namespace with everything in it, then
// restore: the tool and its workloads are back and its own kubeconfig
// works. A corrupted snapshot is refused before anything is touched.
func TestARestoredBackupBringsBackADeletedTool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tools, err := cluster.ProvisionTools(ctx, "gamma")
	if err != nil {
		t.Fatal(err)
	}
	gamma := tools["gamma"]
	kube, err := gamma.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AppsV1().Deployments(gamma.Namespace).Create(ctx, workload("bot", gamma.UID), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runningPods := func() error {
		pods, err := kube.CoreV1().Pods(gamma.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=bot"})
		if err != nil {
			return err
		}
		n := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d of 2 pods of gamma's bot running", n)
		}
		return nil
	}
	testcluster.Eventually(t, 2*time.Minute, runningPods)

	dir := t.TempDir()
	r := run(t, "etcd", "backup", "--devcluster-dir", cluster.Dir, "--to", dir, "--keep", "3", "-o", "json")
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	var snap etcdbackup.Snapshot
	if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil {
		t.Fatalf("backup output %q: %v", r.stdout, err)
	}
	if filepath.Dir(snap.Path) != dir || !strings.HasPrefix(filepath.Base(snap.Path), "etcd-") || snap.Namespaces < 5 || snap.LiveKeys < 100 || len(snap.SHA256) != 64 {
		t.Fatalf("snapshot: %+v", snap)
	}

	// The tool goes: its namespace and every object in it.
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, gamma.Namespace, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 2*time.Minute, func() error {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, gamma.Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace %s still there: %v", gamma.Namespace, err)
	})

	// A corrupted copy is refused with the cluster untouched.
	data, err := os.ReadFile(snap.Path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	corrupt := filepath.Join(t.TempDir(), "corrupt.db")
	if err := os.WriteFile(corrupt, data, 0o600); err != nil {
		t.Fatal(err)
	}
	statusBefore := supervisorPID(t)
	r = run(t, "etcd", "restore", corrupt, "--devcluster-dir", cluster.Dir, "--devcluster-bin", devclusterBin, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "refused, nothing changed") || !strings.Contains(r.stderr, "is corrupt") {
		t.Fatalf("corrupt snapshot: %+v", r)
	}
	if supervisorPID(t) != statusBefore {
		t.Fatal("the cluster was restarted for a corrupt snapshot")
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Get(ctx, gamma.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the corrupt snapshot changed the cluster: namespace %s: %v", gamma.Namespace, err)
	}

	// Off a terminal, restore asks for --yes.
	r = run(t, "etcd", "restore", snap.Path, "--devcluster-dir", cluster.Dir, "--devcluster-bin", devclusterBin)
	if r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("restore without --yes: %+v", r)
	}

	r = run(t, "etcd", "restore", snap.Path, "--devcluster-dir", cluster.Dir, "--devcluster-bin", devclusterBin, "--yes")
	if r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	if supervisorPID(t) == statusBefore {
		t.Fatal("the cluster was not restarted")
	}
	// The tool's own credentials, unchanged, work on the restored cluster.
	testcluster.Eventually(t, 3*time.Minute, runningPods)
	if _, err := testcluster.Kubectl(ctx, gamma.Kubeconfig, "get", "deployment", "bot"); err != nil {
		t.Fatalf("gamma's kubeconfig after the restore: %v", err)
	}
}

func supervisorPID(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		PID int `json:"supervisorPID"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st.PID
}

// toolforged backup takes a snapshot at start and on its schedule, keeps
// the newest --backup-keep, and says so on /metrics.
func TestTheBackupServiceKeepsVerifiedSnapshotsAndReportsThem(t *testing.T) {
	dir := t.TempDir()
	port, err := testcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(port)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "backup.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(toolforged, "backup", "--kubeconfig", cluster.Kubeconfig, "--devcluster-dir", cluster.Dir,
		"--backup-dir", dir, "--backup-schedule", "@every 2s", "--backup-keep", "2", "--metrics-addr", metricsAddr, "--health-addr", "0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("toolforged backup log:\n%s", log)
		}
	})
	metric := func(name string, labels map[string]string) (float64, error) {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		v, found, err := promtext.Sum(resp.Body, name, labels)
		if err == nil && !found {
			err = fmt.Errorf("no metric %s", name)
		}
		return v, err
	}
	testcluster.Eventually(t, 2*time.Minute, func() error {
		n, err := metric("toolforge_etcd_backup_runs_total", map[string]string{"result": "success"})
		if err != nil {
			return err
		}
		if n < 3 {
			return fmt.Errorf("%v successful backups so far", n)
		}
		return nil
	})
	last, err := metric("toolforge_etcd_backup_last_success_timestamp_seconds", nil)
	if err != nil || time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Errorf("last success %v (%v)", last, err)
	}
	size, err := metric("toolforge_etcd_backup_last_size_bytes", nil)
	if err != nil || size < 4096 {
		t.Errorf("last size %v (%v)", size, err)
	}
	if _, err := metric("toolforge_etcd_backup_last_duration_seconds", nil); err != nil {
		t.Error(err)
	}
	if failed, err := metric("toolforge_etcd_backup_runs_total", map[string]string{"result": "failure"}); err != nil || failed != 0 {
		t.Errorf("failed backups %v (%v)", failed, err)
	}
	// Retention: after three or more runs, the newest two (a run may be
	// between its new snapshot and its pruning right now).
	var list []string
	testcluster.Eventually(t, 30*time.Second, func() error {
		if list, err = etcdbackup.List(dir); err != nil {
			return err
		}
		if len(list) != 2 {
			return fmt.Errorf("snapshots kept: %v, want 2", list)
		}
		return nil
	})
	for _, p := range list {
		if _, err := etcdbackup.Verify(p); err != nil {
			t.Error(err)
		}
	}
}

func TestBackupNeedsAnEtcd(t *testing.T) {
	r := run(t, "etcd", "backup", "--to", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, "--etcd-endpoints") {
		t.Fatalf("%+v", r)
	}
	r = run(t, "etcd", "restore", "x.db")
	if r.code != 2 || !strings.Contains(r.stderr, "implemented for devcluster") {
		t.Fatalf("%+v", r)
	}
}
