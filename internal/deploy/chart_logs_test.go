package deploy_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The log store and its collectors are the chart's two justified
// exceptions to "replicated, unprivileged": VictoriaLogs is a single-node
// store (one replica, its data on a volume), and the collector must read
// the nodes' logs as root through hostPath (one per node, a DaemonSet).
func TestTheLogStoreAndCollectorsAreTheOnlyExceptionsAndAreFencedIn(t *testing.T) {
	objs := render(t, "")
	store := find[*appsv1.StatefulSet](objs, "toolforge-logs-store", ns)
	if store == nil {
		t.Fatal("no log store StatefulSet")
	}
	c := store.Spec.Template.Spec.Containers[0]
	if *store.Spec.Replicas != 1 || len(store.Spec.VolumeClaimTemplates) != 1 || c.ReadinessProbe == nil || c.LivenessProbe == nil ||
		!slices.Contains(c.Args, "-retentionPeriod=14d") || !slices.Contains(c.Args, "-storageDataPath=/data") {
		t.Errorf("the store: replicas %d, claims %d, args %v", *store.Spec.Replicas, len(store.Spec.VolumeClaimTemplates), c.Args)
	}
	if sc := c.SecurityContext; sc == nil || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the store is not restricted: %+v", sc)
	}
	// Only the platform's components reach it.
	np := find[*networkingv1.NetworkPolicy](objs, "toolforge-logs-store", ns)
	if np == nil || np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "logs-store" || len(np.Spec.Ingress) != 1 {
		t.Fatalf("the store's NetworkPolicy: %+v", np)
	}
	allowed := np.Spec.Ingress[0].From[0].PodSelector.MatchExpressions
	if len(allowed) != 2 || !slices.Equal(allowed[1].Values, []string{"api", "status", "logs-events", "logs-collector"}) {
		t.Errorf("the store admits %v", allowed)
	}

	ds := find[*appsv1.DaemonSet](objs, "toolforge-logs-collector", ns)
	if ds == nil || len(ds.Spec.Template.Spec.Containers) != 2 {
		t.Fatalf("the collector DaemonSet: %+v", ds)
	}
	vl, ingest := ds.Spec.Template.Spec.Containers[0], ds.Spec.Template.Spec.Containers[1]
	args := strings.Join(vl.Args, " ")
	for _, want := range []string{"-kubernetesCollector ", "-remoteWrite.url=http://127.0.0.1:9429/insert/jsonline", "-httpListenAddr=127.0.0.1:", "tool-.+|image-build", "webservice-interactive"} {
		if !strings.Contains(args, want) {
			t.Errorf("vlagent's args lack %q: %s", want, args)
		}
	}
	if sc := vl.SecurityContext; *sc.RunAsUser != 0 || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Add) > 0 || !slices.Contains(sc.Capabilities.Drop, corev1.Capability("ALL")) || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("vlagent: root without capabilities wanted: %+v", sc)
	}
	for _, m := range vl.VolumeMounts {
		if m.Name == "logs" && !m.ReadOnly {
			t.Error("the nodes' logs are mounted writable")
		}
	}
	iargs := strings.Join(ingest.Args, " ")
	for _, want := range []string{"logs-ingest ", "--logs-ingest-addr=127.0.0.1:9429", "--logs-store-url=http://toolforge-logs-store." + ns + ".svc:9428", "--logs-rate-limit=1000"} {
		if !strings.Contains(iargs, want) {
			t.Errorf("the ingestion's args lack %q: %s", want, iargs)
		}
	}
	if sc := ingest.SecurityContext; sc == nil || !*sc.RunAsNonRoot || ingest.ReadinessProbe == nil {
		t.Errorf("the ingestion is not restricted and probed: %+v", sc)
	}
	// The readers and the events writer know the store and its retention.
	for _, name := range []string{"toolforge-api", "toolforge-status", "toolforge-logs-events"} {
		d := find[*appsv1.Deployment](objs, name, ns)
		if d == nil {
			t.Errorf("no Deployment %s", name)
			continue
		}
		a := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
		if !strings.Contains(a, "--logs-store-url=http://toolforge-logs-store.") || !strings.Contains(a, "--logs-retention=336h") {
			t.Errorf("%s: %s", name, a)
		}
	}
}
