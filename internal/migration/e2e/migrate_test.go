package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/migration"
	"github.com/toolforge-go/toolforge/internal/migration/force"
	"github.com/toolforge-go/toolforge/internal/testcluster"
)

func bg() context.Context { return context.Background() }

// deployment is the tool's web service Deployment on a cluster, or nil.
func deployment(t *testing.T, kube kubernetes.Interface, name string) *appsv1.Deployment {
	t.Helper()
	d, err := kube.AppsV1().Deployments("tool-"+name).Get(bg(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// webObjects counts the tool's web service objects on a cluster.
func webObjects(t *testing.T, kube kubernetes.Interface, name string) int {
	t.Helper()
	n := 0
	if deployment(t, kube, name) != nil {
		n++
	}
	if _, err := kube.CoreV1().Services("tool-"+name).Get(bg(), name, metav1.GetOptions{}); err == nil {
		n++
	}
	if _, err := kube.NetworkingV1().Ingresses("tool-"+name).Get(bg(), name, metav1.GetOptions{}); err == nil {
		n++
	}
	return n
}

// settings are what a web service Deployment runs: type/cpu/mem/replicas.
func settings(d *appsv1.Deployment) string {
	if d == nil {
		return "no deployment"
	}
	c := d.Spec.Template.Spec.Containers[0]
	return fmt.Sprintf("%s/%s/%s/%d", d.Annotations["toolforge.org/webservice-type"], c.Resources.Limits.Cpu(), c.Resources.Limits.Memory(), *d.Spec.Replicas)
}

// waitReady waits for the web service to have all its pods ready.
func waitReady(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	testcluster.Eventually(t, time.Minute, func() error {
		d := deployment(t, kube, name)
		if d == nil || d.Status.ReadyReplicas != *d.Spec.Replicas {
			return fmt.Errorf("web service of %s not ready", name)
		}
		return nil
	})
}

func TestBothAccountsControllersLeaveEveryKubeconfigWithBothContextsAndItsChoice(t *testing.T) {
	env(t)
	for _, name := range toolNames {
		cfg, err := clientcmd.LoadFromFile(tool(name).Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		want := "default"
		if name == "ctx-check" {
			want = "personal"
			if cfg.Clusters["personal"] == nil || cfg.AuthInfos["me"] == nil || cfg.Contexts["personal"] == nil {
				t.Fatalf("%s: the tool's own entries are gone: %v", name, cfg.Contexts)
			}
		}
		if cfg.CurrentContext != want || cfg.Contexts["default"] == nil || cfg.Contexts["toolforge"] == nil {
			t.Fatalf("%s: current-context %q, contexts %v", name, cfg.CurrentContext, cfg.Contexts)
		}
	}
	// Each context reaches its own cluster with its own certificate.
	for _, ctxName := range []string{"default", "toolforge"} {
		r := kubectl(t, "ws-move", "--context", ctxName, "get", "limitrange", "tool-ws-move", "-o", "jsonpath={.metadata.uid}")
		kube := map[string]kubernetes.Interface{"default": old.Client, "toolforge": neu.Client}[ctxName]
		lr, err := kube.CoreV1().LimitRanges("tool-ws-move").Get(bg(), "tool-ws-move", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 0 || r.Stdout != string(lr.UID) {
			t.Fatalf("context %s reaches limit range %q, want %q of its cluster: %s", ctxName, r.Stdout, lr.UID, r)
		}
	}
	t.Run("another pass of each controller changes no kubeconfig", func(t *testing.T) {
		before, err := os.ReadFile(tool("ws-move").Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		accounts := func(args ...string) testcluster.Accounts {
			return testcluster.Accounts{HomeRoot: setup.homes, Admins: []string{admin}, AdminHomeRoot: setup.admins, Args: args}
		}
		if _, err := old.ProvisionToolsWith(bg(), accounts("--context-name", "default"), toolNames...); err != nil {
			t.Fatal(err)
		}
		quotas := filepathJoin(t, newLimits)
		if _, err := neu.ProvisionToolsWith(bg(), accounts("--gentle", "--quotas-file", quotas), toolNames...); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(tool("ws-move").Kubeconfig); !bytes.Equal(before, after) {
			t.Fatalf("the kubeconfig changed:\n%s\n---\n%s", before, after)
		}
	})
}

func filepathJoin(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/quotas.yaml"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWebserviceMigrateMovesARunningWebserviceWithItsSettingsAndSwitchesTheContext(t *testing.T) {
	env(t)
	ok(t, "ws-move", "webservice", "python3.11", "start", "--cpu", "250m", "--mem", "768Mi", "--replicas", "2")
	before := settings(deployment(t, old.Client, "ws-move"))

	r := ok(t, "ws-move", "webservice", "migrate")
	want := "Stopping webservice on default Kubernetes cluster\nSwitched to context \"toolforge\".\nStarting webservice on toolforge Kubernetes cluster\n"
	if r.Stdout != want {
		t.Fatalf("stdout %q, want %q", r.Stdout, want)
	}
	if n := webObjects(t, old.Client, "ws-move"); n != 0 {
		t.Fatalf("%d web service objects left on the old cluster", n)
	}
	moved := deployment(t, neu.Client, "ws-move")
	if moved == nil || settings(moved) != before || before != "python3.11/250m/768Mi/2" {
		t.Fatalf("on the new cluster: %v, before %s", moved, before)
	}
	waitReady(t, neu.Client, "ws-move")
	if c := currentContext(t, "ws-move"); c != "toolforge" {
		t.Fatalf("current context %q", c)
	}
	if r := ok(t, "ws-move", "webservice", "status"); r.Stdout != "webservice of type python3.11 is running\n" {
		t.Fatalf("status on the new cluster: %q", r.Stdout)
	}

	t.Run("a second migrate does nothing", func(t *testing.T) {
		r := ok(t, "ws-move", "webservice", "migrate")
		if r.Stdout != "" || r.Stderr != "Webservice is running on toolforge Kubernetes cluster.\n" {
			t.Fatalf("%s", r)
		}
		if d := deployment(t, neu.Client, "ws-move"); d == nil || d.UID != moved.UID || d.Generation != moved.Generation {
			t.Fatal("the web service on the new cluster was touched")
		}
	})
	t.Run("kubectl config use-context default switches the tool's commands back", func(t *testing.T) {
		if r := kubectl(t, "ws-move", "config", "use-context", "default"); r.Code != 0 {
			t.Fatal(r)
		}
		if r := ok(t, "ws-move", "webservice", "status"); r.Stdout != "webservice is not running\n" {
			t.Fatalf("status on the old cluster: %q", r.Stdout)
		}
		if r := kubectl(t, "ws-move", "config", "use-context", "toolforge"); r.Code != 0 {
			t.Fatal(r)
		}
	})
}

func TestAWebserviceTooBigForTheNewClusterIsRefusedBeforeAnythingStops(t *testing.T) {
	env(t)
	ok(t, "ws-big", "webservice", "php8.2", "start", "--mem", "2Gi")
	waitReady(t, old.Client, "ws-big")
	running := deployment(t, old.Client, "ws-big")

	r := toolforge(t, "ws-big", "webservice", "migrate")
	if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was changed") || !strings.Contains(r.Stderr, "--mem 2Gi is more than the maximum 1Gi") || !strings.Contains(r.Stderr, "ask for at most 1Gi") {
		t.Fatalf("want a refusal naming the maximum: %s", r)
	}
	if r.Stdout != "" {
		t.Fatalf("stdout %q: something was done", r.Stdout)
	}
	if d := deployment(t, old.Client, "ws-big"); d == nil || d.UID != running.UID || d.DeletionTimestamp != nil || d.Generation != running.Generation {
		t.Fatal("the web service on the old cluster was touched")
	}
	if n := webObjects(t, neu.Client, "ws-big"); n != 0 || currentContext(t, "ws-big") != "default" {
		t.Fatalf("%d objects on the new cluster, context %s", n, currentContext(t, "ws-big"))
	}

	t.Run("with the maximum asked for, it moves", func(t *testing.T) {
		ok(t, "ws-big", "webservice", "migrate", "--mem", "1Gi")
		if d := deployment(t, neu.Client, "ws-big"); d == nil || settings(d) != "php8.2/500m/1Gi/1" {
			t.Fatalf("on the new cluster: %v", d)
		}
	})
}

func TestAStartRefusedOnTheNewClusterLeavesItRunningOnTheOldOne(t *testing.T) {
	env(t)
	ok(t, "ws-refused", "webservice", "start")
	waitReady(t, old.Client, "ws-refused")
	// The new cluster refuses the tool's Deployments (an admin's policy):
	// nothing the migration could have checked first.
	refuseDeployments(t, neu.Client, "tool-ws-refused")

	r := toolforge(t, "ws-refused", "webservice", "migrate")
	if r.Code != 1 || !strings.Contains(r.Stderr, "everything runs on default again") {
		t.Fatalf("%s", r)
	}
	want := "Stopping webservice on default Kubernetes cluster\nSwitched to context \"toolforge\".\nStarting webservice on toolforge Kubernetes cluster\nSwitched to context \"default\".\nStarting webservice on default Kubernetes cluster\n"
	if r.Stdout != want {
		t.Fatalf("stdout %q, want %q", r.Stdout, want)
	}
	waitReady(t, old.Client, "ws-refused")
	if d := deployment(t, old.Client, "ws-refused"); settings(d) != "php8.2/500m/512Mi/1" || webObjects(t, old.Client, "ws-refused") != 3 {
		t.Fatalf("not running as before on the old cluster: %s", settings(d))
	}
	if n := webObjects(t, neu.Client, "ws-refused"); n != 0 {
		t.Fatalf("%d web service objects left on the new cluster", n)
	}
	if c := currentContext(t, "ws-refused"); c != "default" {
		t.Fatalf("current context %q", c)
	}
	unrefuseDeployments(t, neu.Client)
}

// unrefuseDeployments removes what refuseDeployments made.
func unrefuseDeployments(t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	if err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(bg(), "refuse-deployments", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(bg(), "refuse-deployments", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// refuseDeployments makes the cluster refuse Deployments in ns, and waits
// until the API server enforces it (a dry-run create is refused).
func refuseDeployments(t *testing.T, kube kubernetes.Interface, ns string) {
	t.Helper()
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-deployments"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: "deployments are refused here"}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-deployments"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "refuse-deployments",
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(bg(), policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(bg(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{Name: "c", Image: "x", SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					}}},
				},
			},
		},
	}
	testcluster.Eventually(t, time.Minute, func() error {
		_, err := kube.AppsV1().Deployments(ns).Create(bg(), probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "deployments are refused here") {
			return nil
		}
		return fmt.Errorf("the policy is not enforced yet: %v", err)
	})
}

// jobList is the tool's jobs (on its current context) by name.
func jobList(t *testing.T, name string) map[string]jobs.Job {
	t.Helper()
	r := ok(t, name, "jobs", "list", "-o", "json")
	var list []jobs.Info
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	out := map[string]jobs.Job{}
	for _, j := range list {
		out[j.Name] = j.Job
	}
	return out
}

func TestJobsMigrateMovesScheduledAndContinuousJobsWithTheSameSpecs(t *testing.T) {
	env(t)
	t.Run("without a web service, webservice migrate says so and does nothing", func(t *testing.T) {
		r := ok(t, "jobs-move", "webservice", "migrate")
		if r.Stdout != "" || r.Stderr != "No webservice running.\n" || currentContext(t, "jobs-move") != "default" {
			t.Fatalf("%s (context %s)", r, currentContext(t, "jobs-move"))
		}
	})
	ok(t, "jobs-move", "jobs", "run", "backup", "--command", "./backup.sh", "--image", "bookworm", "--schedule", "@daily", "--retry", "2", "--emails", "onfailure")
	ok(t, "jobs-move", "jobs", "run", "bot", "--command", "python3 bot.py", "--image", "python3.11", "--continuous", "--mem", "256Mi", "--cpu", "250m", "--port", "8080", "--health-check-http", "/healthz")
	ok(t, "jobs-move", "jobs", "run", "once", "--command", "true", "--image", "bookworm", "--wait", "120")
	before := jobList(t, "jobs-move")

	r := ok(t, "jobs-move", "jobs", "migrate")
	want := "Switched to context \"toolforge\".\nJob 'backup' moved to toolforge\nJob 'bot' moved to toolforge\n"
	if r.Stdout != want {
		t.Fatalf("stdout %q, want %q", r.Stdout, want)
	}
	after := jobList(t, "jobs-move") // the context is the new cluster's now
	if len(after) != 2 || !reflect.DeepEqual(after["backup"], before["backup"]) || !reflect.DeepEqual(after["bot"], before["bot"]) {
		t.Fatalf("on the new cluster:\n%+v\nbefore:\n%+v", after, before)
	}
	if _, err := neu.Client.BatchV1().CronJobs("tool-jobs-move").Get(bg(), "backup", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := neu.Client.CoreV1().Services("tool-jobs-move").Get(bg(), "bot", metav1.GetOptions{}); err != nil {
		t.Fatalf("the continuous job's Service: %v", err)
	}
	if _, err := old.Client.BatchV1().CronJobs("tool-jobs-move").Get(bg(), "backup", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the scheduled job is still on the old cluster: %v", err)
	}
	if _, err := old.Client.AppsV1().Deployments("tool-jobs-move").Get(bg(), "bot", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the continuous job is still on the old cluster: %v", err)
	}
	if _, err := old.Client.BatchV1().Jobs("tool-jobs-move").Get(bg(), "once", metav1.GetOptions{}); err != nil {
		t.Fatalf("the finished one-off job did not stay behind: %v", err)
	}
	t.Run("a second jobs migrate finds nothing to move", func(t *testing.T) {
		r := ok(t, "jobs-move", "jobs", "migrate")
		if r.Stdout != "" || r.Stderr != "No jobs to migrate on default.\n" {
			t.Fatalf("%s", r)
		}
	})
}

func TestJobsThenWebserviceMigrateMoveEverythingInThatOrderToo(t *testing.T) {
	env(t)
	ok(t, "both", "webservice", "start")
	ok(t, "both", "jobs", "run", "tick", "--command", "./tick", "--image", "bookworm", "--schedule", "*/5 * * * *")
	ok(t, "both", "jobs", "migrate")
	// The context is on the new cluster; the web service is not yet.
	r := ok(t, "both", "webservice", "migrate")
	if !strings.HasPrefix(r.Stdout, "Stopping webservice on default Kubernetes cluster\nStarting webservice on toolforge") {
		t.Fatalf("stdout %q", r.Stdout)
	}
	if webObjects(t, old.Client, "both") != 0 || deployment(t, neu.Client, "both") == nil || currentContext(t, "both") != "toolforge" {
		t.Fatal("the web service did not move")
	}
}

// report runs `migration report -o json`.
func report(t *testing.T) migration.Report {
	t.Helper()
	r := adminRun(t, "migration", "report", "--from", "default", "--to", "toolforge", "--home-root", setup.homes, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("report: %s", r)
	}
	var rep migration.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	return rep
}

// row is a report line as the test writes its expectations.
func row(t migration.ToolReport) string {
	return fmt.Sprintf("%s context=%s state=%s web=%s scheduled=%v continuous=%v oneoff=%v other=%v",
		t.Tool, t.Context, t.State, t.Webservice, t.Scheduled, t.Continuous, t.OneOff, t.Other)
}

func rows(rep migration.Report) string {
	var out []string
	for _, t := range rep.Tools {
		out = append(out, row(t))
	}
	return strings.Join(out, "\n")
}

func TestTheReportListsWhatIsLeftAndTheForcedPhaseMovesItAll(t *testing.T) {
	env(t)
	// What the tools of this test leave on the old cluster.
	ok(t, "f-web", "webservice", "start")
	ok(t, "f-jobs", "jobs", "run", "nightly", "--command", "./n", "--image", "bookworm", "--schedule", "@daily")
	ok(t, "f-jobs", "jobs", "run", "worker", "--command", "./w", "--image", "bookworm", "--continuous")
	ok(t, "f-left", "webservice", "start")
	custom := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"custom"},"spec":{"selector":{"matchLabels":{"app":"custom"}},` +
		`"template":{"metadata":{"labels":{"app":"custom"}},"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":50010,"seccompProfile":{"type":"RuntimeDefault"}},` +
		`"containers":[{"name":"c","image":"docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}}}`
	if r := tool("f-left").Run(t, custom, nil, "kubectl", "apply", "-f", "-"); r.Code != 0 {
		t.Fatal(r)
	}
	ok(t, "f-fail", "webservice", "start", "--mem", "2Gi")
	if r := kubectl(t, "f-done", "config", "use-context", "toolforge"); r.Code != 0 {
		t.Fatal(r)
	}

	rep := report(t)
	want := strings.Join([]string{
		"ctx-check context=personal state=idle web= scheduled=[] continuous=[] oneoff=[] other=[]",
		"f-fail context=default state=pending web=php8.2 scheduled=[] continuous=[] oneoff=[] other=[]",
		"f-idle context=default state=idle web= scheduled=[] continuous=[] oneoff=[] other=[]",
		"f-jobs context=default state=pending web= scheduled=[nightly] continuous=[worker] oneoff=[] other=[]",
		"f-left context=default state=pending web=php8.2 scheduled=[] continuous=[] oneoff=[] other=[deployment/custom]",
		"f-web context=default state=pending web=php8.2 scheduled=[] continuous=[] oneoff=[] other=[]",
		"ws-refused context=default state=pending web=php8.2 scheduled=[] continuous=[] oneoff=[] other=[]",
		// Its test (unreachable_test.go) runs after this one.
		"ws-unreach context=default state=idle web= scheduled=[] continuous=[] oneoff=[] other=[]",
	}, "\n")
	if got := rows(rep); got != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}
	wantStates := map[string]int{"pending": 5, "idle": 3, "switched": 0, "unprovisioned": 0, "done": 5}
	if rep.Totals.Tools != len(toolNames) || !reflect.DeepEqual(rep.Totals.States, wantStates) || rep.Totals.Webservices != 4 || rep.Totals.Scheduled != 1 || rep.Totals.Continuous != 1 || rep.Totals.Other != 1 {
		t.Fatalf("totals %+v", rep.Totals)
	}

	t.Run("force asks first", func(t *testing.T) {
		r := adminRun(t, "migration", "force", "--from", "default", "--to", "toolforge", "--home-root", setup.homes)
		if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
			t.Fatalf("%s", r)
		}
	})

	r := adminRun(t, "migration", "force", "--from", "default", "--to", "toolforge", "--home-root", setup.homes, "--yes", "-o", "json")
	if r.Code != 1 {
		t.Fatalf("force must fail for f-fail: %s", r)
	}
	var results []force.Result
	if err := json.Unmarshal([]byte(r.Stdout), &results); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	outcome := map[string]force.Result{}
	for _, res := range results {
		outcome[res.Tool] = res
	}
	for _, name := range []string{"ctx-check", "f-idle", "f-jobs", "f-left", "f-web", "ws-refused"} {
		if outcome[name].Outcome != force.Migrated {
			t.Errorf("%s: %+v", name, outcome[name])
		}
	}
	if f := outcome["f-fail"]; f.Outcome != force.Failed || !strings.Contains(f.Reason, "maximum 1Gi") {
		t.Fatalf("f-fail: %+v", f)
	}
	if l := outcome["f-left"].Left; len(l) != 1 || l[0] != "deployment/custom" {
		t.Fatalf("f-left left %v", l)
	}
	if d := deployment(t, old.Client, "f-fail"); d == nil || d.DeletionTimestamp != nil || currentContext(t, "f-fail") != "default" {
		t.Fatal("the tool that failed does not run where it was")
	}
	for _, name := range []string{"f-web", "f-left", "ws-refused"} {
		if webObjects(t, old.Client, name) != 0 || deployment(t, neu.Client, name) == nil {
			t.Errorf("%s's web service did not move", name)
		}
	}
	if jobs := jobList(t, "f-jobs"); len(jobs) != 2 {
		t.Fatalf("f-jobs on the new cluster: %v", jobs)
	}

	rep = report(t)
	want = strings.Join([]string{
		"f-fail context=default state=pending web=php8.2 scheduled=[] continuous=[] oneoff=[] other=[]",
		"f-left context=toolforge state=switched web= scheduled=[] continuous=[] oneoff=[] other=[deployment/custom]",
	}, "\n")
	if got := rows(rep); got != want {
		t.Fatalf("report after force:\n%s\nwant:\n%s", got, want)
	}

	// The owners do what is theirs: a smaller web service, their own
	// Deployment moved by hand (here: removed from the old cluster).
	ok(t, "f-fail", "webservice", "restart", "--mem", "1Gi")
	if r := kubectl(t, "f-left", "--context", "default", "delete", "deployment", "custom", "--wait"); r.Code != 0 {
		t.Fatal(r)
	}
	if r := adminRun(t, "migration", "force", "--from", "default", "--to", "toolforge", "--home-root", setup.homes, "--tool", "f-fail", "--yes"); r.Code != 0 {
		t.Fatal(r)
	}
	testcluster.Eventually(t, time.Minute, func() error {
		rep := report(t)
		if len(rep.Tools) != 0 || rep.Totals.States["done"] != len(toolNames) {
			return errors.New("report not empty:\n" + rows(rep))
		}
		return nil
	})
	for _, name := range toolNames {
		if c := currentContext(t, name); c != "toolforge" {
			t.Errorf("%s is on %q", name, c)
		}
	}

	t.Run("a tool can still switch back with kubectl", func(t *testing.T) {
		if r := kubectl(t, "f-web", "config", "use-context", "default"); r.Code != 0 || r.Stdout != "Switched to context \"default\".\n" {
			t.Fatal(r)
		}
		if r := ok(t, "f-web", "webservice", "status"); r.Stdout != "webservice is not running\n" {
			t.Fatalf("on the old cluster: %q", r.Stdout)
		}
		if r := kubectl(t, "f-web", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); r.Code != 0 || r.Stdout != "f-web" {
			t.Fatal(r)
		}
	})
}
