package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/toolforge-go/toolforge/internal/builds"
	buildsv1 "github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/components"
	"github.com/toolforge-go/toolforge/internal/components/v1alpha1"
	"github.com/toolforge-go/toolforge/internal/jobs"
	jobsserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/route"
)

// fakeBuilds is the build service: refs resolve to commits; builds are
// started Running and finished by the test.
type fakeBuilds struct {
	commits map[string]string
	builds  []buildsv1.Build // newest first
	started int
}

func (f *fakeBuilds) ResolveRef(_ context.Context, url, ref string) (string, error) {
	c, ok := f.commits[url+"#"+ref]
	if !ok {
		return "", route.BadRequest("the git repository at %s has no branch or tag %q", url, ref)
	}
	return c, nil
}

func (f *fakeBuilds) List(context.Context, string) ([]buildsv1.Build, error) {
	return append([]buildsv1.Build(nil), f.builds...), nil
}

func (f *fakeBuilds) Start(_ context.Context, tool string, p builds.Parameters) (*buildsv1.Build, route.Messages, error) {
	f.started++
	b := buildsv1.Build{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-b%d", tool, f.started)},
		Spec:   buildsv1.BuildSpec{Tool: tool, SourceURL: p.SourceURL, Ref: p.Ref, ImageName: p.ImageName},
		Status: buildsv1.BuildStatus{Phase: buildsv1.PhaseRunning}}
	f.builds = append([]buildsv1.Build{b}, f.builds...)
	return &b, route.NewMessages(), nil
}

func (f *fakeBuilds) PushedImage(b *buildsv1.Build) string {
	if b.Status.Digest == "" {
		return ""
	}
	return "registry.test/tool-" + b.Spec.Tool + "/" + b.Spec.ImageName + "@" + b.Status.Digest
}

func (f *fakeBuilds) finish(phase string) {
	for i := range f.builds {
		if f.builds[i].Status.Phase == buildsv1.PhaseRunning {
			f.builds[i].Status.Phase = phase
			if phase == buildsv1.PhaseSucceeded {
				f.builds[i].Status.Digest = "sha256:" + f.builds[i].Name
			} else {
				f.builds[i].Status.Message = "the app has no Procfile"
			}
		}
	}
}

// fakeJobs is the jobs framework: it records each job's image; a job in
// rollouts is in that rollout state (default ready).
type fakeJobs struct {
	images   map[string]string
	rollouts map[string]string
}

func (f *fakeJobs) Rollout(_ context.Context, _ string, name string) (string, string, error) {
	if st, ok := f.rollouts[name]; ok {
		return st, "1 of 1 replica(s) updated", nil
	}
	return jobsserver.RolloutReady, "", nil
}

func (f *fakeJobs) Apply(_ context.Context, _ string, j *jobs.Job) (string, *jobs.Info, []string, error) {
	old, ok := f.images[j.Name]
	f.images[j.Name] = j.Image
	switch {
	case !ok:
		return jobs.Created, nil, nil, nil
	case old == j.Image:
		return jobs.Unchanged, nil, nil, nil
	}
	return jobs.Updated, nil, nil, nil
}

func (f *fakeJobs) CheckApply(context.Context, string, *jobs.Job) (string, *jobs.Info, []string, error) {
	return jobs.Created, nil, nil, nil
}
func (f *fakeJobs) Restart(context.Context, string, string) (string, error) { return "", nil }
func (f *fakeJobs) Delete(_ context.Context, _ string, name string) error {
	if _, ok := f.images[name]; !ok {
		return route.NotFound("Job '%s' does not exist", name)
	}
	delete(f.images, name)
	return nil
}

const repo = "http://git.test/app.git"

func newTestService(t *testing.T) (*Service, *fakeBuilds, *fakeJobs) {
	t.Helper()
	sch := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&v1alpha1.ComponentDeployment{}).Build()
	fb := &fakeBuilds{commits: map[string]string{repo + "#main": "1111111111111111111111111111111111111111"}}
	fj := &fakeJobs{images: map[string]string{}, rollouts: map[string]string{}}
	return &Service{Client: c, Builds: fb, Jobs: fj, Log: slog.Default()}, fb, fj
}

