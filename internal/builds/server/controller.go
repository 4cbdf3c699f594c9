package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/toolforge-go/toolforge/internal/builder"
	"github.com/toolforge-go/toolforge/internal/builds"
	"github.com/toolforge-go/toolforge/internal/builds/v1alpha1"
)

// Reconcile runs one Build: it makes its Job (and the Secret with its
// registry token) once, follows the Job and its pod into the Build's
// status, stops a cancelled build, and, when a build ends, drops its
// token and applies retention (builds kept per tool, images per name).
// It is level-based: everything is read again each time.
func (s *Service) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var b v1alpha1.Build
	if err := s.Reader.Get(ctx, req.NamespacedName, &b); apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	} else if err != nil {
		return reconcile.Result{}, err
	}
	if b.Status.Finished() {
		return reconcile.Result{}, s.finish(ctx, &b)
	}
	st := b.Status.DeepCopy()
	var job batchv1.Job
	err := s.Reader.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Name}, &job)
	switch {
	case b.Spec.Cancelled:
		if err == nil {
			if err := s.Writer.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
				return reconcile.Result{}, err
			}
		}
		st.Phase, st.Message = v1alpha1.PhaseCancelled, "the build was cancelled"
		st.CompletionTime = ptrTime(s.now())
	case apierrors.IsNotFound(err) && st.Job == "":
		if err := s.startJob(ctx, &b); err != nil {
			st.Phase, st.Message = v1alpha1.PhaseFailed, failedMessage(b.Name, "the build could not start: "+err.Error())
			st.CompletionTime = ptrTime(s.now())
			s.Log.Error("start build", "build", b.Name, "tool", b.Spec.Tool, "err", err)
		} else {
			st.Phase, st.Job = v1alpha1.PhasePending, b.Name
			st.Image = s.ImageRef(b.Spec.Tool, b.Spec.ImageName)
			st.StartTime = ptrTime(s.now())
		}
	case apierrors.IsNotFound(err) && !s.jobGone(ctx, &b):
		// The cache has not seen the Job this controller just made: the
		// next event (the Job's own) comes back to it.
		return reconcile.Result{}, nil
	case apierrors.IsNotFound(err):
		st.Phase, st.Message = v1alpha1.PhaseFailed, "the build's Job was deleted before it ended"
		st.CompletionTime = ptrTime(s.now())
	case err != nil:
		return reconcile.Result{}, err
	default:
		if err := s.follow(ctx, &b, &job, st); err != nil {
			return reconcile.Result{}, err
		}
	}
	if !reflect.DeepEqual(*st, b.Status) {
		b.Status = *st
		if err := s.Writer.Status().Update(ctx, &b); err != nil {
			return reconcile.Result{}, fmt.Errorf("update status of build %s: %w", b.Name, err)
		}
	}
	if st.Finished() {
		return reconcile.Result{}, s.finish(ctx, &b)
	}
	return reconcile.Result{}, nil
}

// startJob mints the build's token (scoped to its own repository, and to
// pulling the bases it builds on) and
// makes its Secret and Job, both owned by the Build so that deleting the
// Build deletes them.
func (s *Service) startJob(ctx context.Context, b *v1alpha1.Build) error {
	repo := builds.Repository(b.Spec.Tool, b.Spec.ImageName)
	bases := make([]string, 0, len(s.Bases))
	for _, k := range sortedKeys(s.Bases) {
		bases = append(bases, s.Bases[k])
	}
	token, _, err := s.Registry.Token(ctx, PushScopes(repo, bases...))
	if err != nil {
		return fmt.Errorf("registry token: %w", err)
	}
	hasSecret := token != "" || len(s.CABundle) > 0
	if hasSecret {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: tokenSecret(b), Namespace: b.Namespace, Labels: map[string]string{v1alpha1.LabelTool: b.Spec.Tool, v1alpha1.LabelBuild: b.Name}},
			Data:       map[string][]byte{},
		}
		if token != "" {
			sec.Data[tokenKey] = []byte(token)
		}
		if len(s.CABundle) > 0 {
			sec.Data[caKey] = s.CABundle
		}
		if err := controllerutil.SetControllerReference(b, sec, s.Writer.Scheme()); err != nil {
			return err
		}
		if err := s.Writer.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the token's Secret: %w", err)
		}
	}
	job := s.job(b, hasSecret)
	if err := controllerutil.SetControllerReference(b, job, s.Writer.Scheme()); err != nil {
		return err
	}
	if err := s.Writer.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the Job: %w", err)
	}
	return nil
}

