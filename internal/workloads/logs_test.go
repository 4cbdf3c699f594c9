package workloads_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// The log store: what tools' containers write is kept after their pods
// are gone (docs/logs.md), read through the logs API as the tool.

func TestAOneOffJobsOutputOutlivesItsPod(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const tool = "logkeeper"
	p.ok(t, tool, "jobs", "run", "once", "--image", "bookworm", "--no-filelog", "--wait", "300", "--command", `echo "first line"; sleep 1; echo "to stderr" >&2; sleep 1; echo "last line"`)
	// (stdout and stderr are two pipes: a line of each written at once
	// may be stamped in either order.)
	want := "first line\nto stderr\nlast line\n"
	if got := p.ok(t, tool, "jobs", "logs", "once").Stdout; got != want {
		t.Fatalf("the job's output:\n%s\nwant:\n%s", got, want)
	}
	// Its pod goes (as kubectl delete pod does, as the tool); the lines stay.
	kube, err := p.Tools[tool].Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := kube.CoreV1().Pods("tool-"+tool).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=once"}); err != nil {
		t.Fatal(err)
	}
	until(t, time.Minute, func() error {
		pods, err := kube.CoreV1().Pods("tool-"+tool).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=once"})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Errorf("pods left: %v %v", pods, err)
		}
		return nil
	})
	until(t, time.Minute, func() error {
		if r := p.toolforge(t, tool, "jobs", "logs", "once"); r.Code != 0 || r.Stdout != want || r.Stderr != "" {
			return fmt.Errorf("the job's output after its pod was deleted: %s", r)
		}
		return nil
	})
	// A window, and the last lines.
	if got := p.ok(t, tool, "jobs", "logs", "once", "-l", "1").Stdout; got != "last line\n" {
		t.Fatalf("-l 1: %q", got)
	}
	if got := p.ok(t, tool, "jobs", "logs", "once", "--since", "1h", "--until", "0s").Stdout; got != want {
		t.Fatalf("--since 1h: %q", got)
	}
	if r := p.toolforge(t, tool, "jobs", "logs", "once", "--until", "2h"); r.Code != 1 || !strings.Contains(r.Stderr, "no log lines are stored for job 'once'") {
		t.Fatalf("a window without lines: %s", r)
	}
	// Events: its creation, its run's start and exit code.
	until(t, time.Minute, func() error {
		ev := p.toolforge(t, tool, "jobs", "logs", "once", "--events").Stdout
		for _, e := range []string{"created: one-off job", "started: pod once-", "exited with code 0: pod once-"} {
			if !strings.Contains(ev, e) {
				return fmt.Errorf("events lack %q:\n%s", e, ev)
			}
		}
		return nil
	})
	// Bad input says what is accepted, before anything is asked.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--since", "yesterday"}, "is not a duration ago (30s, 10m, 2h, 3d, 1w"},
		{[]string{"--since", "1h", "--until", "2h"}, "--since must be before --until"},
		{[]string{"-l", "-3"}, "want a number of lines"},
	} {
		if r := p.toolforge(t, tool, append([]string{"jobs", "logs", "once"}, tc.args...)...); r.Code != 2 || !strings.Contains(r.Stderr, tc.msg) {
			t.Errorf("jobs logs %v: %s", tc.args, r)
		}
	}
	if r := p.toolforge(t, tool, "jobs", "logs", "once", "--since", "30d"); r.Code != 1 || !strings.Contains(r.Stderr, "further back than the log store keeps lines (14d)") {
		t.Errorf("a window beyond retention: %s", r)
	}
	// Another tool's logs: 403, whatever the tool or job.
	for _, path := range []string{logs.JobPath("victim", "once", logs.Logs), logs.JobPath("nosuchtool", "x", logs.Logs), logs.WebservicePath("victim", logs.Logs), logs.BuildPath("victim", "b1", logs.Logs)} {
		if code, body := p.apiGet(t, tool, path); code != http.StatusForbidden {
			t.Errorf("GET %s as %s: %d %s", path, tool, code, body)
		}
	}
	// The original API's paths and parameters (its functional tests').
	code, body := p.apiGet(t, tool, logs.JobPath(tool, "once", logs.Logs)+"?start=1h&end=0s")
	if code != http.StatusOK || strings.Count(body, "\n") != 3 || !strings.Contains(body, `"message":"first line"`) {
		t.Errorf("the logs API: %d %s", code, body)
	}
	for q, msg := range map[string]string{"start=invalid": "Invalid start time", "end=invalid": "Invalid end time", "start=10s&end=20s": "Start time must be before end time"} {
		if code, body := p.apiGet(t, tool, logs.JobPath(tool, "once", logs.Logs)+"?"+q); code != http.StatusBadRequest || !strings.Contains(body, msg) {
			t.Errorf("?%s: %d %s", q, code, body)
		}
	}
}

