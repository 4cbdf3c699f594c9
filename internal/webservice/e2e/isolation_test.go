package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolforge-go/toolforge/internal/testcluster"
)

// Another tool, with its own certificate, tries to see and stop a tool's
// web service: through the CLI (which acts in the namespace its
// certificate names, whatever its kubeconfig says) and through kubectl.
func TestAnotherToolCannotSeeOrStopTheWebservice(t *testing.T) {
	t.Parallel()
	tools, _, webservice := env(t)
	owner, intruder := tools["ws-owner"], tools["ws-intruder"]
	mustRun(t, owner, "Starting webservice\n", webservice, "python3.11", "start")

	mustRun(t, intruder, "webservice is not running\n", webservice, "status")
	mustRun(t, intruder, "", webservice, "stop")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "deployments", "-n", owner.Namespace},
		{"get", "ingress", owner.Name, "-n", owner.Namespace},
		{"delete", "deployment", owner.Name, "-n", owner.Namespace},
		{"delete", "service", owner.Name, "-n", owner.Namespace},
		{"scale", "deployment", owner.Name, "--replicas", "0", "-n", owner.Namespace},
	} {
		out, err := testcluster.Kubectl(ctx, intruder.Kubeconfig, args...)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "forbidden") {
			t.Errorf("intruder: kubectl %v: %q, %v; want Forbidden", args, out, err)
		}
	}

	// Pointing its own kubeconfig at the owner's namespace changes nothing.
	if _, err := testcluster.Kubectl(ctx, intruder.Kubeconfig, "config", "set-context", "toolforge", "--namespace", owner.Namespace); err != nil {
		t.Fatal(err)
	}
	mustRun(t, intruder, "webservice is not running\n", webservice, "status")
	mustRun(t, intruder, "", webservice, "stop")

	o := objects(t, owner)
	if o.dep == nil || o.svc == nil || o.ing == nil || o.dep.DeletionTimestamp != nil {
		t.Fatal("the intruder's attempts removed the owner's web service")
	}
	if dep, err := cluster.Client.AppsV1().Deployments(owner.Namespace).Get(ctx, owner.Name, metav1.GetOptions{}); err != nil || *dep.Spec.Replicas != 1 {
		t.Fatalf("owner's deployment changed: %v", err)
	}
	mustRun(t, owner, "webservice of type python3.11 is running\n", webservice, "status")
	mustRun(t, owner, "Stopping webservice\n", webservice, "stop")
}
