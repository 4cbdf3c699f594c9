package e2e

import (
	"context"
	b64 "encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runScript runs a Python script in a pod of a catalogue image on the real
// node (pulled anonymously by the node's containerd, through the
// registry's token challenge), as a tool's job would, and decodes the JSON
// it prints.
func runScript(t *testing.T, ns, pod, script string, args []string, into any) {
	t.Helper()
	argv, _ := json.Marshal(append([]string{"python3", "-c", script}, args...))
	realPod(t, ns, pod, fmt.Sprintf(`  containers:
  - name: main
    image: %s
    command: %s
`, pythonImage, argv))
	p := podPhase(t, ns, pod, imageTimeout, corev1.PodSucceeded, corev1.PodFailed)
	logs, err := kubectl(t, shared.kubeconfig, "logs", "-n", ns, pod)
	if p.Status.Phase != corev1.PodSucceeded || err != nil {
		t.Fatalf("pod %s/%s %s (%s): %v\n%s", ns, pod, p.Status.Phase, containerState(p), err, logs)
	}
	if err := json.Unmarshal([]byte(logs), into); err != nil {
		t.Fatalf("pod %s/%s printed %q: %v", ns, pod, logs, err)
	}
}

// attackScript does, from inside a pod, what a tool would do to replace a
// catalogue image: upload a blob, put a manifest, delete the manifest,
// each without a token and with the token the token service gives anyone
// who asks for push.
const attackScript = `
import base64, json, sys, urllib.request, urllib.error
reg, repo = sys.argv[1], sys.argv[2]
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"
def call(method, path, token=None, body=None, ctype=None):
    req = urllib.request.Request("http://" + reg + path, data=body, method=method)
    req.add_header("Accept", ACCEPT)
    if ctype: req.add_header("Content-Type", ctype)
    if token: req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r: return r.status, dict(r.headers)
    except urllib.error.HTTPError as e: return e.code, dict(e.headers)
with urllib.request.urlopen("http://%s/token?service=devcluster-registry&scope=repository:%s:push,pull,delete" % (reg, repo), timeout=20) as r:
    tok = json.load(r)["token"]
claims = tok.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
pulled, headers = call("GET", "/v2/%s/manifests/latest" % repo, tok)
digest = headers.get("Docker-Content-Digest", "sha256:" + "0" * 64)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "1" * 64, "size": 2}, "layers": []}).encode()
out = {"access": claims["access"], "pull": pulled, "writes": {}}
for label, token in (("no token", None), ("anonymous push token", tok)):
    out["writes"][label] = {
        "POST blobs/uploads/": call("POST", "/v2/%s/blobs/uploads/" % repo, token, b"")[0],
        "PUT manifests/latest": call("PUT", "/v2/%s/manifests/latest" % repo, token, manifest, "application/vnd.oci.image.manifest.v1+json")[0],
        "DELETE manifests/<digest>": call("DELETE", "/v2/%s/manifests/%s" % (repo, digest), token)[0],
    }
print(json.dumps(out))
`

// A tool cannot replace a catalogue image that every other tool runs: from
// a pod, every write to the registry the nodes pull from is refused (401),
// and the token service gives anyone pull and nothing more.
func TestAPodCannotWriteToTheRegistryTheNodesPullFrom(t *testing.T) {
	st := readState(t, shared.dir)
	const repo = "toolforge-python311-sssd-base"
	var got struct {
		Access []struct {
			Type, Name string
			Actions    []string
		}
		Pull   int
		Writes map[string]map[string]int
	}
	runScript(t, "registry-attack", "attacker", attackScript, []string{st.RegistryGateway, repo}, &got)
	if got.Pull != http.StatusOK {
		t.Errorf("pulling the image it runs with the anonymous token: %d, want 200", got.Pull)
	}
	if len(got.Access) != 1 || got.Access[0].Name != repo || strings.Join(got.Access[0].Actions, ",") != "pull" {
		t.Errorf("the token for push,pull,delete asked anonymously grants %+v, want pull only", got.Access)
	}
	for label, writes := range got.Writes {
		for req, code := range writes {
			if code != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d, want 401", req, label, code)
			}
		}
	}
	if len(got.Writes) != 2 || len(got.Writes["no token"]) != 3 {
		t.Fatalf("the pod tried %v", got.Writes)
	}
	// The image is untouched: the next pod still runs it.
	pod := podPhase(t, "registry-attack", "attacker", imageTimeout, corev1.PodSucceeded)
	if pod.Status.ContainerStatuses[0].ImageID == "" {
		t.Error("no image ID")
	}
}

