package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/toolforge-go/toolforge/internal/jobs"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

// world records, in order, every change the fakes of both clusters make.
type world struct{ log []string }

func (w *world) add(format string, args ...any) { w.log = append(w.log, fmt.Sprintf(format, args...)) }

type fakeWeb struct {
	w        *world
	name     string
	running  *webservice.Running
	checkErr error
	startErr error
	// onStart runs at each start; gone makes every call after it hang,
	// until its context ends or, when deaf, for ever (until release).
	onStart func()
	gone    bool
	deaf    bool
	release chan struct{}
}

// hang is a call to a cluster that no longer answers.
func (f *fakeWeb) hang(ctx context.Context) error {
	if !f.gone {
		return nil
	}
	if f.deaf {
		<-f.release
		return errors.New("released")
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeWeb) Running(ctx context.Context) (*webservice.Running, error) {
	if err := f.hang(ctx); err != nil {
		return nil, err
	}
	return f.running, nil
}
func (f *fakeWeb) CheckStart(_ context.Context, o webservice.Options) (webservice.Footprint, error) {
	mem := resource.MustParse(o.Flags.Mem)
	return webservice.Footprint{Replicas: 1, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: mem}}}, f.checkErr
}
func (f *fakeWeb) StartSaying(ctx context.Context, o webservice.Options, _ string) error {
	if f.onStart != nil {
		f.onStart()
	}
	if err := f.hang(ctx); err != nil {
		return err
	}
	if f.startErr != nil {
		return f.startErr
	}
	f.running = &webservice.Running{Choices: o.Flags}
	f.w.add("%s: start web %s mem %s", f.name, o.Flags.Type, o.Flags.Mem)
	return nil
}
func (f *fakeWeb) StopSaying(context.Context, string) error {
	f.running = nil
	f.w.add("%s: stop web", f.name)
	return nil
}

type fakeJobs struct {
	w        *world
	name     string
	jobs     map[string]jobs.Info
	applyErr map[string]error
	checkErr map[string]error
	// deleteErr fails a delete, and makes every apply after it hang
	// until its context ends (the cluster stopped answering).
	deleteErr map[string]error
	gone      bool
}

func (f *fakeJobs) List(context.Context) ([]jobs.Info, error) {
	var out []jobs.Info
	for _, j := range f.jobs {
		out = append(out, j)
	}
	return out, nil
}
func (f *fakeJobs) Check(_ context.Context, j *jobs.Job) (string, error) {
	if err := f.checkErr[j.Name]; err != nil {
		return "", err
	}
	if cur, ok := f.jobs[j.Name]; ok {
		if cur.Job.Equal(j) {
			return jobs.Unchanged, nil
		}
		return jobs.Updated, nil
	}
	return jobs.Created, nil
}
func (f *fakeJobs) Apply(ctx context.Context, j *jobs.Job) (string, error) {
	if f.gone {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if err := f.applyErr[j.Name]; err != nil {
		return "", err
	}
	r, err := f.Check(ctx, j)
	if err != nil {
		return "", err
	}
	f.jobs[j.Name] = jobs.Info{Job: *j, StatusShort: jobs.StatusRunning}
	f.w.add("%s: apply job %s (%s)", f.name, j.Name, r)
	return r, nil
}
func (f *fakeJobs) Delete(_ context.Context, name string) error {
	if err := f.deleteErr[name]; err != nil {
		f.gone = true
		return err
	}
	delete(f.jobs, name)
	f.w.add("%s: delete job %s", f.name, name)
	return nil
}

type fixture struct {
	w              *world
	oldWeb, newWeb *fakeWeb
	oldJobs        *fakeJobs
	newJobs        *fakeJobs
	current        string
	quota          *corev1.ResourceQuota
	out, errOut    bytes.Buffer
}

func newFixture() *fixture {
	w := &world{}
	f := &fixture{
		w:       w,
		oldWeb:  &fakeWeb{w: w, name: "old", running: &webservice.Running{Choices: webservice.Choices{Type: "php8.2", CPU: "500m", Mem: "1Gi", Replicas: "1"}}},
		newWeb:  &fakeWeb{w: w, name: "new"},
		oldJobs: &fakeJobs{w: w, name: "old", jobs: map[string]jobs.Info{}},
		newJobs: &fakeJobs{w: w, name: "new", jobs: map[string]jobs.Info{}},
		current: "default",
	}
	for _, j := range []jobs.Info{
		{Job: jobs.Job{Name: "backup", Command: "./b", Image: "bookworm", Schedule: "@daily"}, StatusShort: jobs.StatusRunning},
		{Job: jobs.Job{Name: "bot", Command: "./bot", Image: "python3.11", Continuous: true, Memory: "1Gi", Replicas: 1}, StatusShort: jobs.StatusRunning},
		{Job: jobs.Job{Name: "done", Command: "./once", Image: "bookworm"}, StatusShort: jobs.StatusCompleted},
	} {
		f.oldJobs.jobs[j.Name] = j
	}
	return f
}

func (f *fixture) plan() *Plan {
	kube := fake.NewClientset()
	if f.quota != nil {
		kube = fake.NewClientset(f.quota)
	}
	return &Plan{
		Tool: "demo",
		From: Side{Context: "default", Web: f.oldWeb, Jobs: f.oldJobs, Kube: fake.NewClientset(), Namespace: "tool-demo"},
		To:   Side{Context: "toolforge", Web: f.newWeb, Jobs: f.newJobs, Kube: kube, Namespace: "tool-demo"},
		Switch: func(ctx string) (bool, error) {
			changed := f.current != ctx
			f.current = ctx
			if changed {
				f.w.add("switch to %s", ctx)
			}
			return changed, nil
		},
		Out: &f.out, ErrOut: &f.errOut,
	}
}

func TestAMigrationStopsSwitchesStartsThenMovesTheJobs(t *testing.T) {
	f := newFixture()
	res, err := Run(context.Background(), f.plan())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"old: stop web",
		"switch to toolforge",
		"new: start web php8.2 mem 1Gi",
		"new: apply job backup (created)",
		"new: apply job bot (created)",
		"old: delete job backup",
		"old: delete job bot",
	}
	if strings.Join(f.w.log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(f.w.log, "\n"), strings.Join(want, "\n"))
	}
	if res.Web != "php8.2" || strings.Join(res.Jobs, ",") != "backup,bot" || !res.Switched {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(f.out.String(), `Switched to context "toolforge".`) {
		t.Fatalf("stdout %q", f.out.String())
	}
	if _, ok := f.oldJobs.jobs["done"]; !ok {
		t.Fatal("the finished one-off job did not stay behind")
	}
}

