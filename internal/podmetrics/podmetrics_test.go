package podmetrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestReadSumsThePodsContainersAndSaysWhenThereIsNoMetricsAPI(t *testing.T) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/metrics.k8s.io/v1beta1/namespaces/tool-a/pods" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.Query().Get("labelSelector")
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "only JSON here", http.StatusNotAcceptable)
			return
		}
		_, _ = w.Write([]byte(`{"items":[
			{"containers":[{"usage":{"cpu":"2500000n","memory":"20Mi"}}]},
			{"containers":[{"usage":{"cpu":"1m","memory":"10Mi"}},{"usage":{"cpu":"1m","memory":"2Mi"}}]}]}`))
	}))
	defer srv.Close()
	// A client that prefers protobuf, as the API server's are.
	kube := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{
		ContentType: "application/vnd.kubernetes.protobuf", AcceptContentTypes: "application/vnd.kubernetes.protobuf,application/json"}})
	u, ok, err := Read(context.Background(), kube.Discovery().RESTClient(), "tool-a", "app=x")
	if err != nil || !ok || query != "app=x" || u.Pods != 2 {
		t.Fatalf("Read = %+v %v %v (selector %q)", u, ok, err, query)
	}
	if got := Describe(u, resource.MustParse("500m"), resource.MustParse("512Mi")); got != "cpu 5m of 1000m, memory 32Mi of 1024Mi" {
		t.Fatalf("Describe = %q", got)
	}
	if _, ok, err := Read(context.Background(), kube.Discovery().RESTClient(), "tool-b", "app=x"); ok || err != nil {
		t.Fatalf("without a metrics API: %v %v", ok, err)
	}
}
