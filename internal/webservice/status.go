package webservice

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/toolforge-go/toolforge/internal/podmetrics"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Status is a tool's web service as the cluster runs it.
type Status struct {
	Running       bool   `json:"running"`
	Type          string `json:"type,omitempty"`
	Replicas      int32  `json:"replicas,omitempty"`
	ReadyReplicas int32  `json:"readyReplicas,omitempty"`
	CPU           string `json:"cpu,omitempty"`
	Mem           string `json:"mem,omitempty"`
	URL           string `json:"url,omitempty"`
	// Usage is what its pods use against their limits, where the cluster
	// serves the metrics API (e.g. "cpu 3m of 500m, memory 21Mi of 512Mi").
	Usage string `json:"usage,omitempty"`
}

// Line is the status line scripts read.
func (s Status) Line() string {
	if !s.Running {
		return NotRunningLine
	}
	return RunningLine(s.Type)
}

// Status reads the web service from the cluster (not the manifest, which
// the tool can edit and which a kubectl delete does not update).
func (c *Client) Status(ctx context.Context) (Status, error) {
	cur, err := c.current(ctx)
	if err != nil {
		return Status{}, err
	}
	if !cur.running() {
		return Status{}, nil
	}
	d := cur.dep
	st := Status{Running: true, Type: d.Annotations[TypeAnnotation], ReadyReplicas: d.Status.ReadyReplicas}
	if d.Spec.Replicas != nil {
		st.Replicas = *d.Spec.Replicas
	}
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if ctr.Name == ContainerName {
			st.CPU = quantity(ctr.Resources.Limits, corev1.ResourceCPU)
			st.Mem = quantity(ctr.Resources.Limits, corev1.ResourceMemory)
		}
	}
	if cur.ing != nil && managed(cur.ing.Labels) && len(cur.ing.Spec.Rules) > 0 {
		st.URL = tenancy.WebURL(c.WebURL, cur.ing.Spec.Rules[0].Host)
	}
	st.Usage = c.usage(ctx, d)
	return st, nil
}

// usage reads what the web service's pods use; "" when the cluster does
// not say (no metrics API, pods not measured yet): status still reports.
func (c *Client) usage(ctx context.Context, d *appsv1.Deployment) string {
	u, ok, err := podmetrics.Read(ctx, c.Kube.Discovery().RESTClient(), c.Namespace, c.podSelector())
	if err != nil || !ok {
		return ""
	}
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if ctr.Name == ContainerName {
			return podmetrics.Describe(u, ctr.Resources.Limits[corev1.ResourceCPU], ctr.Resources.Limits[corev1.ResourceMemory])
		}
	}
	return podmetrics.Describe(u, resource.Quantity{}, resource.Quantity{})
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}