func TestAScheduledJobsLinesFromTwoRunsAreBothShown(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const tool = "logcron"
	p.ok(t, tool, "jobs", "run", "tick", "--image", "bookworm", "--no-filelog", "--schedule", "@yearly", "--command", `echo "run $(cat /proc/sys/kernel/random/uuid)"`)
	// Two runs now (jobs restart runs a scheduled job at once; a run is
	// named by the second it starts in, so the second may have to wait).
	p.ok(t, tool, "jobs", "restart", "tick")
	until(t, 10*time.Second, func() error {
		if r := p.toolforge(t, tool, "jobs", "restart", "tick"); r.Code != 0 {
			return fmt.Errorf("a second run: %s", r)
		}
		return nil
	})
	var runs []string
	ctx := context.Background()
	until(t, imageTimeout, func() error {
		pods, err := cluster.Client.CoreV1().Pods("tool-"+tool).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=tick"})
		if err != nil {
			return err
		}
		runs = runs[:0]
		for _, pd := range pods.Items {
			if pd.Status.Phase != corev1.PodSucceeded {
				return fmt.Errorf("pod %s is %s", pd.Name, pd.Status.Phase)
			}
			runs = append(runs, pd.Name)
		}
		if len(runs) != 2 {
			return fmt.Errorf("runs %v", runs)
		}
		return nil
	})
	// The first run's pod goes (the CronJob keeps one finished run).
	if err := cluster.Client.CoreV1().Pods("tool-"+tool).Delete(ctx, runs[0], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, time.Minute, func() error {
		out := p.toolforge(t, tool, "jobs", "logs", "tick").Stdout
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("want a line of each run:\n%s", out)
		}
		for _, pod := range runs {
			if !strings.Contains(out, "["+pod+"] run ") {
				return fmt.Errorf("no line of run %s:\n%s", pod, out)
			}
		}
		return nil
	})
}