// follow reads the Job and its pod into st.
func (s *Service) follow(ctx context.Context, b *v1alpha1.Build, job *batchv1.Job, st *v1alpha1.BuildStatus) error {
	pod, err := s.pod(ctx, b.Name)
	if err != nil {
		return err
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			res, err := result(pod)
			if err != nil {
				st.Phase, st.Message = v1alpha1.PhaseFailed, failedMessage(b.Name, "the build's result cannot be read: "+err.Error())
			} else {
				st.Phase, st.Digest, st.Size = v1alpha1.PhaseSucceeded, res.Digest, res.Size
				st.Message = fmt.Sprintf("Built a %s app from commit %s", res.Language, shortCommit(res.Commit))
				if len(res.Reused) > 0 {
					st.Message += " (reused: " + strings.Join(res.Reused, ", ") + ")"
				}
			}
			st.CompletionTime = ptrTime(endTime(job, c))
			return nil
		case batchv1.JobFailed:
			if c.Reason == batchv1.JobReasonDeadlineExceeded {
				st.Phase, st.Message = v1alpha1.PhaseTimedOut, failedMessage(b.Name, fmt.Sprintf("the build did not finish within %s", s.Timeout))
			} else {
				st.Phase, st.Message = v1alpha1.PhaseFailed, failedMessage(b.Name, failureCause(pod))
			}
			st.CompletionTime = ptrTime(endTime(job, c))
			return nil
		}
	}
	if pod == nil {
		return nil
	}
	// The builder's exit with its result is the build's end: the Job's
	// own Complete condition follows a moment later, and users wait.
	if res, err := result(pod); err == nil && builderSucceeded(pod) {
		st.Phase, st.Digest, st.Size = v1alpha1.PhaseSucceeded, res.Digest, res.Size
		st.Message = fmt.Sprintf("Built a %s app from commit %s", res.Language, shortCommit(res.Commit))
		if len(res.Reused) > 0 {
			st.Message += " (reused: " + strings.Join(res.Reused, ", ") + ")"
		}
		st.CompletionTime = ptrTime(s.now())
		return nil
	}
	st.Phase, st.Message = v1alpha1.PhasePending, waitingReason(pod)
	if pod.Status.Phase == corev1.PodRunning {
		st.Phase, st.Message = v1alpha1.PhaseRunning, "the build is running"
	}
	return nil
}

// pod is the newest pod of build id (uncached reads would be needed only
// once per build; the cache holds the build namespace's pods).
func (s *Service) pod(ctx context.Context, id string) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := s.Reader.List(ctx, &pods, client.InNamespace(v1alpha1.Namespace), client.MatchingLabels{v1alpha1.LabelBuild: id}); err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	return &pods.Items[0], nil
}

// result is what the builder wrote as its container's termination
// message.
func result(pod *corev1.Pod) (*builder.Result, error) {
	msg := terminationMessage(pod)
	if msg == "" {
		return nil, errors.New("the build pod left no result")
	}
	var r builder.Result
	if err := json.Unmarshal([]byte(msg), &r); err != nil || r.Digest == "" {
		return nil, fmt.Errorf("the build pod's result %q is not the builder's", msg)
	}
	return &r, nil
}

// builderSucceeded says the build container exited 0.
func builderSucceeded(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == BuildContainer && cs.State.Terminated != nil {
			return cs.State.Terminated.ExitCode == 0
		}
	}
	return false
}

func terminationMessage(pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == BuildContainer && cs.State.Terminated != nil {
			return cs.State.Terminated.Message
		}
	}
	return ""
}

// failureCause is why a build pod failed: the builder's own error, or
// what Kubernetes says.
func failureCause(pod *corev1.Pod) string {
	var e struct {
		Error string `json:"error"`
	}
	if msg := terminationMessage(pod); msg != "" {
		if json.Unmarshal([]byte(msg), &e) == nil && e.Error != "" {
			return e.Error
		}
	}
	if pod != nil {
		for _, cs := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				return fmt.Sprintf("container %s exited with %d (%s)", cs.Name, t.ExitCode, t.Reason)
			}
		}
	}
	return "the build failed"
}

// waitingReason says why a pending build pod is not running yet.
func waitingReason(pod *corev1.Pod) string {
	for _, cs := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" && w.Reason != "ContainerCreating" {
			return fmt.Sprintf("waiting: %s %s", w.Reason, w.Message)
		}
	}
	return "waiting for the build to start"
}

func endTime(job *batchv1.Job, c batchv1.JobCondition) time.Time {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time
	}
	return c.LastTransitionTime.Time
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// finish drops a finished build's token and applies retention.
func (s *Service) finish(ctx context.Context, b *v1alpha1.Build) error {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tokenSecret(b), Namespace: b.Namespace}}
	if err := s.Writer.Delete(ctx, sec); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := s.retainBuilds(ctx, b.Spec.Tool); err != nil {
		return err
	}
	if b.Status.Phase == v1alpha1.PhaseSucceeded {
		if err := s.retainImages(ctx, builds.Repository(b.Spec.Tool, b.Spec.ImageName)); err != nil {
			s.Log.Error("image retention", "tool", b.Spec.Tool, "err", err)
		}
	}
	return nil
}

// retainBuilds keeps the tool's running builds, its newest KeepSucceeded
// successful and KeepFailed unsuccessful ones, and deletes the others
// (their Jobs and pods, and so their logs, go with them).
func (s *Service) retainBuilds(ctx context.Context, tool string) error {
	all, err := s.list(ctx, tool)
	if err != nil {
		return err
	}
	ok, failed := 0, 0
	for i := range all {
		b := &all[i]
		switch {
		case !b.Status.Finished():
			continue
		case b.Status.Phase == v1alpha1.PhaseSucceeded:
			ok++
			if ok <= KeepSucceeded {
				continue
			}
		default:
			failed++
			if failed <= KeepFailed {
				continue
			}
		}
		if err := s.Writer.Delete(ctx, b, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		s.Log.Info("deleted an old build (retention)", "tool", tool, "build", b.Name, "phase", b.Status.Phase)
	}
	return nil
}

// jobGone says the build's Job is gone from the API server itself, not
// only from the cache, which may lag behind the Job's creation.
func (s *Service) jobGone(ctx context.Context, b *v1alpha1.Build) bool {
	var job batchv1.Job
	err := s.Writer.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Name}, &job)
	return apierrors.IsNotFound(err)
}

// BuildOf maps a Job, pod or Secret of a build to its Build.
func BuildOf(obj client.Object) []reconcile.Request {
	id := obj.GetLabels()[v1alpha1.LabelBuild]
	if id == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: v1alpha1.Namespace, Name: id}}}
}
