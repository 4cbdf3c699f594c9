package testcluster

import (
	"context"
	"strings"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var cluster *Cluster

func TestMain(m *testing.M) { Main(m, Options{Nodes: 2}, &cluster) }

func TestTheClusterServesClientGoAndKubectl(t *testing.T) {
	ctx := context.Background()
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Fatalf("client-go sees %d nodes, want 2", len(nodes.Items))
	}
	out, err := Kubectl(ctx, cluster.Kubeconfig, "get", "namespace", "kube-system", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "namespace/kube-system" {
		t.Fatalf("kubectl: %q", out)
	}
	if _, err := Kubectl(ctx, cluster.Kubeconfig, "get", "namespace", "no-such-namespace"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("a failing kubectl must report its error, got %v", err)
	}
}

func TestPIDsAreTheClustersLiveProcesses(t *testing.T) {
	pids, err := cluster.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	// the supervisor (running etcd and kwok), apiserver, controller-manager, scheduler
	if len(pids) != 4 {
		t.Fatalf("PIDs() = %v, want 4 processes", pids)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("pid %d: %v", pid, err)
		}
	}
}

func TestProvisionedToolsActInTheirOwnNamespaceOnly(t *testing.T) {
	ctx := context.Background()
	tools, err := cluster.ProvisionTools(ctx, "alpha", "beta")
	if err != nil {
		t.Fatal(err)
	}
	alpha := tools["alpha"]
	if _, err := Kubectl(ctx, alpha.Kubeconfig, "create", "configmap", "mine"); err != nil {
		t.Fatalf("a tool must be able to work in its namespace: %v", err)
	}
	if _, err := Kubectl(ctx, alpha.Kubeconfig, "get", "configmaps", "-n", tools["beta"].Namespace); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a tool must not read another tool's namespace: %v", err)
	}
	// Provisioning more tools keeps the earlier ones.
	if _, err := cluster.ProvisionTools(ctx, "gamma"); err != nil {
		t.Fatal(err)
	}
	if _, err := Kubectl(ctx, alpha.Kubeconfig, "get", "configmap", "mine"); err != nil {
		t.Fatalf("alpha lost access after gamma was provisioned: %v", err)
	}
}