func TestWhatDoesNotFitTheNewClusterIsRefusedBeforeAnythingStops(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fixture)
		want  string
	}{
		{"the webservice's settings", func(f *fixture) {
			f.newWeb.checkErr = errors.New("--mem 1Gi is more than the maximum 512Mi allowed for a container")
		}, "maximum 512Mi"},
		{"a job's definition", func(f *fixture) {
			f.newJobs.checkErr = map[string]error{"bot": errors.New("--image: unknown image python3.11")}
		}, "job 'bot': --image"},
		{"a job of the same name with another definition there", func(f *fixture) {
			f.newJobs.jobs["backup"] = jobs.Info{Job: jobs.Job{Name: "backup", Command: "other", Image: "bookworm", Schedule: "@daily"}}
		}, "another definition"},
		{"everything together against the quota", func(f *fixture) {
			f.quota = &corev1.ResourceQuota{
				ObjectMeta: metav1.ObjectMeta{Name: "tool-demo", Namespace: "tool-demo"},
				Status: corev1.ResourceQuotaStatus{
					Hard: corev1.ResourceList{"limits.memory": resource.MustParse("2Gi")},
					Used: corev1.ResourceList{"limits.memory": resource.MustParse("512Mi")},
				},
			}
		}, "limits.memory: the webservice 1Gi + job 'bot' 1Gi ask for 2Gi in all, but the quota allows 2Gi and 512Mi of it is in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.setup(f)
			_, err := Run(context.Background(), f.plan())
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
			if len(f.w.log) > 0 || f.current != "default" {
				t.Fatalf("changed before refusing: %v, context %s", f.w.log, f.current)
			}
		})
	}
}

func TestAFailedStepPutsEverythingBack(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fixture)
		want  []string
	}{
		{"the new cluster refuses the webservice's start", func(f *fixture) {
			f.newWeb.startErr = errors.New("admission denied the deployment")
		}, []string{
			"old: stop web",
			"switch to toolforge",
			"switch to default",
			"old: start web php8.2 mem 1Gi",
		}},
		{"a job's create fails", func(f *fixture) {
			f.newJobs.applyErr = map[string]error{"bot": errors.New("quota exceeded")}
		}, []string{
			"old: stop web",
			"switch to toolforge",
			"new: start web php8.2 mem 1Gi",
			"new: apply job backup (created)",
			"new: delete job backup",
			"new: stop web",
			"switch to default",
			"old: start web php8.2 mem 1Gi",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.setup(f)
			_, err := Run(context.Background(), f.plan())
			if err == nil || !strings.Contains(err.Error(), "everything runs on default again") {
				t.Fatalf("err = %v", err)
			}
			if strings.Join(f.w.log, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(f.w.log, "\n"), strings.Join(tc.want, "\n"))
			}
			if f.current != "default" || f.oldWeb.running == nil || len(f.oldJobs.jobs) != 3 || len(f.newJobs.jobs) != 0 {
				t.Fatalf("not back as it was: context %s, old web %v, old jobs %d, new jobs %d", f.current, f.oldWeb.running, len(f.oldJobs.jobs), len(f.newJobs.jobs))
			}
		})
	}
}