// A builds credential gets tokens for tools' repositories only, as the
// build service will use it (go-containerregistry: ping, exchange, push
// with the token); admin's may push anything.
func TestTheBuildsCredentialPushesToolImagesOnly(t *testing.T) {
	st := readState(t, shared.dir)
	ctx := context.Background()
	reg, err := name.NewRegistry(st.Registry, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	builds := credentials(t, st, "builds")
	challenge, err := transport.Ping(ctx, reg, http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	push := func(repo string, tok *transport.Token) error {
		ref, err := name.NewTag(st.Registry+"/"+repo+":latest", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return remote.Write(ref, img, remote.WithAuth(&authn.Bearer{Token: tok.Token}))
	}
	scoped := func(repo string) *transport.Token {
		tok, err := transport.Exchange(ctx, reg, builds, http.DefaultTransport, []string{reg.Repo(repo).Scope(transport.PushScope)}, challenge)
		if err != nil {
			t.Fatalf("token for %s: %v", repo, err)
		}
		return tok
	}
	tool := scoped("tool-e2e/web")
	if err := push("tool-e2e/web", tool); err != nil {
		t.Fatalf("builds pushing tool-e2e/web with its scoped token: %v", err)
	}
	if err := push("tool-other/web", tool); status(err) != http.StatusUnauthorized {
		t.Errorf("the token for tool-e2e/web pushing tool-other/web: %v, want 401", err)
	}
	catalogue := scoped("toolforge-python311-sssd-base")
	if access := tokenAccess(t, catalogue.Token); access != "repository:toolforge-python311-sssd-base:pull" {
		t.Errorf("builds asking to push a catalogue image got %q, want pull only", access)
	}
	if err := push("toolforge-python311-sssd-base", catalogue); status(err) != http.StatusUnauthorized {
		t.Errorf("builds pushing a catalogue image: %v, want 401", err)
	}
	admin := credentials(t, st, "admin")
	ref, _ := name.NewTag(st.Registry+"/e2e/admin-pushes:latest", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(admin)); err != nil {
		t.Errorf("admin pushing: %v", err)
	}
}

func credentials(t *testing.T, st state, who string) authn.Authenticator {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(st.RegistryCredentials, who))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user != who {
		t.Fatalf("%s credentials file: %q", who, data)
	}
	return &authn.Basic{Username: user, Password: pass}
}

func tokenAccess(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	payload, err := b64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Access []struct {
			Type, Name string
			Actions    []string
		}
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range c.Access {
		out = append(out, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	return strings.Join(out, " ")
}

func status(err error) int {
	if te, ok := err.(*transport.Error); ok {
		return te.StatusCode
	}
	return 0
}

// probeScript connects to each host:port given (TCP) and says whether it
// answered, refused or stayed silent; then checks what the reachable ones
// do for someone without credentials.
const probeScript = `
import json, socket, ssl, sys, urllib.request, urllib.error
targets, api, kubelet = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
def probe(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return "error: %s" % e
def get(url):
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r: return r.status
    except urllib.error.HTTPError as e: return e.code
out = {"tcp": {"%s:%d" % (h, p): probe(h, p) for h, p in targets}}
out["api /version"] = get("https://%s/version" % api)
out["api /api/v1/secrets"] = get("https://%s/api/v1/secrets" % api)
out["kubelet /pods"] = get("https://%s/pods" % kubelet)
out["dns kubernetes.default.svc.cluster.local"] = socket.gethostbyname("kubernetes.default.svc.cluster.local")
print(json.dumps(out))
`

// What a pod reaches of devcluster is what docs/devcluster.md ("What a pod
// reaches") says: every socket the cluster's processes listen on, on the
// host and in the nodes, read from /proc, is probed from inside a pod. Only
// the registry (5000), the API relay, CoreDNS (53), the metrics API (4443),
// the git server (8418) and the builds' egress proxy (3128) answer on the
// gateway, only the kubelet (10250) on the node's address; every other
// port refuses. The reachable ones behave as documented for a caller
// without credentials.
func TestAPodReachesOnlyTheDocumentedListeners(t *testing.T) {
	st := readState(t, shared.dir)
	apiURL, err := url.Parse(st.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	gw := st.Network.Gateway
	nodeIP := nodeAddress(t)
	documented := map[string]string{ // beyond loopback: proto address -> what it is
		"tcp " + st.RegistryGateway:                  "the registry and its token service",
		"tcp " + net.JoinHostPort(gw, apiURL.Port()): "the API relay",
		"tcp " + net.JoinHostPort(gw, "53"):          "CoreDNS",
		"udp " + net.JoinHostPort(gw, "53"):          "CoreDNS",
		"tcp " + net.JoinHostPort(nodeIP, "10250"):   "the kubelet's API",
		"tcp " + net.JoinHostPort(gw, "4443"):        "metrics-server (the aggregated metrics API)",
		"tcp " + hostPort(t, st.Git):                 "the git server",
		"tcp " + hostPort(t, st.Egress):              "the builds' egress proxy",
	}
	// kube-proxy is the last to listen, a moment after the node is Ready.
	var listeners []listener
	eventually(t, time.Minute, func(context.Context) error {
		listeners = clusterListeners(t, st.SupervisorPID)
		for _, l := range listeners {
			if l.netns == "node" && l.port == 10256 {
				return nil
			}
		}
		return fmt.Errorf("kube-proxy does not listen yet: %v", listeners)
	})
	var targets [][]any
	want := map[string]string{}
	seen := map[string]bool{}
	for _, l := range listeners {
		key := l.proto + " " + net.JoinHostPort(l.ip.String(), strconv.Itoa(l.port))
		t.Logf("%s: %s", l.netns, l)
		if !l.ip.IsLoopback() {
			if _, ok := documented[key]; !ok {
				t.Errorf("%s listens on %s beyond loopback, and docs/devcluster.md does not say so", l.comm, key)
			}
			seen[key] = true
		}
		if l.proto != "tcp" {
			continue
		}
		// Where a pod would reach it: the host's at the gateway, a node's
		// at the node's address.
		addr := gw
		if l.netns == "node" {
			addr = nodeIP
		}
		target := net.JoinHostPort(addr, strconv.Itoa(l.port))
		if _, dup := want[target]; dup {
			continue
		}
		targets = append(targets, []any{addr, l.port})
		want[target] = "refused"
		if _, ok := documented["tcp "+target]; ok {
			want[target] = "open"
		}
	}
	for key := range documented {
		if !seen[key] {
			t.Errorf("nothing listens on %s (%s)", key, documented[key])
		}
	}
	arg, _ := json.Marshal(targets)
	var got struct {
		TCP     map[string]string `json:"tcp"`
		Version int               `json:"api /version"`
		Secrets int               `json:"api /api/v1/secrets"`
		Kubelet int               `json:"kubelet /pods"`
		DNS     string            `json:"dns kubernetes.default.svc.cluster.local"`
	}
	runScript(t, "reach-test", "prober", probeScript, []string{string(arg), net.JoinHostPort(gw, apiURL.Port()), net.JoinHostPort(nodeIP, "10250")}, &got)
	for target, w := range want {
		if got.TCP[target] != w {
			t.Errorf("from a pod, %s is %q, want %s", target, got.TCP[target], w)
		}
	}
	t.Logf("from a pod: %v", got.TCP)
	if got.Version != http.StatusOK || got.Secrets != http.StatusForbidden {
		t.Errorf("the API without credentials: /version %d (want 200), secrets %d (want 403)", got.Version, got.Secrets)
	}
	if got.Kubelet != http.StatusUnauthorized {
		t.Errorf("the kubelet's /pods without a certificate: %d, want 401", got.Kubelet)
	}
	if got.DNS != "10.96.0.1" {
		t.Errorf("kubernetes.default resolves to %q in a pod, want 10.96.0.1", got.DNS)
	}
}

// hostPort is the host:port of a URL state.json records.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("state.json: %q is not a URL", raw)
	}
	return u.Host
}

func nodeAddress(t *testing.T) string {
	t.Helper()
	n, err := shared.client.CoreV1().Nodes().Get(context.Background(), "node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatal("node-1 has no internal IP")
	return ""
}