func TestABuildsLinesAreItsToolsOnly(t *testing.T) {
	p := setup(t)
	t.Parallel()
	const tool, build = "logbuild", "b-1234"
	ctx := context.Background()
	// A build pod as the build service makes one: in image-build, labelled
	// by the platform with the tool and the build (tools cannot create
	// pods there). Its output names another tool, in a JSON line naming the
	// collector's own fields: it is still this tool's build's line.
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: logs.BuildNamespace}}, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	spoof := `{"kubernetes.pod_namespace":"tool-victim","kubernetes.pod_labels.toolforge.org/tool":"victim","msg":"spoofed"}`
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "build-" + build, Namespace: logs.BuildNamespace, Labels: map[string]string{logs.LabelBuildTool: tool, logs.LabelBuild: build}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "build", Image: "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest",
			Command: []string{"sh", "-c", "echo 'step 1: fetch'; echo 'step 2: build'; echo '" + spoof + "'; echo 'build done'"},
		}}},
	}
	if _, err := cluster.Client.CoreV1().Pods(logs.BuildNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	until(t, imageTimeout, func() error {
		pd, err := cluster.Client.CoreV1().Pods(logs.BuildNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || pd.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("build pod: %v %v", pd.Status.Phase, err)
		}
		return nil
	})
	// The build is finished and its pod gone: its lines stay the tool's.
	if err := cluster.Client.CoreV1().Pods(logs.BuildNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	until(t, time.Minute, func() error {
		code, body := p.apiGet(t, tool, logs.BuildPath(tool, build, logs.Logs))
		msgs := messages(body)
		if code != http.StatusOK || strings.Join(msgs, "|") != "step 1: fetch|step 2: build|"+spoof+"|build done" {
			return fmt.Errorf("%d %q", code, msgs)
		}
		return nil
	})
	// The tool its line names has no such build, and may not read this one.
	if code, body := p.apiGet(t, "victim", logs.BuildPath("victim", build, logs.Logs)); code != http.StatusNotFound {
		t.Errorf("the spoofed tool's build: %d %s", code, body)
	}
	if code, body := p.apiGet(t, "victim", logs.BuildPath(tool, build, logs.Logs)); code != http.StatusForbidden {
		t.Errorf("another tool's build: %d %s", code, body)
	}
}

// Not parallel: while the store is down, other tests' reads would fall
// back to the kubelet.
func TestTheStoreRestartedMidStreamLosesNoLine(t *testing.T) {
	p := setup(t)
	const tool, n = "logstream", 600
	// 600 numbered lines over about 30 s.
	p.ok(t, tool, "jobs", "run", "counter", "--image", "bookworm", "--no-filelog", "--command", fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done`, n))
	path := logs.JobPath(tool, "counter", logs.Logs) + "?lines=" + strconv.Itoa(2*n)
	until(t, imageTimeout, func() error {
		if _, body := p.apiGet(t, tool, path); len(messages(body)) < 100 {
			return fmt.Errorf("%d lines so far", len(messages(body)))
		}
		return nil
	})
	// The store stops (as on a restart) while the job writes on; the
	// supervisor starts it again.
	pid, restarts := storeProcess(t)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	until(t, time.Minute, func() error {
		if _, r := storeProcess(t); r <= restarts {
			return fmt.Errorf("the store was not restarted yet")
		}
		return nil
	})
	// Every line, once: the collector kept what the store could not take.
	until(t, 2*time.Minute, func() error {
		code, body := p.apiGet(t, tool, path)
		msgs := messages(body)
		if code != http.StatusOK || len(msgs) != n {
			return fmt.Errorf("%d: %d lines, want %d", code, len(msgs), n)
		}
		for i, m := range msgs {
			if m != fmt.Sprintf("line %d", i+1) {
				return fmt.Errorf("line %d is %q", i+1, m)
			}
		}
		return nil
	})
}

func TestAToolOverItsRateIsCutAndToldOnceWhileOthersArriveOnTime(t *testing.T) {
	p := setup(t)
	t.Parallel()
	// 100,000 lines at once: ten times the rate's burst (10,000).
	p.ok(t, "flooder", "jobs", "run", "flood", "--image", "bookworm", "--no-filelog", "--command", `seq 1 100000; sleep 5; echo after the flood`)
	p.ok(t, "quiet", "jobs", "run", "calm", "--image", "bookworm", "--no-filelog", "--command", `sleep 2; echo calm line`)
	start := time.Now()
	until(t, imageTimeout, func() error {
		if _, body := p.apiGet(t, "quiet", logs.JobPath("quiet", "calm", logs.Logs)); !strings.Contains(body, "calm line") {
			return fmt.Errorf("the quiet tool's line did not arrive")
		}
		return nil
	})
	t.Logf("the quiet tool's line arrived %s after its job was created", time.Since(start).Round(time.Millisecond))
	until(t, 2*time.Minute, func() error {
		_, body := p.apiGet(t, "flooder", logs.JobPath("flooder", "flood", logs.Logs)+"?lines="+strconv.Itoa(logs.MaxLines)+"&start=1h")
		msgs := messages(body)
		told := 0
		for _, m := range msgs {
			if strings.HasPrefix(m, "[toolforge] log lines dropped:") {
				told++
			}
		}
		if told != 1 || len(msgs) >= 100000 || len(msgs) < 10000 || msgs[len(msgs)-1] != "after the flood" {
			return fmt.Errorf("%d lines kept, told %d times, last %q", len(msgs), told, msgs[len(msgs)-1:])
		}
		return nil
	})
}

// apiGet asks the platform's API as tool (its client certificate), as curl
// does in the original's tests.
func (p *platform) apiGet(t *testing.T, tool, path string) (int, string) {
	t.Helper()
	ctx := context.Background()
	cm, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Get(ctx, tenancy.APIConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cm.Data[tenancy.APIConfigCA]))
	cert, err := tls.LoadX509KeyPair(p.Tools[tool].CertFile, p.Tools[tool].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get(cm.Data[tenancy.APIConfigURL] + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// messages are the lines of a logs API answer.
func messages(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var l logs.Line
		if json.Unmarshal(sc.Bytes(), &l) == nil && !l.Time.IsZero() {
			out = append(out, l.Message)
		}
	}
	return out
}

// storeProcess is the log store's pid and restarts, from the cluster's
// state.
func storeProcess(t *testing.T) (int, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.Dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Procs []struct {
			Name     string `json:"name"`
			PID      int    `json:"pid"`
			Restarts int    `json:"restarts"`
		} `json:"procs"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, pr := range st.Procs {
		if pr.Name == "logs-store" {
			return pr.PID, pr.Restarts
		}
	}
	t.Fatal("no logs-store process in the cluster's state")
	return 0, 0
}
