package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/jobs"
	jobserver "github.com/toolforge-go/toolforge/internal/jobs/server"
	"github.com/toolforge-go/toolforge/internal/status/statustest"
	"github.com/toolforge-go/toolforge/internal/status/wire"
	"github.com/toolforge-go/toolforge/internal/tenancy"
	"github.com/toolforge-go/toolforge/internal/testcluster"
	"github.com/toolforge-go/toolforge/internal/webservice"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, testcluster.Options{Nodes: 2}, &cluster) }

// Values planted in tool alpha: a Secret's data, an env var's value in a
// job's pod template, the envvars Secret, and an annotation. No response
// of the status page may ever contain them.
const (
	plantedSecret     = "planted-secret-7f3a9c"
	plantedEnv        = "planted-envvar-51d2e8"
	plantedEnvvars    = "planted-envvars-0b6c4d"
	plantedAnnotation = "planted-annotation-93ae71"
)

// Payload is markup a tool controls: its job's command and its web
// service's type annotation. It must render as text.
const payload = `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`

const (
	jobsImage = "docker-registry.tools.wmflabs.org/toolforge-bookworm-sssd:latest"
	webImage  = "docker-registry.tools.wmflabs.org/toolforge-python311-sssd-web:latest"
	// publishedWebURL is the platform's web URL template in these tests.
	publishedWebURL = "http://{host}:8000/"
)

type env struct {
	tools  map[string]*testcluster.Tool
	server *statustest.Server
}

var (
	shared    env
	sharedErr error
	once      sync.Once
)

// setup provisions tools alpha (web service, a scheduled and a continuous
// job, planted secrets), beta (markup in its job's command and web service
// type) and gamma (idle), each made with the tool's own credentials, and
// starts the status page as its ServiceAccount.
func setup(t *testing.T) env {
	t.Helper()
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared, sharedErr = makeEnv(ctx)
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func makeEnv(ctx context.Context) (env, error) {
	var e env
	var err error
	if e.tools, err = cluster.ProvisionTools(ctx, "alpha", "beta", "gamma"); err != nil {
		return e, err
	}
	alpha, err := toolClient(e.tools["alpha"])
	if err != nil {
		return e, err
	}
	web := webservice.Spec{Tool: "alpha", Namespace: "tool-alpha", Domain: tenancy.DefaultDomain, Type: "python3.11", Image: webImage, Replicas: 1}
	worker, err := jobObject("alpha", &jobs.Job{Name: "worker", Command: "./worker.py --loop", Image: "bookworm", Continuous: true})
	if err != nil {
		return e, err
	}
	tmpl := &worker.(*appsv1.Deployment).Spec.Template
	tmpl.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "API_KEY", Value: plantedEnv}}
	worker.SetAnnotations(map[string]string{"note": plantedAnnotation})
	nightly, err := jobObject("alpha", &jobs.Job{Name: "nightly", Command: "./nightly.sh", Image: "bookworm", Schedule: "@daily"})
	if err != nil {
		return e, err
	}
	objs := []client.Object{
		web.Deployment(), web.Service(), web.Ingress(), worker, nightly,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: "tool-alpha"}, StringData: map[string]string{"token": plantedSecret}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tenancy.EnvvarsSecret, Namespace: "tool-alpha"}, StringData: map[string]string{"GREETING": plantedEnvvars}},
	}
	for _, o := range objs {
		if err := alpha.Create(ctx, o); err != nil {
			return e, fmt.Errorf("create %T %s as alpha: %w", o, o.GetName(), err)
		}
	}
	beta, err := toolClient(e.tools["beta"])
	if err != nil {
		return e, err
	}
	bweb := webservice.Spec{Tool: "beta", Namespace: "tool-beta", Domain: tenancy.DefaultDomain, Type: payload, Image: webImage, Replicas: 1}
	xss, err := jobObject("beta", &jobs.Job{Name: "xss", Command: payload, Image: "bookworm", Continuous: true})
	if err != nil {
		return e, err
	}
	for _, o := range []client.Object{bweb.Deployment(), bweb.Ingress(), xss} {
		if err := beta.Create(ctx, o); err != nil {
			return e, fmt.Errorf("create %T %s as beta: %w", o, o.GetName(), err)
		}
	}
	kubeconfig, err := statustest.ServiceAccountKubeconfig(ctx, cluster)
	if err != nil {
		return e, err
	}
	// What the API publishes to tools: web services answer on port 8000,
	// as under make run. The page links them where the CLI says they are.
	published := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: tenancy.APIConfigMap, Namespace: tenancy.PlatformNamespace},
		Data: map[string]string{tenancy.APIConfigWebURL: publishedWebURL}}
	if _, err := cluster.Client.CoreV1().ConfigMaps(tenancy.PlatformNamespace).Create(ctx, published, metav1.CreateOptions{}); err != nil {
		return e, err
	}
	if e.server, err = statustest.Start(ctx, cluster, kubeconfig, "toolforged-status"); err != nil {
		return e, err
	}
	// The workloads' pods run (kwok) before any test looks.
	var last string
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		a, errA := getTool(e.server.URL, "alpha")
		b, errB := getTool(e.server.URL, "beta")
		last = fmt.Sprintf("%v %v %+v %+v", errA, errB, a.Pods, b.Pods)
		return errA == nil && errB == nil && running(a) == 2 && running(b) == 2, nil
	})
	if err != nil {
		return e, fmt.Errorf("pods of alpha and beta not running after 3 minutes: %s", last)
	}
	return e, nil
}

func toolClient(t *testcluster.Tool) (client.Client, error) {
	cfg, err := t.RestConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{})
}

func jobObject(tool string, j *jobs.Job) (client.Object, error) {
	j.Normalize()
	objs, err := jobserver.Build(j, jobserver.Target{Tool: tool, UID: 50001, Image: jobsImage})
	if err != nil {
		return nil, err
	}
	return objs.Top, nil
}

func getJSON(url string, into any) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func getTool(base, name string) (wire.Tool, error) {
	var t wire.Tool
	err := getJSON(base+"/tools/"+name+"/", &t)
	return t, err
}

func running(t wire.Tool) int {
	n := 0
	for _, p := range t.Pods {
		if p.Phase == "Running" {
			n++
		}
	}
	return n
}
