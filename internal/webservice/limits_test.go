package webservice

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/accounts/quota"
)

// defaultLimits are what the accounts controller gives every tool.
func defaultLimits() Limits {
	lr := quota.DefaultLimitRange()
	return Limits{
		LimitRanges: []corev1.LimitRange{{
			ObjectMeta: metav1.ObjectMeta{Name: "tool-t"},
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type: corev1.LimitTypeContainer, Default: lr.Default, DefaultRequest: lr.DefaultRequest, Max: lr.Max, Min: lr.Min,
			}}},
		}},
		Quotas: []corev1.ResourceQuota{{
			ObjectMeta: metav1.ObjectMeta{Name: "tool-t"},
			Spec:       corev1.ResourceQuotaSpec{Hard: quota.DefaultQuota()},
		}},
	}
}

func mustResolve(t *testing.T, c Choices) Settings {
	t.Helper()
	s, err := Resolve(FlagSource(c))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckAgainstTheDefaultLimits(t *testing.T) {
	cases := []struct {
		name    string
		flags   Choices
		wantErr []string
	}{
		{"the defaults fit", Choices{}, nil},
		{"the LimitRange maximum itself fits", Choices{CPU: "1", Mem: "4Gi"}, nil},
		{"memory above the maximum is refused with the maximum", Choices{Mem: "5Gi"}, []string{"--mem 5Gi", "maximum 4Gi", "LimitRange tool-t"}},
		{"CPU above the maximum is refused with the maximum", Choices{CPU: "1500m"}, []string{"--cpu 1500m", "maximum 1"}},
		{"memory below the minimum is refused with the minimum", Choices{Mem: "64Mi"}, []string{"--mem 64Mi", "minimum 100Mi"}},
		{"more replicas than the quota's pods are refused", Choices{Replicas: "5"}, []string{"--replicas 5", "4 pods", "ResourceQuota tool-t"}},
		{"replicas whose memory together exceeds the quota are refused", Choices{Replicas: "3", Mem: "4Gi"},
			[]string{"3 replica(s)", "--mem 4Gi", "12Gi", "limits.memory", "8Gi"}},
		{"replicas whose CPU together exceeds the quota are refused", Choices{Replicas: "3", CPU: "1"},
			[]string{"3 replica(s)", "--cpu 1", "limits.cpu"}},
		{"four small replicas fit", Choices{Replicas: "4", CPU: "250m", Mem: "256Mi"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := defaultLimits().Check(mustResolve(t, tc.flags))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNoLimitsAcceptEverything(t *testing.T) {
	if err := (Limits{}).Check(mustResolve(t, Choices{Mem: "64Gi", CPU: "16", Replicas: "10"})); err != nil {
		t.Fatal(err)
	}
}

func TestResources(t *testing.T) {
	cases := []struct {
		name            string
		limits          Limits
		flags           Choices
		wantReqCPU      string
		wantReqMem      string
		wantLim, wantLM string
	}{
		{"requests are half the limits", defaultLimits(), Choices{}, "250m", "256Mi", "500m", "512Mi"},
		{"requests are raised to the LimitRange minimum", defaultLimits(), Choices{CPU: "60m", Mem: "150Mi"}, "50m", "100Mi", "60m", "150Mi"},
		{"without a LimitRange requests are still half", Limits{}, Choices{CPU: "1", Mem: "1Gi"}, "500m", "512Mi", "1", "1Gi"},
		{"a limit/request ratio raises requests", Limits{LimitRanges: []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:                 corev1.LimitTypeContainer,
			MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1.25"), corev1.ResourceMemory: resource.MustParse("1")},
		}}}}}}, Choices{CPU: "1", Mem: "1Gi"}, "800m", "1Gi", "1", "1Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.limits.Resources(mustResolve(t, tc.flags))
			got := []string{r.Requests.Cpu().String(), r.Requests.Memory().String(), r.Limits.Cpu().String(), r.Limits.Memory().String()}
			want := []string{tc.wantReqCPU, tc.wantReqMem, tc.wantLim, tc.wantLM}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("requests cpu/mem, limits cpu/mem = %v, want %v", got, want)
					break
				}
			}
		})
	}
}
