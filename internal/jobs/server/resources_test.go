package server

import (
	"github.com/toolforge-go/toolforge/internal/jobs"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// toolLimits are the SPEC's default LimitRange and quota.
func toolLimits(usedMem string) Limits {
	q := resource.MustParse
	return Limits{
		LimitRange: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{"cpu": q("500m"), "memory": q("512Mi")},
			DefaultRequest: corev1.ResourceList{"cpu": q("150m"), "memory": q("256Mi")},
			Max:            corev1.ResourceList{"cpu": q("1"), "memory": q("4Gi")},
			Min:            corev1.ResourceList{"cpu": q("50m"), "memory": q("100Mi")},
		}}}},
		Quota: &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"limits.cpu": q("2"), "limits.memory": q("8Gi"), "pods": q("4"), "count/deployments.apps": q("3"), "services": q("1")},
			Used: corev1.ResourceList{"limits.cpu": q("0"), "limits.memory": q(usedMem), "pods": q("0"), "count/deployments.apps": q("3"), "services": q("0")},
		}},
	}
}

func TestCheckLimitsRefusesWhatTheToolCanNeverRun(t *testing.T) {
	cases := []struct {
		name string
		job  jobs.Job
		err  string // "" means accepted
	}{
		{"the defaults fit", jobs.Job{}, ""},
		{"the per-job maximum fits", jobs.Job{Memory: "4Gi", CPU: "1"}, ""},
		{"100Gi is over the per-job limit", jobs.Job{Memory: "100Gi"}, "--mem 100Gi is over the tool's limit of 4Gi"},
		{"2 CPUs are over the per-job limit", jobs.Job{CPU: "2"}, "--cpu 2 is over the tool's limit of 1"},
		{"10Mi is under the minimum", jobs.Job{Memory: "10Mi"}, "--mem 10Mi is below the minimum of 100Mi"},
		{"three 4Gi replicas are over the quota", jobs.Job{Continuous: true, Replicas: 3, Memory: "4Gi"}, "--mem 4Gi × 3 replicas needs 12Gi, more than the tool's quota of 8Gi"},
		{"five replicas are over the pod quota", jobs.Job{Continuous: true, Replicas: 5, Memory: "256Mi"}, "--replicas 5 is over the tool's quota of 4 pods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkLimits(&tc.job, toolLimits("0"))
			if tc.err == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCheckLimitsWarnsWhenOtherJobsUseTheQuota(t *testing.T) {
	warnings, err := checkLimits(&jobs.Job{Memory: "2Gi"}, toolLimits("7Gi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "limits.memory") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestCheckCountsRefusesAJobTheQuotaHasNoRoomFor(t *testing.T) {
	err := checkCounts(&jobs.Job{Continuous: true, Replicas: 1}, toolLimits("0"))
	if err == nil || !strings.Contains(err.Error(), "3 continuous jobs") {
		t.Fatalf("err = %v", err)
	}
	if err := checkCounts(&jobs.Job{Schedule: "@daily"}, toolLimits("0")); err != nil {
		t.Fatalf("a scheduled job has room: %v", err)
	}
}

func TestResourcesRequestHalfTheLimitButNotLessThanTheMinimum(t *testing.T) {
	rr := resources(&jobs.Job{Memory: "1Gi", CPU: "80m"}, toolLimits("0"))
	if got := rr.Requests.Memory().String(); got != "512Mi" {
		t.Errorf("memory request %s, want 512Mi", got)
	}
	if got := rr.Requests.Cpu().String(); got != "50m" {
		t.Errorf("cpu request %s, want the minimum 50m (half of 80m is below it)", got)
	}
	if got := rr.Limits.Memory().String(); got != "1Gi" {
		t.Errorf("memory limit %s", got)
	}
	if len(resources(&jobs.Job{}, toolLimits("0")).Limits) != 0 {
		t.Error("no --mem/--cpu must leave the LimitRange defaults")
	}
}