func testConfig(t *testing.T, extra string) *components.Config {
	t.Helper()
	cfg, err := components.Parse([]byte(`config_version: v1beta1
components:
  web:
    component_type: continuous
    build: {repository: "` + repo + `", ref: main}
    run: {command: web, port: 8000}
  nightly:
    component_type: scheduled
    build: {reuse_from: web}
    run: {command: cron, schedule: "@daily"}
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// deploy creates a deployment of cfg and reconciles it until it waits on
// a build (or ends), as the controller would.
func deploy(t *testing.T, s *Service, cfg *components.Config, req components.DeploymentRequest) string {
	t.Helper()
	ctx := context.Background()
	if err := s.SaveConfig(ctx, "demo", cfg); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Create(ctx, "demo", req)
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s, d.Name)
	return d.Name
}

func settle(t *testing.T, s *Service, id string) *v1alpha1.ComponentDeployment {
	t.Helper()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "tool-demo", Name: id}}
	// Twice: a second pass over the same state must change nothing
	// (level-based), and takes up what the first one left to do.
	for i := 0; i < 2; i++ {
		if _, err := s.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.deployment(context.Background(), "demo", id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestADeploymentBuildsThenRunsEveryComponentOnTheBuiltImage(t *testing.T) {
	s, fb, fj := newTestService(t)
	id := deploy(t, s, testConfig(t, ""), components.DeploymentRequest{})
	d := settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseRunning || fb.started != 1 || len(fj.images) != 0 {
		t.Fatalf("while building: phase %s, %d builds, jobs %v", d.Status.Phase, fb.started, fj.images)
	}
	if _, _, err := s.Create(context.Background(), "demo", components.DeploymentRequest{}); err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("a second deployment while one runs: %v, want refused naming %s", err, id)
	}
	fb.finish(buildsv1.PhaseSucceeded)
	d = settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseSuccessful {
		t.Fatalf("phase %s: %s", d.Status.Phase, d.Status.Message)
	}
	want := "registry.test/tool-demo/web@sha256:demo-b1"
	if fj.images["web"] != want || fj.images["nightly"] != want {
		t.Fatalf("jobs run %v, want both on %s", fj.images, want)
	}
	rep := Report(d)
	if rep.Builds["nightly"].BuildID != "demo-b1" || rep.Runs["web"].RunStatus != components.StatusSuccessful {
		t.Fatalf("report %+v", rep)
	}
}

func TestASecondDeploymentOfTheSameCommitReusesTheBuild(t *testing.T) {
	s, fb, _ := newTestService(t)
	settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	fb.finish(buildsv1.PhaseSucceeded)
	first := settle(t, s, s.mustLatest(t))
	second := settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	if second.Status.Phase != v1alpha1.PhaseSuccessful || fb.started != 1 {
		t.Fatalf("second deployment %s with %d builds: %s", second.Status.Phase, fb.started, second.Status.Message)
	}
	if a, b := first.Status.Components["web"].BuildID, second.Status.Components["web"].BuildID; a != b {
		t.Fatalf("build ids %s and %s, want the same", a, b)
	}
	third := settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{ForceBuild: true}))
	if fb.started != 2 || third.Status.Phase != v1alpha1.PhaseRunning {
		t.Fatalf("--force-build: %d builds, phase %s", fb.started, third.Status.Phase)
	}
}

func TestAFailedBuildLeavesThePreviousVersionRunning(t *testing.T) {
	s, fb, fj := newTestService(t)
	settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	fb.finish(buildsv1.PhaseSucceeded)
	settle(t, s, s.mustLatest(t))
	before := fj.images["web"]
	fb.commits[repo+"#main"] = "2222222222222222222222222222222222222222"
	id := deploy(t, s, testConfig(t, ""), components.DeploymentRequest{})
	fb.finish(buildsv1.PhaseFailed)
	d := settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(d.Status.Message, "previous version keeps running") {
		t.Fatalf("phase %s: %s", d.Status.Phase, d.Status.Message)
	}
	if fj.images["web"] != before {
		t.Fatalf("web runs %s after a failed build, want still %s", fj.images["web"], before)
	}
}

func TestPruneRemovesOnlyComponentsThatLeftTheFile(t *testing.T) {
	s, fb, fj := newTestService(t)
	extra := `  worker:
    component_type: continuous
    build: {reuse_from: web}
    run: {command: worker}
`
	settle(t, s, deploy(t, s, testConfig(t, extra), components.DeploymentRequest{}))
	fb.finish(buildsv1.PhaseSucceeded)
	settle(t, s, s.mustLatest(t))
	fj.images["handmade"] = "bookworm" // a job the file never had
	d := settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	if _, ok := fj.images["worker"]; !ok || d.Status.Phase != v1alpha1.PhaseSuccessful {
		t.Fatal("worker was removed without --prune")
	}
	d = settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{Prune: true}))
	if _, ok := fj.images["worker"]; ok || d.Status.Phase != v1alpha1.PhaseSuccessful {
		t.Fatalf("worker is still there after --prune (%s: %s)", d.Status.Phase, d.Status.Message)
	}
	if _, ok := fj.images["handmade"]; !ok {
		t.Fatal("--prune removed a job that was never a component")
	}
	if _, ok := fj.images["web"]; !ok {
		t.Fatal("--prune removed a component still in the file")
	}
}

func TestAnInterruptedDeploymentPastItsDeadlineFails(t *testing.T) {
	s, _, _ := newTestService(t)
	now := time.Now()
	s.Now = func() time.Time { return now }
	id := deploy(t, s, testConfig(t, ""), components.DeploymentRequest{})
	now = now.Add(2 * time.Hour)
	d := settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(d.Status.Message, "did not finish within") {
		t.Fatalf("phase %s: %s", d.Status.Phase, d.Status.Message)
	}
}

func TestOnlyTheNewest25DeploymentsAreKept(t *testing.T) {
	s, fb, _ := newTestService(t)
	fb.builds = []buildsv1.Build{{ObjectMeta: metav1.ObjectMeta{Name: "demo-old"},
		Spec:   buildsv1.BuildSpec{Tool: "demo", SourceURL: repo, Ref: "1111111111111111111111111111111111111111", ImageName: "web"},
		Status: buildsv1.BuildStatus{Phase: buildsv1.PhaseSucceeded, Digest: "sha256:x"}}}
	now := time.Now()
	s.Now = func() time.Time { now = now.Add(time.Second); return now }
	for i := 0; i < Keep+3; i++ {
		settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	}
	all, err := s.deployments(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != Keep {
		t.Fatalf("%d deployments kept, want %d", len(all), Keep)
	}
}

func (s *Service) mustLatest(t *testing.T) string {
	t.Helper()
	all, err := s.deployments(context.Background(), "demo")
	if err != nil || len(all) == 0 {
		t.Fatalf("no deployments: %v", err)
	}
	return all[len(all)-1].Name
}

// A deployment lives in its status, not in the process: a new executor
// (the platform restarted, or another replica became leader) carries on
// with the build the first one started, and starts no second one.
func TestARestartedExecutorResumesADeploymentFromItsStatus(t *testing.T) {
	s, fb, fj := newTestService(t)
	id := deploy(t, s, testConfig(t, ""), components.DeploymentRequest{})
	if fb.started != 1 {
		t.Fatalf("%d builds started", fb.started)
	}
	restarted := &Service{Client: s.Client, Builds: fb, Jobs: fj, Log: s.Log}
	fb.finish(buildsv1.PhaseSucceeded)
	d := settle(t, restarted, id)
	if d.Status.Phase != v1alpha1.PhaseSuccessful || fb.started != 1 || fj.images["web"] == "" {
		t.Fatalf("after the restart: phase %s (%s), %d builds, jobs %v", d.Status.Phase, d.Status.Message, fb.started, fj.images)
	}
}

// --dry-run says per component whether its build would be reused or made
// and what its job would become, and creates no deployment.
func TestADryRunSaysWhatWouldChangeAndDoesNothing(t *testing.T) {
	s, fb, _ := newTestService(t)
	ctx := context.Background()
	if err := s.SaveConfig(ctx, "demo", testConfig(t, "")); err != nil {
		t.Fatal(err)
	}
	_, changes, err := s.Create(ctx, "demo", components.DeploymentRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !strings.HasPrefix(changes[0].Build, "build "+repo+" at commit 111111111111") || changes[1].Build != "reuse the build of component web" {
		t.Fatalf("changes %+v", changes)
	}
	if all, _ := s.deployments(ctx, "demo"); len(all) != 0 || fb.started != 0 {
		t.Fatalf("a dry run made %d deployments and %d builds", len(all), fb.started)
	}
	fb.builds = []buildsv1.Build{{ObjectMeta: metav1.ObjectMeta{Name: "demo-old"},
		Spec:   buildsv1.BuildSpec{Tool: "demo", SourceURL: repo, Ref: "1111111111111111111111111111111111111111", ImageName: "web"},
		Status: buildsv1.BuildStatus{Phase: buildsv1.PhaseSucceeded, Digest: "sha256:x"}}}
	_, changes, err = s.Create(ctx, "demo", components.DeploymentRequest{DryRun: true})
	if err != nil || changes[0].Build != "reuse build demo-old of commit 111111111111" || changes[0].Run != "job created" {
		t.Fatalf("with a build to reuse: %v %+v", err, changes)
	}
}

// A file with a source_url is fetched again at each deployment, which
// deploys what it says now.
func TestADeploymentFetchesTheFileFromItsSourceURL(t *testing.T) {
	s, _, _ := newTestService(t)
	fresh := strings.Replace(string(mustMarshal(t, testConfig(t, ""))), "command: cron", "command: cron --v2", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(fresh)) }))
	defer srv.Close()
	cfg := testConfig(t, "")
	cfg.SourceURL = srv.URL + "/toolforge.yaml"
	ctx := context.Background()
	if err := s.SaveConfig(ctx, "demo", cfg); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Create(ctx, "demo", components.DeploymentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Config.Components["nightly"].Run.Command; got != "cron --v2" {
		t.Fatalf("deployed command %q, want the source's", got)
	}
	saved, err := s.config(ctx, "demo")
	if err != nil || saved.Spec.Components["nightly"].Run.Command != "cron --v2" || saved.Spec.SourceURL != cfg.SourceURL {
		t.Fatalf("the saved file: %v %+v", err, saved)
	}
}

func mustMarshal(t *testing.T, c *components.Config) []byte {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A deployment succeeds once each web service runs its new version, and
// fails if the new version never becomes ready (the old one keeps
// serving: the Deployment's rolling update).
func TestADeploymentWaitsForTheNewVersionToBeReady(t *testing.T) {
	s, fb, fj := newTestService(t)
	fb.builds = []buildsv1.Build{{ObjectMeta: metav1.ObjectMeta{Name: "demo-old"},
		Spec:   buildsv1.BuildSpec{Tool: "demo", SourceURL: repo, Ref: "1111111111111111111111111111111111111111", ImageName: "web"},
		Status: buildsv1.BuildStatus{Phase: buildsv1.PhaseSucceeded, Digest: "sha256:x"}}}
	fj.rollouts["web"] = jobsserver.RolloutProgressing
	id := deploy(t, s, testConfig(t, ""), components.DeploymentRequest{})
	d := settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseRunning || d.Status.Components["web"].RunStatus != components.StatusRunning || d.Status.Components["nightly"].RunStatus != components.StatusSuccessful {
		t.Fatalf("while web rolls out: %s %+v", d.Status.Phase, d.Status.Components)
	}
	fj.rollouts["web"] = jobsserver.RolloutFailed
	d = settle(t, s, id)
	if d.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(d.Status.Message, "component web") || !strings.Contains(d.Status.Message, "previous version keeps running") {
		t.Fatalf("a rollout that failed: %s: %s", d.Status.Phase, d.Status.Message)
	}
	delete(fj.rollouts, "web")
	d = settle(t, s, deploy(t, s, testConfig(t, ""), components.DeploymentRequest{}))
	if d.Status.Phase != v1alpha1.PhaseSuccessful || d.Status.Components["web"].RunMessage != "job unchanged" {
		t.Fatalf("the next deployment: %s %+v", d.Status.Phase, d.Status.Components["web"])
	}
}
