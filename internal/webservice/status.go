package webservice

import (
	"context"

	corev1 "k8s.io/api/core/v1"

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
	return st, nil
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := l[name]; ok {
		return q.String()
	}
	return ""
}
