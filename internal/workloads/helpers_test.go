package workloads_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podCreated is when a pod of tool was created.
func podCreated(t *testing.T, tool, pod string) time.Time {
	t.Helper()
	pd, err := cluster.Client.CoreV1().Pods("tool-"+tool).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pd.CreationTimestamp.Time
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

// runningPods are the running, not terminating, pods of a tool's job.
func runningPods(t *testing.T, tool, job string) ([]string, error) {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods("tool-"+tool).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + job})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pd := range pods.Items {
		if pd.DeletionTimestamp == nil && pd.Status.Phase == "Running" {
			out = append(out, pd.Name)
		}
	}
	return out, nil
}