func TestARunningOneOffJobStaysAndIsSaidToStay(t *testing.T) {
	f := newFixture()
	f.oldJobs.jobs["once"] = jobs.Info{Job: jobs.Job{Name: "once", Command: "./x", Image: "bookworm"}, StatusShort: jobs.StatusRunning}
	res, err := Run(context.Background(), f.plan())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Stayed, ",") != "once" || !strings.Contains(f.errOut.String(), "Job 'once' is a one-off job still running on default; it stays there") {
		t.Fatalf("stayed %v, stderr %q", res.Stayed, f.errOut.String())
	}
	if _, ok := f.newJobs.jobs["once"]; ok {
		t.Fatal("a running one-off job was started again on the new cluster")
	}
}

func TestNothingToMoveSwitchesOnlyWhenAskedTo(t *testing.T) {
	for _, idle := range []bool{false, true} {
		f := newFixture()
		f.oldWeb.running = nil
		f.oldJobs.jobs = map[string]jobs.Info{}
		p := f.plan()
		p.SwitchIdle = idle
		res, err := Run(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Nothing() || res.Switched != idle || (f.current == "toolforge") != idle {
			t.Fatalf("SwitchIdle %v: result %+v, context %s", idle, res, f.current)
		}
	}
}

func TestASecondMigrationFindsTheJobsThereAlreadyAndOnlyDeletesTheOldOnes(t *testing.T) {
	f := newFixture()
	f.oldWeb.running = nil
	f.newJobs.jobs["backup"] = f.oldJobs.jobs["backup"] // a migration interrupted after its creates
	if _, err := Run(context.Background(), f.plan()); err != nil {
		t.Fatal(err)
	}
	want := "switch to toolforge\nnew: apply job backup (unchanged)\nnew: apply job bot (created)\nold: delete job backup\nold: delete job bot"
	if got := strings.Join(f.w.log, "\n"); got != want {
		t.Fatalf("steps:\n%s", got)
	}
}

func TestAnUndoStepOnAClusterThatStoppedAnsweringIsBoundedAndNamedWithItsFix(t *testing.T) {
	for _, deaf := range []bool{false, true} {
		name := "a call that ends with its context"
		if deaf {
			name = "a call that never returns"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			f.oldWeb.deaf, f.oldWeb.release = deaf, make(chan struct{})
			defer close(f.oldWeb.release)
			// The old cluster stops answering while the new one refuses the start.
			f.newWeb.onStart = func() { f.oldWeb.gone = true }
			f.newWeb.startErr = errors.New("admission denied the deployment")
			p := f.plan()
			p.UndoTimeout = 200 * time.Millisecond
			start := time.Now()
			_, err := Run(context.Background(), p)
			took := time.Since(start)
			// One step hangs: its deadline, and at most as long again for a
			// call that does not heed it.
			if took > 2*p.UndoTimeout+time.Second {
				t.Fatalf("undo took %s", took)
			}
			var undoErr *UndoError
			if !errors.As(err, &undoErr) || len(undoErr.Left) != 1 {
				t.Fatalf("err = %v, want one step left undone", err)
			}
			msg := err.Error()
			for _, want := range []string{
				"start the webservice on toolforge: admission denied the deployment",
				"putting everything back on default failed",
				"the webservice does not run on default (no answer within 200ms",
				"start it there: `webservice --cpu 500m --mem 1Gi --replicas 1 php8.2 start` with default as your current context",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			// What could be undone was.
			if f.current != "default" {
				t.Errorf("current context %s, want default again", f.current)
			}
		})
	}
}

func TestAJobThatCannotBePutBackOnTheOldClusterIsKeptOnTheNewOne(t *testing.T) {
	f := newFixture()
	// The first delete works, then the old cluster stops answering.
	f.oldJobs.deleteErr = map[string]error{"bot": errors.New("connection reset")}
	p := f.plan()
	p.UndoTimeout = 100 * time.Millisecond
	_, err := Run(context.Background(), p)
	var undoErr *UndoError
	if !errors.As(err, &undoErr) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := f.newJobs.jobs["backup"]; !ok {
		t.Fatal("job backup, gone from the old cluster, was deleted from the new one too")
	}
	if _, ok := f.newJobs.jobs["bot"]; ok {
		t.Error("job bot, still on the old cluster, was left on the new one")
	}
	if !strings.Contains(err.Error(), "job 'backup' was not created on default again; it is kept on toolforge") ||
		!strings.Contains(err.Error(), "`toolforge jobs migrate --to default`") {
		t.Errorf("error:\n%v", err)
	}
}
