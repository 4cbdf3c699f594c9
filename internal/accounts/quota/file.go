package quota

import (
	"fmt"
	"maps"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/toolforge-go/toolforge/internal/toolquota"
)

// DefaultQuota is every tool's ResourceQuota unless the quotas file says
// otherwise (the values of the seeds and SPEC §4).
func DefaultQuota() corev1.ResourceList {
	return parseList(map[string]string{
		"requests.cpu":           "2",
		"requests.memory":        "6Gi",
		"limits.cpu":             "2",
		"limits.memory":          "8Gi",
		"pods":                   "4",
		"services":               "1",
		"services.nodeports":     "0",
		"replicationcontrollers": "1",
		"secrets":                "10",
		"configmaps":             "10",
		"persistentvolumeclaims": "3",
		"count/cronjobs.batch":   "50",
		"count/jobs.batch":       "15",
		"count/deployments.apps": "3",
	})
}

// LimitRange is the per-container defaults and bounds of a tool.
type LimitRange struct {
	Default        corev1.ResourceList `json:"default,omitempty"`
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
	Max            corev1.ResourceList `json:"max,omitempty"`
	Min            corev1.ResourceList `json:"min,omitempty"`
}

// DefaultLimitRange is every tool's container LimitRange by default.
func DefaultLimitRange() LimitRange {
	return LimitRange{
		Default:        parseList(map[string]string{"cpu": "500m", "memory": "512Mi"}),
		DefaultRequest: parseList(map[string]string{"cpu": "150m", "memory": "256Mi"}),
		Max:            parseList(map[string]string{"cpu": "1", "memory": "4Gi"}),
		Min:            parseList(map[string]string{"cpu": "50m", "memory": "100Mi"}),
	}
}

func parseList(m map[string]string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range m {
		out[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

// Limits are a tool's quota and limit range.
type Limits struct {
	Quota      corev1.ResourceList
	LimitRange LimitRange
}

// Quotas resolves each tool's limits: the defaults, with the keys a quotas
// file sets (for all tools, then per tool) replaced.
//
//	defaults:                       # optional, applies to every tool
//	  quota: {pods: "6"}
//	  limitRange: {max: {memory: 6Gi}}
//	tools:
//	  bigtool:
//	    quota: {requests.cpu: "4", limits.cpu: "4"}
//	    limitRange: {max: {cpu: "2"}}
type Quotas struct {
	defaults Limits
	tools    map[string]quotasEntry
}

type quotasEntry struct {
	Quota      corev1.ResourceList `json:"quota,omitempty"`
	LimitRange LimitRange          `json:"limitRange,omitempty"`
}

type quotasFile struct {
	Defaults quotasEntry            `json:"defaults,omitempty"`
	Tools    map[string]quotasEntry `json:"tools,omitempty"`
}

// DefaultQuotas are the built-in limits for every tool.
func DefaultQuotas() *Quotas {
	return &Quotas{defaults: Limits{Quota: DefaultQuota(), LimitRange: DefaultLimitRange()}}
}

// LoadQuotas reads a quotas file; an empty path gives the defaults.
func LoadQuotas(path string) (*Quotas, error) {
	q := DefaultQuotas()
	if path == "" {
		return q, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read quotas file: %w", err)
	}
	var f quotasFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse quotas file %s: %w", path, err)
	}
	if err := validateEntry("defaults", f.Defaults); err != nil {
		return nil, fmt.Errorf("quotas file %s: %w", path, err)
	}
	for tool, e := range f.Tools {
		if err := validateEntry("tools."+tool, e); err != nil {
			return nil, fmt.Errorf("quotas file %s: %w", path, err)
		}
	}
	q.defaults = overlay(q.defaults, f.Defaults)
	q.tools = f.Tools
	return q, nil
}

// For returns the limits of tool, a copy the caller may change.
func (q *Quotas) For(tool string) Limits {
	return overlay(q.defaults, q.tools[tool])
}

func overlay(base Limits, e quotasEntry) Limits {
	out := Limits{
		Quota: maps.Clone(base.Quota),
		LimitRange: LimitRange{
			Default:        maps.Clone(base.LimitRange.Default),
			DefaultRequest: maps.Clone(base.LimitRange.DefaultRequest),
			Max:            maps.Clone(base.LimitRange.Max),
			Min:            maps.Clone(base.LimitRange.Min),
		},
	}
	maps.Copy(out.Quota, e.Quota)
	maps.Copy(out.LimitRange.Default, e.LimitRange.Default)
	maps.Copy(out.LimitRange.DefaultRequest, e.LimitRange.DefaultRequest)
	maps.Copy(out.LimitRange.Max, e.LimitRange.Max)
	maps.Copy(out.LimitRange.Min, e.LimitRange.Min)
	return out
}

func validateEntry(where string, e quotasEntry) error {
	for k := range e.Quota {
		if err := toolquota.ValidateKey(string(k)); err != nil {
			return fmt.Errorf("%s.quota: %w", where, err)
		}
	}
	for field, list := range map[string]corev1.ResourceList{
		"default": e.LimitRange.Default, "defaultRequest": e.LimitRange.DefaultRequest,
		"max": e.LimitRange.Max, "min": e.LimitRange.Min,
	} {
		for k := range list {
			if k != corev1.ResourceCPU && k != corev1.ResourceMemory && k != corev1.ResourceEphemeralStorage {
				return fmt.Errorf("%s.limitRange.%s: unknown resource %q (cpu, memory or ephemeral-storage)", where, field, k)
			}
		}
	}
	return nil
}
