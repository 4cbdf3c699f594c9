package inventory

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func metricsAPI(t *testing.T, h http.HandlerFunc) rest.Interface {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	return kube.Discovery().RESTClient()
}

func TestUsageIsSummedOverTheNodesTheMetricsAPIReports(t *testing.T) {
	c := metricsAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodeMetricsPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[
			{"metadata":{"name":"a"},"usage":{"cpu":"1500m","memory":"1Gi"}},
			{"metadata":{"name":"b"},"usage":{"cpu":"250m","memory":"512Mi"}}]}`))
	})
	u, ok, err := readUsage(context.Background(), c)
	if err != nil || !ok || u.CPU != 1.75 || u.Memory != 1.5*1024*1024*1024 {
		t.Fatalf("usage = %+v %v %v", u, ok, err)
	}
}

func TestAClusterWithoutAMetricsAPIHasNoUsage(t *testing.T) {
	c := metricsAPI(t, http.NotFound)
	if u, ok, err := readUsage(context.Background(), c); err != nil || ok {
		t.Fatalf("usage = %+v %v %v, want none and no error", u, ok, err)
	}
}
